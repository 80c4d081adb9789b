"""The security suite: a reproducible Hypothesis profile, and the emulated cluster of the Kubernetes rows."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.kube import EmulatorThread, ShellPods
from tests.security.world import extension

# Reproducible in CI: the same examples every run, no example database written into the tree. A
# server (a function-scoped fixture) serves every example of a test; each example restores its state.
settings.register_profile(
    "security",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("security")


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
def pods(kube, tmp_path, jp_asyncio_loop):
    """Plays the operator and the kubelet: a ttyd stand-in per Ready shell."""
    pods = ShellPods(kube, tmp_path)
    yield pods
    jp_asyncio_loop.run_until_complete(pods.stop())


@pytest.fixture
def stop_backend(jp_serverapp, jp_asyncio_loop):
    """End the server's backend (its watch of the cluster) before the emulator goes: pytest-jupyter
    stops servers late."""
    yield
    jp_asyncio_loop.run_until_complete(extension(jp_serverapp).shell_backend.shutdown())
