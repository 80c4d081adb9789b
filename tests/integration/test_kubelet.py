"""The tests' node (tests/harness/kubelet.py) runs the control plane's pods as a kubelet would: the
operator's Job gets a Running, Ready pod whose terminal answers through the API server's service
proxy; Pod Security, Secrets, ConfigMaps, ServiceAccount tokens, exit codes and restarts are real,
and so are PersistentVolumeClaims (bound by kube-controller-manager), a deleted pod's SIGTERM and
grace period, termination messages, and native sidecars (started before the main container, Ready
with it, restarted when they exit, stopped after it).

Each check is made as a cluster's user sees it: kubectl, the pod's status, the API server's proxy.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest

from jupyter_cloudtty.operator import manifests
from jupyter_cloudtty.operator.settings import Settings
from jupyter_cloudtty.ttyd import TtydClient

pytestmark = pytest.mark.slow


def wait(cluster, namespace: str, what: str, condition: str, timeout: int = 60) -> None:
    """``kubectl wait`` (a watch): until ``what`` meets ``condition``."""
    cluster.kubectl("wait", f"--for={condition}", *what.split(), "-n", namespace, f"--timeout={timeout}s")


def apply(cluster, namespace: str, *objects: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                            "items": list(objects)}))  # fmt: skip


def get(cluster, namespace: str, what: str) -> dict:
    return json.loads(cluster.kubectl("get", what, "-n", namespace, "-o", "json"))


def pod(name: str, command: list[str], **spec) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "shell", "command": command}],
                 **spec},
    }  # fmt: skip


def finished(cluster, node, namespace: str, name: str, phase: str) -> dict:
    """The pod once it reached ``phase`` (what it printed in the message when it did not)."""
    try:
        wait(cluster, namespace, f"pod/{name}", f"jsonpath={{.status.phase}}={phase}")
    except subprocess.CalledProcessError:
        status = get(cluster, namespace, f"pod/{name}")["status"]
        raise AssertionError(f"{name}: {json.dumps(status)}\noutput: {node.log(namespace, name)}") from None
    return get(cluster, namespace, f"pod/{name}")


def printed(cluster, node, namespace: str, name: str, text: str, timeout: float = 60) -> None:
    """Until the pod's container printed ``text`` (its log is no API object: nothing to watch)."""
    deadline = time.monotonic() + timeout
    while text not in node.log(namespace, name):
        if time.monotonic() > deadline:
            status = get(cluster, namespace, f"pod/{name}")["status"]
            raise AssertionError(f"{name} did not print {text!r}: {node.log(namespace, name)!r}\n{json.dumps(status)}")
        time.sleep(0.1)


def watch_pods(cluster, namespace: str, since: str, done: Callable[[list[dict]], bool]) -> list[dict]:
    """The namespace's pod events from resourceVersion ``since`` (what `kubectl get -w` shows), up to
    the first list of them that is ``done``."""
    path = f"/api/v1/namespaces/{namespace}/pods?watch=1&resourceVersion={since}&timeoutSeconds=60"
    seen: list[dict] = []
    with subprocess.Popen(["kubectl", f"--kubeconfig={cluster.admin}", "get", "--raw", path], stdout=subprocess.PIPE,
                          text=True) as watch:  # fmt: skip
        assert watch.stdout is not None
        for line in watch.stdout:
            seen.append(json.loads(line))
            if done(seen):
                watch.kill()
                return seen
    raise AssertionError(f"not done within the watch's 60 s: {[(e['type'], e['object']['status']) for e in seen]}")


def version(cluster, namespace: str) -> str:
    """The version of the namespace's pods now, to watch from: the API's list's (kubectl's `get`
    makes a List of its own, without one)."""
    listed = json.loads(cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/pods"))
    return listed["metadata"]["resourceVersion"]


def persistent_volume(name: str, labels: dict, **source) -> dict:
    """A static PV of 1Gi, ReadWriteOnce, class "manual" (no StorageClass object: the binder binds
    claims of that class to it and provisions nothing)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                 **source},
    }  # fmt: skip


def claim(name: str, labels: dict) -> dict:
    """A claim that only the PV with ``labels`` matches (no other test's PV, left Available, can take it)."""
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"storageClassName": "manual", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}, "selector": {"matchLabels": labels}},
    }  # fmt: skip


