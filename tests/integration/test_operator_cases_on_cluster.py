"""The operator's cases, on the real control plane: what a user sees of a shell from kubectl.

The chart's operator (tests/harness/installed.py) under its own RBAC, the real API server's admission
and the tests' node (tests/harness/kubelet.py) running the pods: phases as the shell's watch delivers
them, the objects a shell owns and gives back when it ends, invalid specs refused at admission or by
the operator, an image no node can pull, shells sharing one Ingress edited at once, the API
server's own audit log counting what the operator asks in a steady state and after a restart, and
what holds against a user who goes around the shell's owner (Pod Security, the shell's Secret and
token, its NetworkPolicy, the administrator's policy). What only kmock's emulator can stage (faults
on cue) stays in test_operator.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controlplane import ControlPlane
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import answers, kubectl_json, ready, refused, shell_terminal
from tests.harness.waiting import eventually

pytestmark = pytest.mark.slow

SHELL_IMAGE = "jupyter-cloudtty/cloudshell:latest"  # the chart's default `shell.image`
OWNED = ("job", "service", "serviceaccount", "rolebinding")  # what a shell without a kubeconfig gives back
# The chart's policy, opened for what a test's shells ask for (by default: ClusterIP, the shell image).
MODES = {"policy": {"exposureModes": ["ClusterIP", "NodePort", "Ingress"]}}


def apply(cluster: ControlPlane, namespace: str, shells: dict[str, dict]) -> None:
    """CloudShells applied at once with kubectl, as a user would."""
    items = [{"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
              "spec": spec} for name, spec in shells.items()]  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                          "items": items}))  # fmt: skip


def released(cluster: ControlPlane, namespace: str, name: str) -> None:
    """Wait until an ended shell holds nothing any more (no NodePort outlives its shell)."""
    cluster.kubectl("wait", "--for=delete", *(f"{kind}/cloudshell-{name}" for kind in OWNED), "-n", namespace,
                    "--timeout=60s")  # fmt: skip


def assert_no_errors(release: Installed) -> None:
    """The operator was refused nothing (RBAC) and did not crash."""
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


async def statuses(cluster: ControlPlane, namespace: str, name: str, since: str, until: str) -> list[dict]:
    """The shell's status after each write to it, in order, as its watch delivers them from
    resourceVersion ``since`` (what `kubectl get -w` shows), up to the first in phase ``until``."""
    path = (f"/apis/cloudshell.cloudtty.io/v1alpha1/namespaces/{namespace}/cloudshells?watch=1"
            f"&resourceVersion={since}&fieldSelector=metadata.name%3D{name}&timeoutSeconds=90")  # fmt: skip
    watch = await asyncio.create_subprocess_exec("kubectl", f"--kubeconfig={cluster.admin}", "get", "--raw", path,
                                                 stdout=subprocess.PIPE)  # fmt: skip
    seen: list[dict] = []
    try:
        assert watch.stdout is not None
        async for line in watch.stdout:
            seen.append(json.loads(line)["object"].get("status") or {})
            if seen[-1].get("phase") == until:
                return seen
    finally:
        if watch.returncode is None:
            watch.kill()
        await watch.wait()
    raise AssertionError(f"{name} not {until} within the watch's 90 s: {seen}")


def phases(seen: list[dict]) -> list[str]:
    """The phases in ``seen``, each once however many writes it stayed in."""
    shown: list[str] = []
    for status in seen:
        if status.get("phase") and status["phase"] not in shown[-1:]:
            shown.append(status["phase"])
    return shown


def _request(event: dict, detail: str) -> str:
    """``verb resource`` of an audit event, and its object's ``detail`` (its name, its subresource) if any."""
    ref = event["objectRef"]
    return f"{event['verb']} {ref['resource']}" + (f"/{ref[detail]}" if ref.get(detail) else "")


class OperatorRequests:
    """The operator's requests, as the API server's audit log records them, from the moment this is made."""

    def __init__(self, cluster: ControlPlane, release: Installed):
        self.cluster, self.user = cluster, release.operator_user
        _, self.mark = cluster.audit()

    def all(self) -> list[dict]:
        events, _ = self.cluster.audit(self.mark)
        return [e for e in events if e["user"]["username"] == self.user and e["stage"] == "ResponseComplete"]

    def writes(self) -> list[str]:
        """``verb resource[/subresource]`` of each write."""
        return [_request(e, "subresource") for e in self.all() if e["verb"] in ("create", "update", "patch", "delete")]

    def reads(self) -> list[str]:
        """``verb resource[/name]`` of each read of objects (not API discovery, which an operator's start makes)."""
        return [_request(e, "name") for e in self.all() if e["verb"] in ("get", "list") and e.get("objectRef")]


