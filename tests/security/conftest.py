"""The security suite: a reproducible Hypothesis profile (the cluster's fixtures: tests/harness/kube_fixtures.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

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