def bound(cluster, namespace: str, name: str) -> None:
    """Until kube-controller-manager bound the claim to its PV."""
    try:
        wait(cluster, namespace, f"pvc/{name}", "jsonpath={.status.phase}=Bound")
    except subprocess.CalledProcessError:
        raise AssertionError(f"claim {name} is not Bound: does kube-controller-manager run persistentvolume-binder-"
                             "controller (CONTROLLERS in tests/harness/controlplane.py)?") from None  # fmt: skip


def tls(cluster) -> dict[str, str]:
    """The admin's client certificate, for requests through the API server's proxy."""
    folder = cluster.admin.parent
    return {"ca_certs": str(cluster.ca_file), "client_cert": str(folder / "admin.crt"),
            "client_key": str(folder / "admin.key")}  # fmt: skip


async def test_the_operators_job_runs_a_terminal_reached_through_the_service_proxy(control_plane, node, namespace):
    cluster = control_plane
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "s1"},
        "spec": {"exposureMode": "ClusterIP"},
    }))  # fmt: skip
    shell = manifests.validated(get(cluster, namespace, "cloudshell/s1"))
    job = manifests.job(shell, Settings())
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][3:7] == ["ttyd", "-W", "-p", "7681"]
    name, token = job["metadata"]["name"], "the-token-of-s1"
    secret = manifests.secret(shell, token)  # the kubelet reads the token from it (secretKeyRef)
    apply(cluster, namespace, secret, manifests.service_account(shell), manifests.service(shell), job)

    wait(cluster, namespace, f"job/{name}", "jsonpath={.status.ready}=1")
    [running] = get(cluster, namespace, "pods")["items"]
    status = running["status"]
    assert running["spec"]["nodeName"] == node.name
    assert status["phase"] == "Running" and status["podIP"].startswith("10.244.")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    [container] = status["containerStatuses"]
    assert container["started"] and container["ready"] and container["restartCount"] == 0

    # The EndpointSlice controller makes the pod the Service's endpoint.
    wait(cluster, namespace, f"endpointslice -l kubernetes.io/service-name={name}",
         "jsonpath={.endpoints[0].addresses[0]}=" + status["podIP"])  # fmt: skip

    proxy = f"{cluster.url}/api/v1/namespaces/{namespace}/services/{name}:7681/proxy/{token}/"
    certs = tls(cluster)
    context = ssl.create_default_context(cafile=certs["ca_certs"])
    context.load_cert_chain(certs["client_cert"], certs["client_key"])
    with urllib.request.urlopen(proxy, context=context, timeout=10) as page:
        assert page.status == 200 and b"<title>ttyd - Terminal</title>" in page.read()

    client = await TtydClient.connect(proxy.replace("https://", "wss://") + "ws", **certs)
    try:
        await client.send("echo $((6*7)) $POD_NAMESPACE\r")
        await client.expect(f"42 {namespace}")
    finally:
        await client.close()