async def test_a_shell_s_phases_objects_and_url_as_its_user_sees_them(control_plane, node, namespace, tmp_path):
    """Phases in the CRD's order, each status write as the shell's watch shows it; Ready with its pod
    Ready and that pod the Service's one ready endpoint (a pod Ready before its endpoint is staged in
    test_operator.py); the objects rendered as the spec says, all owned by the shell; the URL by mode
    (the node's address and the nodePort of the Service whose endpoint is the pod; the ClusterIP, with
    the TTL); the command run with the pod's facts in its environment. With the
    AllowSecretStoreKubeconfig gate on, a `configmapName` is ignored, said in a condition, and the
    shell runs as its own account."""
    cluster = control_plane
    command = "echo I am $POD_NAME in $POD_NAMESPACE, $CONTAINER; exec bash"
    values = {
        "featureGates": {"AllowSecretStoreKubeconfig": True},
        "policy": {"exposureModes": ["ClusterIP", "NodePort"], "kubeconfigConfigMaps": ["old-kubeconfig"]},
    }
    async with Installed(cluster, namespace, tmp_path, values) as release:
        since = kubectl_json(cluster, "get", "cloudshells", "-n", namespace)["metadata"]["resourceVersion"]
        apply(cluster, namespace, {
            "s1": {"commandAction": command, "exposureMode": "NodePort"},
            "cip": {"ttlSecondsAfterStarted": 3600},  # ClusterIP, the default
            "old": {"exposureMode": "ClusterIP", "configmapName": "old-kubeconfig"},
        })  # fmt: skip
        seen = await statuses(cluster, namespace, "s1", since, until="Ready")
        assert phases(seen) == ["CreatedJob", "CreatedRouteRule", "Ready"]  # as the CRD documents them
        starting = next(s for s in seen if s.get("phase") == "CreatedRouteRule")["conditions"]
        assert [(c["type"], c["status"]) for c in starting] == [("Ready", "False")]
        assert starting[0]["message"].startswith("waiting for the pod to be ready")

        shell = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace)
        assert shell["spec"]["image"] == SHELL_IMAGE  # the default, written back as CloudTTY does
        ready_condition = {"type": "Ready", "status": "True", "reason": "Ready", "message": "the terminal is reachable"}
        assert [{k: c[k] for k in ready_condition} for c in shell["status"]["conditions"]] == [ready_condition]
        assert shell["status"]["lastScheduleTime"].endswith("Z")

        job = kubectl_json(cluster, "get", "job", "cloudshell-s1", "-n", namespace)
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["image"] == SHELL_IMAGE
        assert container["command"][3:] == ["ttyd", "-W", "-p", "7681", "sh", "-c", command]  # after the token's unwrap
        assert job["spec"]["template"]["spec"]["serviceAccountName"] == "cloudshell-s1"
        binding = kubectl_json(cluster, "get", "rolebinding", "cloudshell-s1", "-n", namespace)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cloudshell-s1", "namespace": namespace}]
        for kind in (*OWNED, "secret", "networkpolicy"):  # all garbage-collected with the shell
            owner = kubectl_json(cluster, "get", kind, "cloudshell-s1", "-n", namespace)["metadata"]["ownerReferences"]
            assert [(o["kind"], o["uid"]) for o in owner] == [("CloudShell", shell["metadata"]["uid"])]

        # The URL leads to this pod: a Ready node's address, the nodePort of the Service whose ready endpoint it is.
        [pod] = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "job-name=cloudshell-s1")["items"]
        service = kubectl_json(cluster, "get", "service", "cloudshell-s1", "-n", namespace)
        addresses = kubectl_json(cluster, "get", "node", node.name)["status"]["addresses"]
        [internal] = [a["address"] for a in addresses if a["type"] == "InternalIP"]  # the node has no ExternalIP
        assert service["spec"]["type"] == "NodePort"
        assert shell["status"]["accessUrl"] == f"{internal}:{service['spec']['ports'][0]['nodePort']}"
        slices = kubectl_json(cluster, "get", "endpointslices", "-n", namespace,
                              "-l", "kubernetes.io/service-name=cloudshell-s1")["items"]  # fmt: skip
        endpoints = [e["addresses"] for s in slices for e in s["endpoints"] if e["conditions"]["ready"]]
        assert endpoints == [[pod["status"]["podIP"]]]

        client = await shell_terminal(cluster, namespace, "s1")
        try:
            await client.expect(rf"I am {pod['metadata']['name']} in {namespace}, web-tty\r\n")
            await client.send("echo $((6*7)) > answer; echo wrote $(cat answer)\r")
            await client.expect("wrote 42")
        finally:
            await client.close()

        cip = ready(cluster, namespace, "cip")
        service = kubectl_json(cluster, "get", "service", "cloudshell-cip", "-n", namespace)
        assert cip["spec"]["exposureMode"] == "ClusterIP"  # the CRD's default, as the API server stores it
        assert service["spec"]["type"] == "ClusterIP" and "nodePort" not in service["spec"]["ports"][0]
        assert cip["status"]["accessUrl"] == f"{service['spec']['clusterIP']}:7681?ttl=3600"

        old = ready(cluster, namespace, "old")
        [ignored] = [c for c in old["status"]["conditions"] if c["type"] == "KubeconfigIgnored"]
        assert ignored["status"] == "True" and "AllowSecretStoreKubeconfig" in ignored["message"]
        pod_spec = kubectl_json(cluster, "get", "job", "cloudshell-old", "-n", namespace)["spec"]["template"]["spec"]
        assert "volumes" not in pod_spec and pod_spec["serviceAccountName"] == "cloudshell-old"
    assert_no_errors(release)


