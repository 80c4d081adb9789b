"""What the cluster answers and does, as users of the Jupyter server's Kubernetes backend see it.

The real control plane (its RBAC, admission, the CRD's structural schema), the chart's operator
(harness/installed.py) and the tests' node (harness/kubelet.py); alice's Jupyter server as its own
process (harness/servers.py) with exactly the Role docs/administrators.md documents and
``connect_via = "apiserver"`` (the tests run outside the cluster), unless a test takes a right away
or chooses otherwise. What a user sees is checked: the REST API's status and message, the
terminal's close code and reason, the CloudShell as the API server stored it. The server's own
lifecycle through restarts is test_server_on_cluster.py's; the relay's mechanics against a pod's
ttyd, and the faults only an emulator stages on cue, are test_kubernetes.py's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from jupyter_cloudtty.ttyd.protocol import close_reason
from tests.harness.controlplane import ControlPlane
from tests.harness.documented import documented, grant_documented_role
from tests.harness.installed import Installed
from tests.harness.servers import JupyterProcess
from tests.harness.shells_on_cluster import call, events, kubectl_json, ready, server, shells

pytestmark = pytest.mark.slow

OWNER = "jupyter-cloudtty.io/owner"
DELETED = (4002, "the shell was deleted")
UNREACHABLE = "cannot reach the shell's terminal"


async def about(jupyter: JupyterProcess) -> dict:
    """``GET /cloudtty/api/info``: which backend, where, and why."""
    return json.loads((await jupyter.fetch("cloudtty/api/info")).body)


def stored(cluster: ControlPlane, namespace: str, name: str) -> dict:
    """The CloudShell as the API server stored it (as an admin's kubectl shows it)."""
    return kubectl_json(cluster, "get", "cloudshell", name, "-n", namespace)


def grant(cluster: ControlPlane, namespace: str, account: str, role: dict | None) -> Path:
    """A kubeconfig of a new ServiceAccount ``account`` bound to ``role`` (None: no Role at all)."""
    cluster.kubectl("create", "serviceaccount", account, "-n", namespace)
    if role is not None:
        role = {**role, "metadata": {"name": account, "namespace": namespace}}
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": role["metadata"],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        }  # fmt: skip
        items = [role, binding]
        cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return cluster.service_account_kubeconfig(namespace, account)


def no_errors(jupyter: JupyterProcess) -> None:
    """The server answered every refusal with words, never a 500 or a traceback."""
    assert "Traceback" not in jupyter.log, jupyter.log


# --- creating, under the administrator's policy -------------------------------------------


async def test_a_new_shell_is_stored_as_the_policy_says_and_a_failed_one_says_why(
    control_plane, node, namespace, tmp_path
):
    """The CloudShell that counts is the one the API server stored (the CRD's structural schema fills
    its defaults and drops what it does not know): it has the policy's image, TTL, exposure and
    labels. A taken name is refused; an image the policy allows may be chosen, and one no node can
    pull fails the shell, which says why in its status and its terminal."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    policy = {"default_image": "registry.example/shell:1", "max_ttl": 3600, "extra_labels": {"team": "data"},
              "allowed_images": ["registry.invalid/*"]}  # fmt: skip
    jupyter = server(namespace, kubeconfig, tmp_path / "root", **policy)
    # The chart's policy holds the same images (the server's is for clear answers, the chart's holds).
    values = {"policy": {"allowedImages": ["registry.example/shell:1", "registry.invalid/*"]}}
    async with Installed(cluster, namespace, tmp_path, values), jupyter:
        info = await about(jupyter)
        credentials = f"kubeconfig {kubeconfig}, context '{namespace}-cloudtty-user'"
        assert (info["backend"], info["namespace"], info["identity"]) == ("kubernetes", namespace, "alice")
        assert (info["apiServer"], info["connectVia"], info["credentials"]) == (cluster.url, "apiserver", credentials)
        assert info["reason"] == f"{credentials} at {cluster.url}"

        async with events(jupyter) as stream:
            assert await stream.next() == ("snapshot", [])
            created = await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "s1"})
            assert created.code == 201 and created.headers["Location"].endswith("/cloudtty/api/shells/s1")
            shell = json.loads(created.body)
            obj = stored(cluster, namespace, "s1")
            labels, annotations = obj["metadata"]["labels"], obj["metadata"]["annotations"]
            assert labels[OWNER] == "alice" and annotations[OWNER] == "alice" and labels["team"] == "data"
            assert obj["spec"] == {
                "commandAction": "bash",  # the CRD's default
                "image": "registry.example/shell:1",
                "ttlSecondsAfterStarted": 3600,
                "exposureMode": "ClusterIP",
            }
            assert shell["spec"] == obj["spec"] and shell["status"]["phase"] == ""  # what was stored, as stored

            taken = await call(jupyter, "POST", body={"name": "s1"})
            assert taken == (409, {"message": "a shell named 's1' already exists"})

            image = "registry.invalid/shell:1"  # allowed, but no node can pull it (harness/kubelet.py)
            status, shell = await call(jupyter, "POST", body={"name": "broken", "spec": {"image": image}})
            assert status == 201 and stored(cluster, namespace, "broken")["spec"]["image"] == image, shell
            _, failed = await stream.until(lambda e, d: e == "shell" and d["shell"]["status"]["phase"] == "Failed", 90)
        assert failed["shell"]["name"] == "broken"
        conditions = failed["shell"]["status"]["conditions"]
        [why] = [c for c in conditions if c["type"] == "Failed"]
        assert why["reason"] in ("ErrImagePull", "ImagePullBackOff") and image in why["message"], why
        assert (await call(jupyter, path="/broken"))[1]["status"]["conditions"] == conditions
        term = await jupyter.terminal("broken")
        assert await term.wait_closed() == (4000, close_reason(why["message"]))
    no_errors(jupyter)


# --- terminals, as the shell lives and goes ------------------------------------------------


async def test_a_terminal_waits_for_its_shell_and_ends_when_the_shell_is_deleted(
    control_plane, node, namespace, tmp_path
):
    """The panel opens a shell's tab at once: the terminal waits for Ready. Deleting the shell,
    through the server or with kubectl by someone else, closes its open terminal, and the event
    stream and the list say it is gone."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with Installed(cluster, namespace, tmp_path), server(namespace, kubeconfig, tmp_path / "root") as jupyter:
        async with events(jupyter) as stream:
            assert await stream.next() == ("snapshot", [])
            for name in ("mine", "theirs"):
                assert (await call(jupyter, "POST", body={"name": name}))[0] == 201
                _, added = await stream.until(lambda e, d: e == "shell" and d["type"] == "ADDED")
                assert added["shell"]["name"] == name and added["shell"]["status"]["phase"] == ""
            terms = {name: await jupyter.terminal(name) for name in ("mine", "theirs")}  # before either is Ready
            for name, term in terms.items():
                await term.expect(rf"shell@cloudshell-{name}-\w+", timeout=90)  # the pod's prompt, once Ready
                await term.send("echo $((6*7))\r")
                await term.expect(r"\r42\r\n")

            def gone(name: str):
                return lambda e, d: e == "shell" and d["type"] == "DELETED" and d["shell"]["name"] == name

            assert (await call(jupyter, "DELETE", "/mine"))[0] == 204
            assert await terms["mine"].wait_closed() == DELETED
            await stream.until(gone("mine"))
            cluster.kubectl("delete", "cloudshell", "theirs", "-n", namespace, "--wait=false")  # as an admin would
            assert await terms["theirs"].wait_closed(30) == DELETED
            await stream.until(gone("theirs"))
        assert await shells(jupyter) == {}
    no_errors(jupyter)


async def test_a_ready_shell_s_terminal_out_of_this_server_s_reach_closes_with_why(
    control_plane, node, namespace, tmp_path
):
    """Two servers of alice's reach for one Ready shell and cannot: one by its Service's cluster DNS
    name, from outside the cluster (connect_via=service); one whose Role lacks the documented
    services/proxy rule, through the API server. The terminal closes (4005) saying why."""
    cluster = control_plane
    documented_role = grant_documented_role(cluster, namespace)
    role = documented("Role")
    role["rules"] = [rule for rule in role["rules"] if "services/proxy" not in rule["resources"]]
    no_proxy = grant(cluster, namespace, "no-proxy", role)
    async with Installed(cluster, namespace, tmp_path):
        async with server(namespace, documented_role, tmp_path / "dns", connect_via="service") as jupyter:
            assert (await call(jupyter, "POST", body={"name": "s1"}))[0] == 201
            ready(cluster, namespace, "s1")
            unresolved = "its Service's name does not resolve (outside the cluster? use connect_via 'apiserver')"
            assert await (await jupyter.terminal("s1")).wait_closed(30) == (4005, f"{UNREACHABLE}: {unresolved}")
        no_errors(jupyter)
        async with server(namespace, no_proxy, tmp_path / "proxy") as jupyter:
            forbidden = "this Jupyter server may not use services/proxy (the Role in docs/administrators.md)"
            assert await (await jupyter.terminal("s1")).wait_closed(30) == (4005, f"{UNREACHABLE}: {forbidden}")
        no_errors(jupyter)
        # The administrator's log has the API server's own words.
        assert f'User "system:serviceaccount:{namespace}:no-proxy" cannot get resource "services/proxy"' in jupyter.log


# --- what the cluster refuses ----------------------------------------------------------------


async def test_a_shell_no_operator_acts_on_gives_up_with_what_to_check(control_plane, namespace, tmp_path):
    """No operator watches the namespace (none installed, or stopped): the terminal waits
    ``ready_timeout`` seconds for a status, then says where to look."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with server(namespace, kubeconfig, tmp_path / "root", ready_timeout=2) as jupyter:
        assert (await call(jupyter, "POST", body={"name": "s1"}))[0] == 201
        term = await jupyter.terminal("s1")
        assert await term.wait_closed() == (4005, "not Ready after 2s (no status): kubectl describe cloudshell s1")
    no_errors(jupyter)


async def test_an_exceeded_quota_is_a_429_and_creates_nothing(control_plane, namespace, tmp_path):
    """A ResourceQuota on CloudShells: the API server's quota admission refuses the one too many."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    counted = "count/cloudshells.cloudshell.cloudtty.io"
    cluster.kubectl("create", "quota", "shells", f"--hard={counted}=1", "-n", namespace)
    # Admission counts against the quota once the quota controller has first written its status.
    cluster.kubectl("wait", "--for=jsonpath={.status.hard}", "resourcequota/shells", "-n", namespace, "--timeout=60s")
    async with server(namespace, kubeconfig, tmp_path / "root") as jupyter:
        assert (await call(jupyter, "POST", body={"name": "s1"}))[0] == 201
        status, answer = await call(jupyter, "POST", body={"name": "s2"})
        refused = (f'cloudshells.cloudshell.cloudtty.io "s2" is forbidden: exceeded quota: shells, requested: '
                   f"{counted}=1, used: {counted}=1, limited: {counted}=1")  # fmt: skip
        no_quota = f"namespace '{namespace}' has no quota left for another shell: {refused}"
        assert (status, answer) == (429, {"message": no_quota})
        listed = kubectl_json(cluster, "get", "cloudshells", "-n", namespace)["items"]
        assert [obj["metadata"]["name"] for obj in listed] == ["s1"]
    no_errors(jupyter)


async def test_rbac_forbidden_says_what_the_server_may_not_do(control_plane, namespace, tmp_path):
    """A ServiceAccount no Role was granted to: every request is refused, in words that name the
    right it lacks and the Role that grants it; with ``backend = "auto"`` the server goes local, saying why."""
    cluster = control_plane
    kubeconfig = grant(cluster, namespace, "nobody", None)
    user = f"system:serviceaccount:{namespace}:nobody"
    forbidden = (
        f"the cluster does not let this Jupyter server list CloudShells in namespace '{namespace}' "
        f'(cloudshells.cloudshell.cloudtty.io is forbidden: User "{user}" cannot list resource "cloudshells" in API '
        f'group "cloudshell.cloudtty.io" in the namespace "{namespace}"); its ServiceAccount needs the Role in '
        "docs/administrators.md, 'Use with a cluster'"
    )
    async with server(namespace, kubeconfig, tmp_path / "root") as jupyter:
        assert await call(jupyter) == (403, {"message": forbidden})
        assert await call(jupyter, "POST", body={"name": "s1"}) == (403, {"message": forbidden})
        assert (await about(jupyter))["apiServerError"] == forbidden  # what the panel's info shows
    no_errors(jupyter)
    async with server(namespace, kubeconfig, tmp_path / "auto", backend="auto") as jupyter:
        info = await about(jupyter)
        credentials = f"kubeconfig {kubeconfig}, context '{namespace}-nobody'"
        assert (info["backend"], info["reason"]) == ("local", f"{credentials} found, but {forbidden}")
    no_errors(jupyter)


async def test_concurrent_creates_make_no_more_shells_than_max_shells(control_plane, namespace, tmp_path):
    """20 POSTs at once under ``max_shells = 2``: 2 shells, 18 refusals that say why, as the cluster lists them."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with server(namespace, kubeconfig, tmp_path / "root", max_shells=2) as jupyter:
        answers = await asyncio.gather(*(call(jupyter, "POST", body={"name": f"s{i}"}) for i in range(20)))
        assert sorted(status for status, _ in answers) == [201] * 2 + [429] * 18
        refused = {answer["message"] for status, answer in answers if status == 429}
        assert refused == {"you already have 2 shells, the most this server allows (c.CloudTTY.max_shells); "
                           "delete one first"}  # fmt: skip
        created = {answer["name"] for status, answer in answers if status == 201}
        listed = kubectl_json(cluster, "get", "cloudshells", "-n", namespace)["items"]
        assert {obj["metadata"]["name"] for obj in listed} == created
    no_errors(jupyter)
