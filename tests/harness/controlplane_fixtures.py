"""Fixtures of the real control plane (tests/harness/controlplane.py): one per test session, a fresh
namespace per test. A pytest plugin of tests/conftest.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from jupyter_cloudtty.cloudshell.crd import crd_yaml
from tests.harness.controlplane import ControlPlane
from tests.harness.kubelet import Kubelet
from tests.harness.route_crds import route_crds

_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> ControlPlane:
    """etcd, kube-apiserver and kube-controller-manager, with the CRDs installed (as admin): CloudShell's,
    and those of Istio's VirtualService and of the Gateway API (tests/harness/route_crds.py)."""
    crds = (crd_yaml(), *route_crds())
    with ControlPlane(Path(tmp_path_factory.mktemp("control-plane")), crds=crds) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def node(control_plane, tmp_path_factory) -> Kubelet:
    """A Ready Node of the cluster (tests/harness/kubelet.py): pods are bound to it and run there."""
    with Kubelet(control_plane, Path(tmp_path_factory.mktemp("node"))) as kubelet:
        yield kubelet
    assert not kubelet.errors, kubelet.errors


@pytest.fixture
def namespace(control_plane) -> str:
    """A namespace of its own for the test, deleted after it."""
    name = f"test-{next(_namespaces)}"
    control_plane.create_namespace(name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")