def test_a_restricted_pod_passes_pod_security_and_runs_as_it_says(control_plane, node, namespace):
    cluster = control_plane
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    restricted = {
        "runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip
    check = '[ "$(id -u)" = 1000 ] && grep -q "^NoNewPrivs:.*1" /proc/self/status'
    spec = pod("restricted", ["sh", "-c", check])
    spec["spec"]["containers"][0]["securityContext"] = restricted
    apply(cluster, namespace, spec)
    finished(cluster, node, namespace, "restricted", "Succeeded")


def test_a_container_that_exits_3_fails_its_pod_with_exit_code_3(control_plane, node, namespace):
    cluster = control_plane
    apply(cluster, namespace, pod("three", ["sh", "-c", "exit 3"]))
    failed = finished(cluster, node, namespace, "three", "Failed")
    [container] = failed["status"]["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 3
    assert container["state"]["terminated"]["reason"] == "Error" and not container["ready"]


def test_the_service_account_token_is_mounted_and_the_api_server_accepts_it(control_plane, node, namespace):
    cluster = control_plane
    whoami = "kubectl auth whoami -o jsonpath={.status.userInfo.username}"
    expected = f"system:serviceaccount:{namespace}:default"
    apply(cluster, namespace, pod("whoami", ["sh", "-c", f'[ "$({whoami})" = {expected} ]']))
    finished(cluster, node, namespace, "whoami", "Succeeded")
    volumes = get(cluster, namespace, "pod/whoami")["spec"]["volumes"]
    assert [v["projected"]["sources"][0] for v in volumes if v["name"].startswith("kube-api-access-")] == [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    ]


def test_env_and_volumes_come_from_secrets_config_maps_and_the_pod(control_plane, node, namespace):
    cluster = control_plane
    cluster.kubectl("create", "secret", "generic", "db", "--from-literal=password=s3cret", "-n", namespace)
    cluster.kubectl("create", "configmap", "settings", "--from-literal=greeting=hello", "-n", namespace)
    check = " && ".join([
        '[ "$PASSWORD" = s3cret ]', '[ "$GREETING" = hello ]', '[ "$NODE" = node-1 ]',
        '[ "$(cat /etc/db/password)" = s3cret ]', '[ "$(cat /etc/settings/greeting)" = hello ]',
        '[ "$(hostname)" = env ]', "! touch /etc/db/x",  # a Secret's volume is read-only
        "touch /data/x",
    ])  # fmt: skip
    spec = pod("env", ["sh", "-c", check], volumes=[
        {"name": "db", "secret": {"secretName": "db"}},
        {"name": "settings", "configMap": {"name": "settings"}},
        {"name": "data", "emptyDir": {}},
    ])  # fmt: skip
    spec["spec"]["containers"][0].update(
        env=[
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        volumeMounts=[
            {"name": "db", "mountPath": "/etc/db"},
            {"name": "settings", "mountPath": "/etc/settings"},
            {"name": "data", "mountPath": "/data"},
        ],
    )
    apply(cluster, namespace, spec)
    finished(cluster, node, namespace, "env", "Succeeded")


def test_a_pod_waits_for_the_secret_and_config_map_it_needs_as_with_a_kubelet(control_plane, node, namespace):
    cluster = control_plane
    spec = pod("patient", ["sh", "-c", '[ "$(cat /etc/later/password)" = s3cret ] && [ "$GREETING" = hello ]'],
               volumes=[{"name": "later", "secret": {"secretName": "later"}}])  # fmt: skip
    spec["spec"]["containers"][0].update(
        env=[{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "greeting"}}}],
        volumeMounts=[{"name": "later", "mountPath": "/etc/later"}],
    )
    apply(cluster, namespace, spec)
    waiting = "jsonpath={.status.containerStatuses[0].state.waiting"
    # A kubelet's words, as its FailedMount Events and the container's waiting state say them.
    mount = 'MountVolume.SetUp failed for volume "later" : secret "later" not found'
    wait(cluster, namespace, "pod/patient", f"{waiting}.message}}={mount}")
    assert get(cluster, namespace, "pod/patient")["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == (
        "ContainerCreating"
    )
    cluster.kubectl("create", "secret", "generic", "later", "--from-literal=password=s3cret", "-n", namespace)
    wait(cluster, namespace, "pod/patient", f"{waiting}.reason}}=CreateContainerConfigError")
    assert get(cluster, namespace, "pod/patient")["status"]["phase"] == "Pending"
    cluster.kubectl("create", "configmap", "later", "--from-literal=greeting=hello", "-n", namespace)
    finished(cluster, node, namespace, "patient", "Succeeded")


def test_on_failure_the_container_restarts_and_its_empty_dir_stays(control_plane, node, namespace):
    cluster = control_plane
    once = "[ -e /data/ran ] || { touch /data/ran; exit 1; }"
    spec = pod("again", ["sh", "-c", once], restartPolicy="OnFailure", volumes=[{"name": "data", "emptyDir": {}}])
    spec["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    apply(cluster, namespace, spec)
    [container] = finished(cluster, node, namespace, "again", "Succeeded")["status"]["containerStatuses"]
    assert container["restartCount"] == 1
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert container["state"]["terminated"]["exitCode"] == 0


def test_a_deleted_pod_is_killed_and_removed(control_plane, node, namespace):
    cluster = control_plane
    apply(cluster, namespace, pod("doomed", ["ttyd", "-p", "7681", "bash"],
                                  terminationGracePeriodSeconds=30))  # fmt: skip
    wait(cluster, namespace, "pod/doomed", "condition=Ready")
    address = get(cluster, namespace, "pod/doomed")["status"]["podIP"]
    cluster.kubectl("delete", "pod", "doomed", "-n", namespace, "--timeout=30s")  # returns once it is gone
    assert "doomed" not in cluster.kubectl("get", "pods", "-n", namespace, "-o", "name")
    assert f"inet {address}/32" not in subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"],
                                                      capture_output=True, text=True).stdout  # fmt: skip


def test_a_claim_keeps_what_one_pod_wrote_for_the_next_with_fs_group(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    folder = tmp_path / "volume"
    folder.mkdir(mode=0o755)  # root's: user 1000 writes there only through fsGroup
    labels = {"test-namespace": namespace}
    # A local PV, whose volume the kubelet gives the pod's fsGroup (as it never does a hostPath's).
    node_affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node.name]}]}]}}  # fmt: skip
    volume = persistent_volume(f"{namespace}-local", labels, local={"path": str(folder)}, nodeAffinity=node_affinity)
    apply(cluster, "default", volume)
    try:
        apply(cluster, namespace, claim("data", labels))
        bound(cluster, namespace, "data")
        # fsGroup 2000, not the user's own group 1000: only fsGroup can have made the folder writable.
        writer = pod("writer", ["sh", "-c", "id -G | grep -qw 2000 && mkdir /data/notes && echo hello >/data/notes/hi"],
                     securityContext={"runAsUser": 1000, "fsGroup": 2000},
                     volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])  # fmt: skip
        writer["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        apply(cluster, namespace, writer)
        finished(cluster, node, namespace, "writer", "Succeeded")

        reader = pod("reader", ["sh", "-c", '[ "$(cat /notes/hi)" = hello ] && ! touch /notes/other'],
                     volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])  # fmt: skip
        reader["spec"]["containers"][0]["volumeMounts"] = [
            {"name": "data", "mountPath": "/notes", "subPath": "notes", "readOnly": True}
        ]
        apply(cluster, namespace, reader)
        finished(cluster, node, namespace, "reader", "Succeeded")
    finally:
        cluster.kubectl("delete", "pv", volume["metadata"]["name"], "--wait=false")
    written = folder / "notes" / "hi"
    assert written.read_text() == "hello\n"
    assert (folder.stat().st_gid, written.stat().st_gid) == (2000, 2000)  # the setgid folder's group


