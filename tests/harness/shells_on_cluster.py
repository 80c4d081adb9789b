"""CloudShells on the real control plane as a user meets them: applied with kubectl, awaited until a
phase, and their terminal reached through the API server's service proxy (tests/integration/
test_operator_on_cluster.py, test_routes_on_cluster.py)."""

from __future__ import annotations

import json
import subprocess

import yaml

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controlplane import ControlPlane


def kubectl_json(cluster: ControlPlane, *args: str) -> dict:
    return json.loads(cluster.kubectl(*args, "-o", "json"))


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


async def terminal(cluster: ControlPlane, namespace: str, service: str, path: str = "") -> TtydClient:
    """The shell's ttyd through the API server's service proxy, as the admin."""
    folder = cluster.admin.parent
    url = f"{cluster.url}/api/v1/namespaces/{namespace}/services/{service}:7681/proxy{path}/ws"
    return await TtydClient.connect(
        url.replace("https://", "wss://"), ca_certs=str(cluster.ca_file),
        client_cert=str(folder / "admin.crt"), client_key=str(folder / "admin.key"),
    )  # fmt: skip


async def answers(client: TtydClient) -> None:
    """The terminal runs a command and shows its output; then the client leaves."""
    try:
        await client.send("echo $((6*7))\r")
        await client.expect("42")
    finally:
        await client.close()