async def test_specs_and_images_that_cannot_work_fail_with_a_reason(control_plane, node, namespace, tmp_path):
    """What the CRD's schema can say, the API server refuses at admission: kubectl says why and no
    shell exists. What it cannot, the operator refuses: the shell Failed, InvalidSpec naming the
    field, a Warning Event (`kubectl describe`), and nothing created for it, not even attempted. An
    image no node can pull fails the shell with the kubelet's reason, and it gives back what it held."""
    cluster = control_plane
    values = {"policy": {"exposureModes": ["ClusterIP", "Ingress"], "allowedImages": ["registry.invalid/*"]}}
    async with Installed(cluster, namespace, tmp_path, values) as release:
        beyond = {
            "admin": ({"runAsUser": "admin"}, 'spec.runAsUser: Invalid value: "admin"'),
            "colour": ({"colour": "green"}, 'unknown field "colour"'),  # kubectl checks it against the CRD's schema
            "equals": ({"ttydClientOptions": {"a=b": "1"}}, "a key must contain neither '=' nor '|'"),
        }
        for name, (spec, said) in beyond.items():
            with pytest.raises(subprocess.CalledProcessError) as error:
                apply(cluster, namespace, {name: spec})
            assert said in error.value.stderr, error.value.stderr
        assert cluster.kubectl("get", "cloudshells", "-n", namespace, "-o", "name") == ""

        requests = OperatorRequests(cluster, release)
        invalid = {
            "uid": ({"runAsUser": "4294967296"}, "spec.runAsUser: must be 'root' or a numeric UID (0 to 2147483647)"),
            "elsewhere": ({"exposureMode": "Ingress", "ingressConfig": {"namespace": "default"}},
                          "spec.ingressConfig.namespace: an Ingress can only route to Services of its own namespace"),
            "ping": ({"env": [{"name": "TTYD_PING_INTERVAL", "value": "0"}]},
                     "spec.env[0].value: TTYD_PING_INTERVAL must be a whole number from 1 to"),
        }  # fmt: skip
        apply(cluster, namespace, {name: spec for name, (spec, _) in invalid.items()})
        for name, (_, said) in invalid.items():
            message = refused(cluster, namespace, name)
            assert message.startswith(said), message
        warned = kubectl_json(cluster, "get", "events", "-n", namespace,
                              "--field-selector", "type=Warning,reason=InvalidSpec")["items"]  # fmt: skip
        assert {e["involvedObject"]["name"] for e in warned} == set(invalid)
        created = [w for w in requests.writes() if w.startswith("create ")]
        assert created and set(created) == {"create events"}, "nothing may be (half-)created"
        assert cluster.kubectl("get", "jobs,services,ingresses,secrets,networkpolicies", "-n", namespace, "-o",
                               "name") == ""  # fmt: skip

        image = "registry.invalid/no/such:1"  # a registry that never resolves (RFC 6761)
        apply(cluster, namespace, {"pull": {"image": image}})
        failed = ready(cluster, namespace, "pull", "Failed")["status"]["conditions"][-1]
        assert failed["reason"] in ("ErrImagePull", "ImagePullBackOff") and image in failed["message"], failed
        released(cluster, namespace, "pull")
    assert_no_errors(release)


