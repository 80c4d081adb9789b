"""The tests' node (tests/harness/kubelet.py) runs the control plane's pods as a kubelet would: the
operator's Job gets a Running, Ready pod whose terminal answers through the API server's service
proxy; Pod Security, Secrets, ConfigMaps, ServiceAccount tokens, exit codes and restarts are real,
and so are PersistentVolumeClaims (bound by kube-controller-manager), a deleted pod's SIGTERM and
grace period, and termination messages.

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
    # The API's list and its version (kubectl's `get` makes a List of its own, without one).
    listed = json.loads(cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/pods"))
    since = listed["metadata"]["resourceVersion"]
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
