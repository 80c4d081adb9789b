"""tests/controlplane/, the Go module of the tests' control plane: every k8s.io module at one release."""

import re

from tests.harness.controlplane import GO_MODULE, release


def test_every_kubernetes_module_is_pinned_to_the_release():
    go_mod = (GO_MODULE / "go.mod").read_text()
    minor_patch = release().removeprefix("v1.")  # k8s.io/kubernetes v1.37.2 is k8s.io/api v0.37.2
    assert re.search(rf"^\s*k8s\.io/kubernetes {re.escape(release())}$", go_mod, re.MULTILINE)
    staging = re.findall(r"^\s*(k8s\.io/[\w./-]+) => (k8s\.io/[\w./-]+) (v\S+)$", go_mod, re.MULTILINE)
    assert len(staging) > 20, "k8s.io/kubernetes names its staging modules v0.0.0: each needs a replace"
    assert [m for m, target, version in staging if target != m or version != f"v0.{minor_patch}"] == []
