"""The tests' node (tests/harness/kubelet.py) runs the control plane's pods as a kubelet would: the
operator's Job gets a Running, Ready pod whose terminal answers through the API server's service
proxy; Pod Security, Secrets, ConfigMaps, ServiceAccount tokens, exit codes and restarts are real.

Each check is made as a cluster's user sees it: kubectl, the pod's status, the API server's proxy.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request

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
