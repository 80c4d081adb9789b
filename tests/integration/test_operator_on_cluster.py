"""The chart's operator on the real control plane, with nothing but the chart's own rights.

The chart is rendered by Helm's engine and applied with kubectl; the operator runs as `jupyter
cloudtty operator` (its Deployment's command, as a process: the tests' node runs no images) with a
token of the chart's ServiceAccount, so every request it makes passes real RBAC. A CloudShell written
as CloudTTY's documentation writes it then reaches Ready on the tests' node, its terminal answers
through the API server's service proxy (under the token in the shell's Secret), and deleting it
takes its Job and Service along. A Jupyter
server outside the cluster, as the ServiceAccount the chart's `jupyterServers` value grants, does
the same through its REST API and relays the terminal through the API server (connect_via=apiserver).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.harness.installed import Installed
from tests.harness.servers import JupyterProcess
from tests.harness.shells_on_cluster import answers, kubectl_json, ready, shell_terminal

pytestmark = pytest.mark.slow


async def test_a_cloudshell_reaches_ready_under_the_chart_s_rbac(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path) as release:
        shell = {  # as CloudTTY's README writes one
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "s1"},
            "spec": {"commandAction": "bash", "once": False, "ttlSecondsAfterStarted": 600},
        }  # fmt: skip
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(shell))
        status = ready(cluster, namespace, "s1")["status"]
        service = kubectl_json(cluster, "get", "service", "cloudshell-s1", "-n", namespace)
        # ClusterIP, the default (CloudTTY's NodePort put an open ttyd on every node's address)
        assert service["spec"]["type"] == "ClusterIP"
        assert status["accessUrl"] == f"{service['spec']['clusterIP']}:7681?ttl=600"

        await answers(await shell_terminal(cluster, namespace, "s1"))

        cluster.kubectl("delete", "cloudshell", "s1", "-n", namespace, "--timeout=60s")
        cluster.kubectl("wait", "--for=delete", "job/cloudshell-s1", "service/cloudshell-s1", "-n", namespace,
                        "--timeout=60s")  # fmt: skip
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


async def test_the_jupyter_server_s_kubernetes_backend_with_the_chart_s_rights(
    control_plane, node, namespace, tmp_path
):
    """A Jupyter server outside the cluster, as the ServiceAccount the chart grants (jupyterServers,
    with serviceProxy): it creates a shell, relays its terminal through the API server, deletes it."""
    cluster = control_plane
    cluster.kubectl("create", "serviceaccount", "jupyter", "-n", namespace)
    values = {
        "jupyterServers": {"serviceAccounts": [{"name": "jupyter", "namespace": namespace}], "serviceProxy": True}
    }
    async with Installed(cluster, namespace, tmp_path, values) as release:
        kubeconfig = release.kubeconfig_of("jupyter")
        args = (
            "--CloudTTY.backend=kubernetes", f"--CloudTTY.kubeconfig={kubeconfig}",
            f"--CloudTTY.namespace={namespace}", "--CloudTTY.owner=alice", "--CloudTTY.connect_via=apiserver",
        )  # fmt: skip
        (tmp_path / "root").mkdir()
        async with JupyterProcess("jupyter_server", tmp_path / "root", args=args) as server:
            info = json.loads((await server.fetch("cloudtty/api/info")).body)
            assert info["backend"] == "kubernetes", info
            created = await server.fetch("cloudtty/api/shells", "POST", {"name": "s1", "spec": {"ttl": 600}})
            assert created.code == 201
            await answers(await server.terminal("s1"))  # waits for Ready, then relays through the API server
            assert (await server.fetch("cloudtty/api/shells/s1", "DELETE")).code == 204
            cluster.kubectl("wait", "--for=delete", "cloudshell/s1", "job/cloudshell-s1", "-n", namespace,
                            "--timeout=60s")  # fmt: skip
            await server.stop()
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


async def test_every_exposure_mode_and_lifecycle_field_as_cloudtty_documents_them(
    control_plane, node, namespace, tmp_path
):
    """ClusterIP, NodePort and Ingress URLs as the CloudShell contract gives them; the older `ttl`;
    a TTL that ends the shell and, with `cleanup`, deletes it; `once`: the first client's leaving
    completes it. All applied with kubectl at once, as users would."""
    cluster = control_plane
    shells = {
        "clusterip": {"exposureMode": "ClusterIP", "commandAction": "bash"},
        "nodeport": {"exposureMode": "NodePort", "ttl": 600},  # the older TTL field
        "ingress": {"exposureMode": "Ingress", "pathPrefix": "team/", "ingressConfig": {"host": "shells.example.com"}},
        "short": {"exposureMode": "ClusterIP", "ttlSecondsAfterStarted": 3, "cleanup": True},
        "single": {"exposureMode": "ClusterIP", "once": True},
    }
    values = {"policy": {"exposureModes": ["ClusterIP", "NodePort", "Ingress"]}}  # the chart's default: ClusterIP
    async with Installed(cluster, namespace, tmp_path, values) as release:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
            "items": [{"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell",
                       "metadata": {"name": name}, "spec": spec} for name, spec in shells.items()]}))  # fmt: skip

        clusterip = ready(cluster, namespace, "clusterip")
        service = kubectl_json(cluster, "get", "service", "cloudshell-clusterip", "-n", namespace)
        assert clusterip["status"]["accessUrl"] == f"{service['spec']['clusterIP']}:7681"

        nodeport = ready(cluster, namespace, "nodeport")
        port = kubectl_json(cluster, "get", "service", "cloudshell-nodeport", "-n", namespace)["spec"]["ports"][0]
        assert nodeport["status"]["accessUrl"].endswith(f":{port['nodePort']}?ttl=600")

        ingress = ready(cluster, namespace, "ingress")
        path = "/team/apis/v1alpha1/cloudshell/ingress"
        assert ingress["status"]["accessUrl"] == f"http://shells.example.com{path}/"
        shared = kubectl_json(cluster, "get", "ingress", "cloudshell-ingress", "-n", namespace)
        [rule] = shared["spec"]["rules"]
        assert rule["host"] == "shells.example.com" and [p["path"] for p in rule["http"]["paths"]] == [path]
        await answers(await shell_terminal(cluster, namespace, "ingress", path))  # ttyd serves under the path

        # Its 3 s run out, and with `cleanup` it goes entirely (only a Complete shell is deleted so). Maybe
        # before it was seen Ready: the Job's deadline counts from its start, and a busy node is slow.
        cluster.kubectl("wait", "--for=delete", "cloudshell/short", "-n", namespace, "--timeout=60s")

        ready(cluster, namespace, "single")
        client = await shell_terminal(cluster, namespace, "single")  # the first and only client
        await client.send("echo $((6*7))\r")
        await client.expect("42")
        await client.close()  # it leaves: ttyd --once exits, the Job completes
        ready(cluster, namespace, "single", "Complete", timeout=30)
        cluster.kubectl("wait", "--for=delete", "job/cloudshell-single", "-n", namespace, "--timeout=60s")
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


async def test_shells_live_through_an_operator_restart(control_plane, node, namespace, tmp_path):
    """The operator's pod is replaced (an upgrade, a node drain): running shells keep their pods and
    status, the new operator picks up a shell created while none ran, and deletes go on working."""
    cluster = control_plane

    def create(name: str) -> None:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
            "spec": {},
        }))  # fmt: skip

    async with Installed(cluster, namespace, tmp_path) as release:
        create("before")
        before = ready(cluster, namespace, "before")
        pod = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "job-name=cloudshell-before")["items"][0]

        release.stop_operator()
        create("between")  # nobody reconciles it yet
        release.start_operator()

        ready(cluster, namespace, "between")
        again = kubectl_json(cluster, "get", "cloudshell", "before", "-n", namespace)
        assert again["status"] == before["status"]  # untouched by the new operator
        [same] = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "job-name=cloudshell-before")["items"]
        assert same["metadata"]["uid"] == pod["metadata"]["uid"]
        await answers(await shell_terminal(cluster, namespace, "before"))
        cluster.kubectl("delete", "cloudshell", "before", "-n", namespace, "--timeout=60s")
        cluster.kubectl("wait", "--for=delete", "job/cloudshell-before", "-n", namespace, "--timeout=60s")
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


async def test_a_shell_s_lifecycle_costs_the_operator_writes_and_no_reads(control_plane, node, namespace, tmp_path):
    """Counted by the API server itself (its audit log): from a CloudShell's creation to its deletion,
    the operator reads nothing (kopf's indexes, fed by its watches, answer every question) and writes
    only what the shell needs."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path) as release:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "warm"},
            "spec": {"exposureMode": "ClusterIP"},
        }))  # fmt: skip
        ready(cluster, namespace, "warm")  # the operator is up: its watches run
        _, mark = cluster.audit()

        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
            "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "s1"},
            "spec": {"commandAction": "bash", "ttlSecondsAfterStarted": 600},
        }))  # fmt: skip
        ready(cluster, namespace, "s1")
        cluster.kubectl("delete", "cloudshell", "s1", "-n", namespace, "--timeout=60s")  # its finalizer: the operator
        events, _ = cluster.audit(mark)

    answered = [
        e for e in events if e["user"]["username"] == release.operator_user and e["stage"] == "ResponseComplete"
    ]
    reads = [f"{e['verb']} {e['requestURI']}" for e in answered if e["verb"] in ("get", "list")]
    writes = Counter(f"{e['verb']} {e['objectRef']['resource']}" for e in answered
                     if e["verb"] in ("create", "update", "patch", "delete"))  # fmt: skip
    print(f"one ClusterIP shell's lifecycle on a real API server: {sum(writes.values())} writes {dict(writes)}")
    assert reads == []
    assert writes["create jobs"] == 1 and writes["create services"] == 1
    assert writes["create secrets"] == 1 and writes["create networkpolicies"] == 1  # made once, never read back
    assert sum(writes.values()) <= 16, writes
