"""Fixtures for a Jupyter server (pytest-jupyter) on the Kubernetes backend, against kmock's emulator
(a pytest plugin of tests/conftest.py, for every test directory).

A module opts in by taking ``kubernetes_config`` as its ``cloudtty_config`` and stopping the
backend before the cluster::

    @pytest.fixture
    def cloudtty_config(kubernetes_config):
        return kubernetes_config

    pytestmark = pytest.mark.usefixtures("backend_stops_before_the_cluster")

``policy_config`` adds ``c.CloudTTY`` options (parametrize it per test).
"""

from __future__ import annotations

import pytest

from tests.harness.kube import EmulatorThread, ShellPods, write_kubeconfig


@pytest.fixture
def k8s():
    """kmock's emulated API server, on a thread of its own."""
    with EmulatorThread() as emulator:
        yield emulator


@pytest.fixture
def kube(k8s):
    """The emulator's API, as another controller (or kubectl) calls it."""
    return k8s.api


@pytest.fixture
def policy_config():
    return {}


@pytest.fixture
def kubernetes_config(k8s, tmp_path, policy_config):
    """``c.CloudTTY`` for alice's shells on the emulator, their ttyd reached at ``status.accessUrl``."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s.url)
    return {
        "backend": "kubernetes",
        "kubeconfig": str(kubeconfig),
        "owner": "alice",
        "connect_via": "url",
        "detach_timeout": 2.0,
        **policy_config,
    }


@pytest.fixture
def backend_stops_before_the_cluster(jp_serverapp, k8s, jp_asyncio_loop):
    """End the backend's watch before the emulator goes (pytest-jupyter stops servers late)."""
    yield
    app = jp_serverapp.extension_manager.extension_points["jupyter_cloudtty"].app
    jp_asyncio_loop.run_until_complete(app.shell_backend.shutdown())


@pytest.fixture
def events_url(http_server_client, jp_http_port, jp_base_url):
    """The event stream's URL (http_server_client: the server listens once a test asks for it)."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}cloudtty/api/events"


@pytest.fixture
def pods(kube, tmp_path, jp_asyncio_loop):
    """Plays the operator and the kubelet: a real ttyd pod per Ready shell (harness/kube.py, harness/pods.py)."""
    pods = ShellPods(kube, tmp_path)
    yield pods
    jp_asyncio_loop.run_until_complete(pods.stop())
