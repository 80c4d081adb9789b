"""CloudShells on the real control plane as a user meets them: applied with kubectl, awaited until a
phase, and their terminal reached through the API server's service proxy (tests/integration/
test_operator_on_cluster.py, test_routes_on_cluster.py); or made through alice's Jupyter server
outside the cluster, its REST API and its event stream (test_server_on_cluster.py,
test_backend_on_cluster.py, test_notebook_on_cluster.py)."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from kubernetes import watch
from kubernetes.client import CoreV1Api
from kubernetes.config import new_client_from_config
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.cloudshell.names import SHELL_LABEL
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controlplane import ControlPlane, KubectlError
from tests.harness.servers import JupyterProcess
from tests.harness.sse import EventStream


def kubectl_json(cluster: ControlPlane, *args: str) -> dict:
    return json.loads(cluster.kubectl(*args, "-o", "json"))


def apply(cluster: ControlPlane, namespace: str, name: str, **spec: object) -> None:
    """CloudShell ``name`` of ``spec``, as a user applies it with kubectl."""
    shell = {"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
             "spec": spec}  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(shell))


def folder_pv(cluster: ControlPlane, name: str, folder: Path, node: str | None, access: str) -> None:
    """An administrator's storage: PersistentVolume ``name`` (of storage class ``name``, 1Gi, retained)
    bound to ``folder`` of this machine, where a test reads what the pods wrote: a ``local`` one on
    ``node`` (whose root gets the pod's fsGroup, as a kubelet gives it) or, with no node, a ``hostPath``
    one (left as it is)."""
    spec: dict = {"capacity": {"storage": "1Gi"}, "accessModes": [access], "storageClassName": name,
                  "persistentVolumeReclaimPolicy": "Retain"}  # fmt: skip
    if node is None:
        spec["hostPath"] = {"path": str(folder)}
    else:
        spec["local"] = {"path": str(folder)}
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}  # fmt: skip
    volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(volume))


def ready(cluster: ControlPlane, namespace: str, name: str, phase: str = "Ready", timeout: int = 90) -> dict:
    """The shell once in ``phase`` (``kubectl wait``: a watch), or a failure that shows its status
    and its pods'."""
    try:
        cluster.kubectl("wait", f"--for=jsonpath={{.status.phase}}={phase}", f"cloudshell/{name}", "-n", namespace,
                        f"--timeout={timeout}s")  # fmt: skip
    except subprocess.CalledProcessError:
        status = kubectl_json(cluster, "get", "cloudshell", name, "-n", namespace).get("status")
        pods = kubectl_json(cluster, "get", "pods", "-n", namespace, "-l", f"job-name=cloudshell-{name}")["items"]
        raise AssertionError(f"{name} not {phase}: {yaml.safe_dump(status)}\npods: "
                             f"{yaml.safe_dump([p['status'] for p in pods])}") from None  # fmt: skip
    return kubectl_json(cluster, "get", "cloudshell", name, "-n", namespace)


def watch_pods(
    cluster: ControlPlane,
    namespace: str,
    selector: str,
    until: Callable[[dict[str, dict]], bool],
    timeout: int = 90,
    listed: threading.Event | None = None,
) -> dict[str, dict]:
    """The pods ``selector`` matches, by name, as a watch shows them once ``until`` holds of them.
    ``listed`` is set once they are listed: every change after that is seen (run in a thread)."""
    api = CoreV1Api(new_client_from_config(str(cluster.admin)))
    try:
        listing = api.list_namespaced_pod(namespace, label_selector=selector)
        pods = {p.metadata.name: api.api_client.sanitize_for_serialization(p) for p in listing.items}
        if listed is not None:
            listed.set()
        if until(pods):
            return pods
        since = listing.metadata.resource_version
        stream = watch.Watch().stream(api.list_namespaced_pod, namespace, label_selector=selector,
                                      resource_version=since, timeout_seconds=timeout)  # fmt: skip
        for event in stream:
            pod = api.api_client.sanitize_for_serialization(event["object"])
            if event["type"] == "DELETED":
                pods.pop(pod["metadata"]["name"], None)
            else:
                pods[pod["metadata"]["name"]] = pod
            if until(pods):
                return pods
        raise AssertionError(f"pods {selector} not as wanted within {timeout}s: {yaml.safe_dump(pods)[-3000:]}")
    finally:
        api.api_client.close()


def unclaimed(pods: dict[str, dict]) -> list[str]:
    """The pool pods (of a ``watch_pods`` of POOL_LABEL) not yet anyone's: no shell's label."""
    return sorted(name for name, pod in pods.items() if SHELL_LABEL not in (pod["metadata"].get("labels") or {}))


def pool_ready(pods: dict[str, dict]) -> list[str]:
    """Of those, the ones a shell may claim now: Ready, and not being deleted."""
    return [
        name for name in unclaimed(pods)
        if not pods[name]["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (pods[name].get("status") or {}).get(
            "conditions") or [])
    ]  # fmt: skip