def test_a_pod_waits_for_its_claim_and_gets_a_host_path_volume_as_it_is(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    folder = tmp_path / "volume"
    folder.mkdir(mode=0o755)
    (folder / "motd").write_text("hi\n")
    labels = {"test-namespace": namespace}
    # fsGroup is not applied to a hostPath volume: its folder stays root's, read-only to user 1000.
    check = '[ "$(cat /data/motd)" = hi ] && [ "$(stat -c %g /data)" = 0 ] && ! touch /data/x'
    spec = pod("waits", ["sh", "-c", check], securityContext={"runAsUser": 1000, "fsGroup": 2000},
               volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "home"}}])  # fmt: skip
    spec["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    apply(cluster, namespace, spec)
    # No claim yet: the pod waits (Pending, creating its container), saying why as the kubelet says it.
    missing = (f"error processing PVC {namespace}/home: "
               'failed to fetch PVC from API server: persistentvolumeclaims "home" not found')  # fmt: skip
    wait(cluster, namespace, "pod/waits", f"jsonpath={{.status.containerStatuses[0].state.waiting.message}}={missing}")
    assert get(cluster, namespace, "pod/waits")["status"]["phase"] == "Pending"

    volume = persistent_volume(f"{namespace}-host", labels, hostPath={"path": str(folder), "type": "Directory"})
    apply(cluster, "default", volume)
    try:
        apply(cluster, namespace, claim("home", labels))
        bound(cluster, namespace, "home")
        finished(cluster, node, namespace, "waits", "Succeeded")
    finally:
        cluster.kubectl("delete", "pv", volume["metadata"]["name"], "--wait=false")
    assert sorted(p.name for p in folder.iterdir()) == ["motd"]


def test_a_deleted_pod_gets_sigterm_then_sigkill_after_its_grace_period(control_plane, node, namespace):
    cluster = control_plane
    # `wait` lets the shell run its trap at once (it runs none while a foreground command runs).
    apply(cluster, namespace,
          pod("handles", ["sh", "-c", "trap 'exit 7' TERM; echo trapped; sleep 600 & wait"]),
          pod("ignores", ["sh", "-c", "trap '' TERM; echo trapped; sleep 600 & wait"],
              terminationGracePeriodSeconds=1))  # fmt: skip
    for name in ("handles", "ignores"):
        printed(cluster, node, namespace, name, "trapped")  # running, and its trap is set: TERM finds it
    since = version(cluster, namespace)
    cluster.kubectl("delete", "pods", "handles", "ignores", "-n", namespace, "--wait=false")

    def gone(events: list[dict]) -> bool:
        return {e["object"]["metadata"]["name"] for e in events if e["type"] == "DELETED"} == {"handles", "ignores"}

    events = watch_pods(cluster, namespace, since, gone)
    last = {e["object"]["metadata"]["name"]: e["object"]["status"] for e in events}  # as it was when removed
    for name, code in (("handles", 7), ("ignores", 137)):  # 137: SIGKILL, after the second of grace
        assert last[name]["phase"] == "Failed", (name, last[name])
        [container] = last[name]["containerStatuses"]
        assert container["state"]["terminated"]["exitCode"] == code
        assert container["state"]["terminated"]["reason"] == "Error"


def test_the_termination_message_is_what_the_container_wrote_or_its_last_lines(control_plane, node, namespace):
    cluster = control_plane
    fallback = pod("fallback", ["sh", "-c", "seq 100; exit 1"])
    fallback["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    apply(cluster, namespace, pod("bye", ["sh", "-c", "printf bye >/dev/termination-log; exit 3"]), fallback)
    [bye] = finished(cluster, node, namespace, "bye", "Failed")["status"]["containerStatuses"]
    assert bye["state"]["terminated"]["exitCode"] == 3 and bye["state"]["terminated"]["message"] == "bye"
    [logs] = finished(cluster, node, namespace, "fallback", "Failed")["status"]["containerStatuses"]
    assert logs["state"]["terminated"]["message"] == "".join(f"{n}\n" for n in range(21, 101))  # the last 80


# --- native sidecars: initContainers with restartPolicy Always ---

# A recorder as the operator's shell pods are to have one: it serves its probes on $(POD_IP):7681 a
# second after it starts, once it made /run/ttyd/recorder-up in the folder it shares with the main
# container; it is ready while ttyd (the main container) answers on its UNIX socket there. At SIGTERM
# its termination message says whether ttyd still answered.
RECORDER = r"""
import http.client, http.server, signal, socket, sys, time

class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(1)
        self.sock.connect("/run/ttyd/ttyd.sock")

def ttyd_answers():
    try:
        connection = Unix("localhost")
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False

def stop(*_):
    with open("/dev/termination-log", "w") as message:
        message.write("ttyd still answered" if ttyd_answers() else "ttyd had stopped")
    sys.exit(0)

class Probes(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        passed = self.path == "/started" or (self.path == "/ready" and ttyd_answers())
        self.send_response(200 if passed else 503)
        self.end_headers()

signal.signal(signal.SIGTERM, stop)
time.sleep(1)
open("/run/ttyd/recorder-up", "w").close()
print("listening on", sys.argv[1], flush=True)
http.server.HTTPServer((sys.argv[1], 7681), Probes).serve_forever()
"""
# The main container: ttyd on a UNIX socket of the shared folder (its own -i, which the node keeps), and
# only if the recorder started first. Stopped, it takes a second more to stop ttyd: a recorder stopped
# at the same time would still find ttyd answering.
WEB_TTY = ["sh", "-c", """
[ -e /run/ttyd/recorder-up ] || { echo "started before the recorder"; exit 1; }
ttyd -i /run/ttyd/ttyd.sock "$@" & ttyd=$!
trap 'sleep 1; kill $ttyd' TERM
wait $ttyd; wait $ttyd
""", "ttyd", "-W", "bash"]  # fmt: skip
POD_IP = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def sidecar(name: str, command: list[str], **fields) -> dict:
    return {"name": name, "image": "shell", "restartPolicy": "Always", "command": command, **fields}


def recorded_pod(name: str) -> dict:
    """A shell pod as the operator makes one with a recorder: ttyd and its recorder share a folder."""
    socket_folder = [{"name": "ttyd-socket", "mountPath": "/run/ttyd"}]
    recorder = sidecar(
        "recorder", ["python3", "-I", "-c", RECORDER, "$(POD_IP)"], env=[POD_IP], volumeMounts=socket_folder,
        ports=[{"name": "probes", "containerPort": 7681}],
        startupProbe={"httpGet": {"path": "/started", "port": "probes"}, "periodSeconds": 1, "failureThreshold": 30},
        readinessProbe={"httpGet": {"path": "/ready", "port": "probes"}, "periodSeconds": 2},
    )  # fmt: skip
    spec = pod(name, WEB_TTY, initContainers=[recorder], volumes=[{"name": "ttyd-socket", "emptyDir": {}}])
    spec["spec"]["containers"][0].update(name="web-tty", volumeMounts=socket_folder)
    return spec


def condition(status: dict, kind: str) -> str | None:
    return {c["type"]: c["status"] for c in status.get("conditions", [])}.get(kind)


def test_a_sidecar_starts_first_and_the_pod_is_ready_only_once_both_are(control_plane, node, namespace):
    cluster = control_plane
    since = version(cluster, namespace)
    apply(cluster, namespace, recorded_pod("shell"))

    def ready_or_ended(seen: list[dict]) -> bool:
        status = seen[-1]["object"]["status"]
        return condition(status, "Ready") == "True" or status["phase"] in ("Succeeded", "Failed")

    events = watch_pods(cluster, namespace, since, ready_or_ended)
    statuses = [e["object"]["status"] for e in events]
    assert condition(statuses[-1], "Ready") == "True", f"{statuses[-1]}\n{node.log(namespace, 'shell')}"

    def both(status: dict) -> tuple[dict, dict]:
        [main] = status.get("containerStatuses", [{}])
        [recorder] = status.get("initContainerStatuses", [{}])
        return main, recorder

    for status in statuses:  # never Ready while one of them was not
        main, recorder = both(status)
        assert condition(status, "Ready") != "True" or (main["ready"] and recorder["ready"]), status
        assert condition(status, "ContainersReady") == condition(status, "Ready")
    # ttyd ran (no probe: ready once running) while the recorder, started, was not ready yet (its
    # readiness probe comes every 2 s): the pod was not Ready then.
    assert any(
        both(s)[0].get("ready")
        and both(s)[1].get("started")
        and not both(s)[1]["ready"]
        and condition(s, "Ready") == "False"
        for s in statuses
    ), statuses
    ready = statuses[-1]
    main, recorder = both(ready)
    assert ready["phase"] == "Running" and condition(ready, "Initialized") == "True"
    assert "running" in main["state"] and "running" in recorder["state"]  # the main container found recorder-up
    assert (main["restartCount"], recorder["restartCount"]) == (0, 0)
    assert f"listening on {ready['podIP']}" in node.log(namespace, "shell", container="recorder")
    assert "unix skt /run/ttyd/ttyd.sock" in node.log(namespace, "shell")  # ttyd's, on its own -i

    # Deleted: ttyd is stopped first, then the recorder, which finds ttyd gone.
    since = events[-1]["object"]["metadata"]["resourceVersion"]
    cluster.kubectl("delete", "pod", "shell", "-n", namespace, "--wait=false")
    events = watch_pods(cluster, namespace, since, lambda seen: seen[-1]["type"] == "DELETED")
    main, recorder = both(events[-1]["object"]["status"])  # the last status, before it was removed
    assert "terminated" in main["state"], main
    assert recorder["state"]["terminated"]["message"] == "ttyd had stopped", recorder
    assert recorder["state"]["terminated"]["exitCode"] == 0 and recorder["restartCount"] == 0


def test_a_job_completes_once_its_main_container_exits_and_its_sidecar_is_stopped(control_plane, node, namespace):
    cluster = control_plane
    server = ("import http.server, sys\n"
              "class Hello(http.server.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n"
              "        self.send_response(200); self.end_headers(); self.wfile.write(b'hello from the sidecar')\n"
              "http.server.HTTPServer((sys.argv[1], 8080), Hello).serve_forever()\n")  # fmt: skip
    client = "import sys, urllib.request; print(urllib.request.urlopen(f'http://{sys.argv[1]}:8080/').read().decode())"
    started = {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 30}
    helper = sidecar("server", ["python3", "-c", server, "$(POD_IP)"], env=[POD_IP], startupProbe=started)
    template = pod("once", ["python3", "-c", client, "$(POD_IP)"], initContainers=[helper])
    template["spec"]["containers"][0]["env"] = [POD_IP]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"backoffLimit": 0, "template": {"spec": template["spec"]}}}  # fmt: skip
    apply(cluster, namespace, job)
    wait(cluster, namespace, "job/once", "condition=Complete")
    [name] = cluster.kubectl("get", "pods", "-l", "job-name=once", "-n", namespace, "-o", "name").split()
    name = name.removeprefix("pod/")
    assert "hello from the sidecar" in node.log(namespace, name)
    # The sidecar gets SIGTERM once the main container exited: 143, 128 + SIGTERM (not SIGKILL's 137).
    wait(cluster, namespace, f"pod/{name}", "jsonpath={.status.initContainerStatuses[0].state.terminated.exitCode}=143")
    done = get(cluster, namespace, f"pod/{name}")["status"]
    assert done["phase"] == "Succeeded"  # the main container's alone
    [main], [server_status] = done["containerStatuses"], done["initContainerStatuses"]
    assert main["state"]["terminated"]["exitCode"] == 0 and main["state"]["terminated"]["reason"] == "Completed"
    assert server_status["restartCount"] == 0 and not server_status["ready"]


