"""The Kubernetes backend through a real Jupyter server, against kmock's emulated API server.

The server runs with ``c.CloudTTY.backend = "kubernetes"`` and a kubeconfig pointing at the
emulator; the official client talks to it over HTTP. The shells' pods are ttyd stand-ins on
127.0.0.1 (tests/ttyd_server.py), reached through ``connect_via = "url"``.
"""

from __future__ import annotations

import pytest

from tests.kube import NS, EmulatorThread, ShellPods, write_kubeconfig


@pytest.fixture
def k8s():
    with EmulatorThread() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def server_stops_before_the_cluster(jp_serverapp, k8s, jp_asyncio_loop):
    """End the backend's watch before the emulator goes (pytest-jupyter stops servers late)."""
    yield
    app = jp_serverapp.extension_manager.extension_points["jupyter_cloudtty"].app
    jp_asyncio_loop.run_until_complete(app.shell_backend.shutdown())


@pytest.fixture
def kube(k8s):
    return k8s.api


@pytest.fixture
def policy_config():
    return {}


@pytest.fixture
def cloudtty_config(k8s, tmp_path, policy_config):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(k8s.url))
    return {
        "backend": "kubernetes",
        "kubeconfig": str(kubeconfig),
        "owner": "alice",
        "connect_via": "url",
        "detach_timeout": 2.0,
        **policy_config,
    }


@pytest.fixture
def pods(kube, tmp_path, jp_asyncio_loop):
    pods = ShellPods(kube, tmp_path)
    yield pods
    jp_asyncio_loop.run_until_complete(pods.stop())


async def test_a_shell_is_a_cloudshell_and_its_terminal_is_relayed(api, kube, pods, connect):
    status, shell, _ = await api("POST", body={"name": "s1", "spec": {"commandAction": "bash"}})
    assert status == 201, shell
    obj = await kube.get("CloudShell", NS, "s1")
    assert obj["metadata"]["labels"]["jupyter-cloudtty.io/owner"] == "alice"
    assert obj["metadata"]["annotations"]["jupyter-cloudtty.io/owner"] == "alice"
    await pods.ready("s1")
    term = await connect("s1")
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