def refused(cluster: ControlPlane, namespace: str, name: str) -> str:
    """The message of a shell the operator refused (Failed, InvalidSpec: its Ready and Failed conditions)."""
    conditions = ready(cluster, namespace, name, "Failed")["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in conditions] == [
        ("Ready", "False", "InvalidSpec"), ("Failed", "True", "InvalidSpec")]  # fmt: skip
    return conditions[-1]["message"]


def enforced(cluster: ControlPlane, kubeconfig: Path, beyond: dict, timeout: float = 60) -> None:
    """Once the API server enforces the chart's admission policy, for the holder of ``kubeconfig``:
    it loads a new policy by itself (a second or so after it is stored, more on a busy machine) and
    says so nowhere, so a refused dry run of ``beyond`` (a CloudShell beyond the policy) is the sign."""
    probe = json.dumps(beyond)
    deadline = time.monotonic() + timeout
    while True:  # each try is a request: no sleep between them is needed
        try:
            cluster.kubectl("create", "--dry-run=server", "-f", "-", input=probe, kubeconfig=kubeconfig)
        except KubectlError as e:
            assert "denied request" in e.stderr, e.stderr
            return
        assert time.monotonic() < deadline, f"the policy was not enforced within {timeout:g}s"


async def terminal(cluster: ControlPlane, namespace: str, service: str, path: str = "") -> TtydClient:
    """The shell's ttyd through the API server's service proxy, as the admin."""
    folder = cluster.admin.parent
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/services/{service}:7681/proxy{path}/ws"
    return await TtydClient.connect(
        url.replace("https://", "wss://"), ca_certs=str(cluster.ca_file),
        client_cert=str(folder / "admin.crt"), client_key=str(folder / "admin.key"),
    )  # fmt: skip


def token(cluster: ControlPlane, namespace: str, name: str) -> str:
    """The shell's ttyd token, from its Secret, as its owner's Jupyter server reads it."""
    secret = kubectl_json(cluster, "get", "secret", f"cloudshell-{name}", "-n", namespace)
    return base64.b64decode(secret["data"]["token"]).decode()


async def shell_terminal(cluster: ControlPlane, namespace: str, name: str, route: str = "") -> TtydClient:
    """Shell ``name``'s ttyd through the API server's service proxy, as the admin: under its route
    path (path-routed modes), then its token."""
    return await terminal(cluster, namespace, f"cloudshell-{name}", f"{route}/{token(cluster, namespace, name)}")


async def answers(client: TtydClient) -> None:
    """The terminal runs a command and shows its output; then the client leaves."""
    try:
        await client.send("echo $((6*7))\r")
        await client.expect("42")
    finally:
        await client.close()


# --- through alice's Jupyter server ---------------------------------------------------------------


def server(namespace: str, kubeconfig: Path, root: Path, **options: object) -> JupyterProcess:
    """alice's Jupyter server outside the cluster, as docs/administrators.md configures it, and ``options``
    (``c.CloudTTY.<name>``: a list is given item by item, a dict as key=value pairs)."""
    root.mkdir(exist_ok=True)
    settings = {"backend": "kubernetes", "kubeconfig": kubeconfig, "namespace": namespace, "owner": "alice",
                "connect_via": "apiserver", **options}  # fmt: skip
    args: list[str] = []
    for name, value in settings.items():
        if isinstance(value, dict):
            value = [f"{key}={item}" for key, item in value.items()]
        args += [f"--CloudTTY.{name}={item}" for item in (value if isinstance(value, list) else [value])]
    return JupyterProcess("jupyter_server", root, args=tuple(args))


async def call(jupyter: JupyterProcess, method: str = "GET", path: str = "", body: object = None) -> tuple[int, Any]:
    """A REST call as the panel makes it: (status, the JSON answer)."""
    try:
        response = await jupyter.fetch(f"cloudtty/api/shells{path}", method, body)
    except HTTPClientError as e:
        assert e.response is not None, e
        response = e.response
    return response.code, json.loads(response.body) if response.body else None


async def in_new_shell(jupyter: JupyterProcess, name: str, command: str, shown: str) -> None:
    """As alice's browser would: a new shell ``name``, ``command`` typed in its terminal until ``shown`` (a
    pattern) is, then the shell deleted."""
    assert (await jupyter.fetch("cloudtty/api/shells", "POST", {"name": name})).code == 201
    term = await jupyter.terminal(name)
    await term.send(command + "\r")
    await term.expect(shown)
    await term.close()
    assert (await jupyter.fetch(f"cloudtty/api/shells/{name}", "DELETE")).code == 204


async def shells(jupyter: JupyterProcess) -> dict[str, str]:
    """name -> phase, as the server lists them."""
    status, listed = await call(jupyter)
    assert status == 200, listed
    return {shell["name"]: shell["status"].get("phase", "") for shell in listed}


def events(jupyter: JupyterProcess) -> EventStream:
    """The server's event stream (``async with``)."""
    return EventStream(f"http://127.0.0.1:{jupyter.port}/cloudtty/api/events", jupyter.headers)