async def test_an_ended_shell_gives_back_everything_it_held(control_plane, node, namespace, tmp_path):
    """A shell ends when its command ends ttyd (Complete, Exited), when its TTL runs out (Complete,
    Expired), when its `once` client leaves; then it holds no Job, Service, ServiceAccount or
    RoleBinding any more, and with `cleanup` the CloudShell goes too."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path) as release:
        apply(cluster, namespace, {
            "exits": {"commandAction": "kill $PPID"},  # the first client's command stops ttyd, its parent
            "expires": {"ttlSecondsAfterStarted": 3},
            "single": {"once": True, "cleanup": True},
        })  # fmt: skip

        ready(cluster, namespace, "exits")
        client = await shell_terminal(cluster, namespace, "exits")
        await client.wait_closed(30)  # ttyd exited: the container too, with 0
        exited = ready(cluster, namespace, "exits", "Complete", timeout=60)["status"]["conditions"]
        assert [(c["type"], c["status"], c["reason"], c["message"]) for c in exited] == [
            ("Ready", "False", "Exited", "the command exited")]  # fmt: skip
        released(cluster, namespace, "exits")

        expired = ready(cluster, namespace, "expires", "Complete", timeout=60)["status"]["conditions"]
        assert [(c["reason"], c["message"]) for c in expired] == [("Expired", "its TTL of 3s ran out")]
        released(cluster, namespace, "expires")

        ready(cluster, namespace, "single")
        await answers(await shell_terminal(cluster, namespace, "single"))  # the one client, then it leaves
        cluster.kubectl("wait", "--for=delete", "cloudshell/single", "-n", namespace, "--timeout=60s")  # `cleanup`
        released(cluster, namespace, "single")
        # Kept, Complete, without their objects: the shells without `cleanup`.
        left = kubectl_json(cluster, "get", "cloudshells", "-n", namespace)["items"]
        assert {s["metadata"]["name"]: s["status"]["phase"] for s in left} == {"exits": "Complete",
                                                                              "expires": "Complete"}  # fmt: skip
    assert_no_errors(release)


async def test_shells_created_and_deleted_at_once_each_keep_their_own_path_in_the_shared_ingress(
    control_plane, node, namespace, tmp_path
):
    """Each shell's daemon edits the one Ingress on its own: of two writes from the same copy, the
    real API server refuses the second (409, resourceVersion) and that shell edits the newer copy.
    A deleted shell takes out its own path only; the last one takes the Ingress along."""
    cluster = control_plane
    names = [f"c{i}" for i in range(6)]
    config = {"ingressClassName": "nginx", "host": "shells.example.com"}
    path = {name: f"/apis/v1alpha1/cloudshell/{name}" for name in names}

    def paths() -> dict[str, str]:
        [rule] = kubectl_json(cluster, "get", "ingress", "cloudshell-ingress", "-n", namespace)["spec"]["rules"]
        assert rule["host"] == "shells.example.com"
        return {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}

    async with Installed(cluster, namespace, tmp_path, MODES) as release:
        apply(cluster, namespace, {name: {"exposureMode": "Ingress", "ingressConfig": config} for name in names})
        for name in names:
            assert ready(cluster, namespace, name)["status"]["accessUrl"] == f"http://shells.example.com{path[name]}/"
        ingress = kubectl_json(cluster, "get", "ingress", "cloudshell-ingress", "-n", namespace)
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert paths() == {path[name]: f"cloudshell-{name}" for name in names}

        # kubectl returns once the shells are gone: after the operator took their paths out (their finalizer).
        cluster.kubectl("delete", "cloudshell", *names[:3], "-n", namespace, "--timeout=60s")
        assert paths() == {path[name]: f"cloudshell-{name}" for name in names[3:]}
        await answers(await shell_terminal(cluster, namespace, "c3", path["c3"]))  # the others still answer
        cluster.kubectl("delete", "cloudshell", *names[3:], "-n", namespace, "--timeout=60s")
        cluster.kubectl("wait", "--for=delete", "ingress/cloudshell-ingress", "-n", namespace, "--timeout=30s")
    assert_no_errors(release)


async def test_a_steady_state_and_a_restarted_operator_read_nothing_and_rewrite_nothing(
    control_plane, node, namespace, tmp_path
):
    """Counted by the API server itself (its audit log). Events that change nothing (a pod updated, as
    kubelets and controllers do all the time; the shell annotated) wake the shell's daemon: its passes
    read nothing (kopf's indexes answer) and write nothing. A restarted operator resumes the shell: it
    creates nothing again and rewrites nothing. In both, the writes are what a spec change calls for
    (a new TTL: the Job's deadline and the status): a pass that has nothing to do leaves no trace, so
    these writes, after the events before them, are the sign that they were seen."""
    cluster = control_plane

    def a_change_is_written(ttl: int) -> dict:
        """The user changes the spec (its TTL): the operator writes what that changes in the status."""
        cluster.kubectl("patch", "cloudshell", "s1", "-n", namespace, "--type=merge", "-p",
                        json.dumps({"spec": {"ttl": ttl}}))  # fmt: skip
        generation = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace)["metadata"]["generation"]
        cluster.kubectl("wait", f"--for=jsonpath={{.status.observedGeneration}}={generation}", "cloudshell/s1",
                        "-n", namespace, "--timeout=60s")  # fmt: skip
        shell = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace)
        assert shell["status"]["phase"] == "Ready" and shell["status"]["accessUrl"].endswith(f"?ttl={ttl}")
        return shell

    async def the_one_write(requests: OperatorRequests) -> None:
        expected = ["patch cloudshells/status", "patch jobs"]  # the status, and the Job's deadline

        async def audited() -> bool:  # logged as the response completes: maybe after the watch showed the write
            return sorted(requests.writes()) == expected or len(requests.writes()) > len(expected)

        await eventually(audited, what="the status and deadline writes audited")
        assert sorted(requests.writes()) == expected

    async with Installed(cluster, namespace, tmp_path) as release:
        apply(cluster, namespace, {"s1": {}})
        before = ready(cluster, namespace, "s1")
        [pod] = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "job-name=cloudshell-s1")["items"]

        requests = OperatorRequests(cluster, release)
        for n in range(3):  # each an event of the shell's pod, then of the shell: a pass each (or one for a few)
            for kind, name in (("pod", pod["metadata"]["name"]), ("cloudshell", "s1")):
                cluster.kubectl("annotate", kind, name, "-n", namespace, f"tests/touch={n}", "--overwrite")
        a_change_is_written(600)  # on the shell's own watch, after its events above; its pod's were sent before
        await the_one_write(requests)
        assert requests.reads() == []

        requests = OperatorRequests(cluster, release)
        release.stop_operator()
        release.start_operator()  # kopf resumes every shell it finds: a pass over each
        after = a_change_is_written(900)
        await the_one_write(requests)
        listings = requests.reads()  # kopf's one listing of each kind it watches, before its watch: no object read
        assert listings and all(r.startswith("list ") for r in listings) and len(set(listings)) == len(listings)
        assert after["status"]["lastScheduleTime"] == before["status"]["lastScheduleTime"]
        [same] = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "job-name=cloudshell-s1")["items"]
        assert same["metadata"]["uid"] == pod["metadata"]["uid"]
    assert_no_errors(release)


async def test_a_narrower_policy_refuses_new_shells_and_leaves_running_ones_alone(
    control_plane, node, namespace, tmp_path
):
    """The administrator narrows the chart's policy (no more NodePort) and the operator restarts with
    it: a new shell asking for a NodePort is Failed; one already running, as it was allowed, keeps
    running, and the operator rewrites nothing of it (a spec change of it is still seen, and its new
    TTL applied)."""
    cluster = control_plane
    for run in ("before", "after"):
        (tmp_path / run).mkdir()
    async with Installed(cluster, namespace, tmp_path / "before", MODES) as before:
        apply(cluster, namespace, {"s1": {"exposureMode": "NodePort"}})
        running = ready(cluster, namespace, "s1")
        before.stop_operator()
    assert_no_errors(before)
    async with Installed(cluster, namespace, tmp_path / "after") as after:  # the chart's default: ClusterIP
        requests = OperatorRequests(cluster, after)
        apply(cluster, namespace, {"s2": {"exposureMode": "NodePort"}})
        failed = ready(cluster, namespace, "s2", "Failed")["status"]["conditions"][-1]
        said = "spec.exposureMode: 'NodePort' is not allowed (policy.exposureModes: ClusterIP)"
        assert (failed["reason"], failed["message"]) == ("InvalidSpec", said)

        cluster.kubectl("patch", "cloudshell", "s1", "-n", namespace, "--type=merge", "-p", '{"spec": {"ttl": 600}}')
        generation = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace)["metadata"]["generation"]
        cluster.kubectl("wait", f"--for=jsonpath={{.status.observedGeneration}}={generation}", "cloudshell/s1",
                        "-n", namespace, "--timeout=60s")  # fmt: skip
        status = kubectl_json(cluster, "get", "cloudshell", "s1", "-n", namespace)["status"]
        assert status["phase"] == "Ready" and status["lastScheduleTime"] == running["status"]["lastScheduleTime"]
        assert status["accessUrl"].endswith("?ttl=600")
        mine = [e for e in requests.all() if (e.get("objectRef") or {}).get("name") in ("s1", "cloudshell-s1")]
        # What the new TTL calls for: the Job's deadline, then the status.
        assert [_request(e, "subresource") for e in mine if e["verb"] not in ("get", "list", "watch")] == [
            "patch jobs", "patch cloudshells/status"]  # fmt: skip
        assert kubectl_json(cluster, "get", "job", "cloudshell-s1", "-n", namespace)["spec"][
            "activeDeadlineSeconds"] == 600  # fmt: skip
    assert_no_errors(after)


# --- what holds against a user who goes around the shell's owner ----------------------------------
# The pod meets Pod Security "restricted" (the real API server's admission enforces it in the
# namespace) and its spec, which any `view` account reads, holds neither the user's env values nor
# ttyd's token: both are in the shell's own Secret. Its ttyd, reached straight at the pod's address,
# answers only under that token. A NetworkPolicy of its own admits only the administrator's peers
# (the tests' node enforces none, so its rules are checked as the API server stores them). A shell the
# administrator's policy does not allow, written by an administrator (whom the chart's
# ValidatingAdmissionPolicy exempts), is Failed, InvalidSpec, with nothing made for it.

SHELL_LABEL = "cloudshell.cloudtty.io/owner-name"
PEERS = [
    {"podSelector": {"matchLabels": {"component": "singleuser-server"}}},
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
]


async def status_of(url: str) -> int:
    """The HTTP status of a page, straight at an address (no proxy)."""
    response = await AsyncHTTPClient().fetch(url, raise_error=False)
    return response.code


async def test_a_shell_pod_is_restricted_its_secrets_out_of_its_spec_its_ttyd_behind_its_token(
    control_plane, node, namespace, tmp_path
):
    cluster = control_plane
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    values = {"shell": {"networkPolicy": {"allowFrom": PEERS}}}
    async with Installed(cluster, namespace, tmp_path, values) as release:
        action = 'echo "FOO=$FOO TOKEN=${TTYD_TOKEN:-unset} UID=$(id -u)"; exec bash'
        apply(cluster, namespace, {"s1": {"commandAction": action, "env": [{"name": "FOO", "value": "s3cret-value"}]}})
        shell = ready(cluster, namespace, "s1")  # its pod admitted under "restricted"

        # The admission is on: a pod without the restricted settings is refused in this namespace.
        bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
                "spec": {"containers": [{"name": "c", "image": shell["spec"]["image"]}]}}  # fmt: skip
        with pytest.raises(subprocess.CalledProcessError) as refused:
            cluster.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(bare))
        assert 'violates PodSecurity "restricted:latest"' in refused.value.stderr

        [pod] = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", "job-name=cloudshell-s1")["items"]
        assert pod["spec"]["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        [container] = pod["spec"]["containers"]
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        assert container["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"cpu": "1", "memory": "512Mi"}}  # fmt: skip

        secret = kubectl_json(cluster, "get", "secret", "cloudshell-s1", "-n", namespace)
        values_in_it = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        token = values_in_it.pop("token")
        assert values_in_it == {"env.FOO": "s3cret-value"} and len(token) >= 43  # 32 random bytes
        assert secret["immutable"] is True
        assert [(o["kind"], o["uid"]) for o in secret["metadata"]["ownerReferences"]] == [
            ("CloudShell", shell["metadata"]["uid"])]  # fmt: skip
        for readable in (pod, kubectl_json(cluster, "get", "job", "cloudshell-s1", "-n", namespace)):
            assert "s3cret-value" not in json.dumps(readable) and token not in json.dumps(readable)
        assert token not in json.dumps(shell)  # nor in its status (the value is in the spec the user wrote)

        # Straight at the pod's address: nothing without the token, the terminal with it.
        ttyd = f"{pod['status']['podIP']}:7681"
        for path in ("/", "/ws", "/token/", f"/{token[:-1]}/"):
            assert await status_of(f"http://{ttyd}{path}") == 404, path
        with pytest.raises(HTTPClientError):  # the WebSocket upgrade refused
            await TtydClient.connect(f"ws://{ttyd}/ws")
        assert await status_of(f"http://{ttyd}/{token}/") == 200
        client = await TtydClient.connect(f"ws://{ttyd}/{token}/ws")
        try:
            await client.expect(r"FOO=s3cret-value TOKEN=unset UID=1000\r\n")  # the value, not the token
        finally:
            await client.close()

        policy = kubectl_json(cluster, "get", "networkpolicy", "cloudshell-s1", "-n", namespace)
        assert policy["spec"] == {
            "podSelector": {"matchLabels": {SHELL_LABEL: "s1"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": PEERS, "ports": [{"port": 7681, "protocol": "TCP"}]}],
        }
        selected = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", f"{SHELL_LABEL}=s1")["items"]
        assert [p["metadata"]["name"] for p in selected] == [pod["metadata"]["name"]]  # the shell's pod, only it
        assert [(o["kind"], o["uid"]) for o in policy["metadata"]["ownerReferences"]] == [
            ("CloudShell", shell["metadata"]["uid"])]  # fmt: skip
    assert_no_errors(release)


async def test_a_shell_the_policy_does_not_allow_fails_with_nothing_made_for_it(
    control_plane, node, namespace, tmp_path
):
    """Written by an administrator (exempt from the chart's admission policy): the operator refuses
    it, naming the field and the chart's value; `kubectl describe` says so."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path) as release:  # the chart's default policy
        requests = OperatorRequests(cluster, release)
        beyond = {
            "image": ({"image": "evil/shell:latest"},
                      "spec.image: 'evil/shell:latest' is not an allowed image (policy.allowedImages: none;"),
            "root": ({"runAsUser": "root"}, "spec.runAsUser: 'root' is root, not allowed (policy.allowRoot: false)"),
            "kubeconfig": ({"secretRef": {"name": "team-b-admin"}},
                           "spec.secretRef.name: 'team-b-admin' is not an allowed kubeconfig Secret"),
            "valuefrom": ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}]},
                          "spec.env[0].valueFrom: not allowed (policy.allowEnvValueFrom: false)"),
            "nodeport": ({"exposureMode": "NodePort"},
                         "spec.exposureMode: 'NodePort' is not allowed (policy.exposureModes: ClusterIP)"),
        }  # fmt: skip
        apply(cluster, namespace, {name: spec for name, (spec, _) in beyond.items()})
        for name, (_, said) in beyond.items():
            message = refused(cluster, namespace, name)
            assert message.startswith(said), message
        described = cluster.kubectl("describe", "cloudshell", "nodeport", "-n", namespace)
        assert "InvalidSpec" in described and beyond["nodeport"][1] in described.replace("\n", " "), described

        created = [w for w in requests.writes() if w.startswith("create ")]
        assert created and set(created) == {"create events"}, "nothing may be (half-)created"
        owned = cluster.kubectl("get", "jobs,services,secrets,networkpolicies,serviceaccounts,rolebindings",
                                "-n", namespace, "-l", SHELL_LABEL, "-o", "name")  # fmt: skip
        assert owned == ""
    assert_no_errors(release)