def test_a_sidecar_that_exits_is_restarted_with_its_termination_message(control_plane, node, namespace):
    cluster = control_plane
    # Each run counts itself in the pod's emptyDir and says which it was at its own terminationMessagePath.
    crash = (
        'n=$(($(cat /data/runs 2>/dev/null || echo 0) + 1)); echo $n >/data/runs; printf "run %s" $n >/tmp/why; exit 3'
    )
    flaky = sidecar("flaky", ["sh", "-c", crash], terminationMessagePath="/tmp/why",
                    volumeMounts=[{"name": "data", "mountPath": "/data"}])  # fmt: skip
    since = version(cluster, namespace)
    apply(cluster, namespace, pod("steady", ["sleep", "600"], initContainers=[flaky],
                                  volumes=[{"name": "data", "emptyDir": {}}]))  # fmt: skip

    def restarts(event: dict) -> int:
        return event["object"]["status"].get("initContainerStatuses", [{}])[0].get("restartCount", 0)

    events = watch_pods(cluster, namespace, since, lambda seen: restarts(seen[-1]) >= 2)
    flaky_statuses = [e["object"]["status"]["initContainerStatuses"][0] for e in events if restarts(e)]
    for status in flaky_statuses:  # its last run's end, whatever the pod's restartPolicy (Never)
        assert status["lastState"]["terminated"]["exitCode"] == 3, status
        assert status["lastState"]["terminated"]["reason"] == "Error"
        assert status["lastState"]["terminated"]["message"] == f"run {status['restartCount']}"
    assert any(s["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff" for s in flaky_statuses)
    last = events[-1]["object"]["status"]
    [main] = last["containerStatuses"]
    assert last["phase"] == "Running" and "running" in main["state"] and main["restartCount"] == 0
