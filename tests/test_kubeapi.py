"""Which %kubectl gets are read directly, and kubeconfig merging as kubectl merges (pure)."""

from __future__ import annotations

import pytest

from jupyter_cloudtty.kernel.kubectl_get import GetRequest, NotHere, merge_kubeconfigs, plan


@pytest.mark.parametrize(
    ("line", "request_"),
    [
        ("get pods", GetRequest("pods")),
        ("get Pod web-0", GetRequest("pod", "web-0")),
        ("-n ns get po", GetRequest("po", namespace="ns")),
        ("get po -nns", GetRequest("po", namespace="ns")),
        ("get po --namespace=ns -l a=b,c!=d", GetRequest("po", namespace="ns", selector="a=b,c!=d")),
        (
            "get po -A --field-selector status.phase=Running",
            GetRequest("po", all_namespaces=True, field_selector="status.phase=Running"),
        ),  # noqa: E501
        ("--context prod get deployments.apps", GetRequest("deployments.apps", context="prod")),
    ],
)
def test_plain_gets(line, request_):
    assert plan(line.split()) == request_


@pytest.mark.parametrize(
    "line",
    ["get pods -o wide", "get pods,services", "get all", "get pod/web-0", "get pods a b", "get pod a -A",
     "describe pods", "get pods -w", "get pods --kubeconfig x", "get", "get pods -n"],
)  # fmt: skip
def test_everything_else_is_kubectls(line):
    with pytest.raises(NotHere):
        plan(line.split())


def test_kubeconfigs_merge_as_kubectl_merges_them():
    first = {"current-context": "", "contexts": [{"name": "a", "context": {"namespace": "first"}}]}
    second = {
        "current-context": "b",
        "contexts": [{"name": "a", "context": {"namespace": "second"}}, {"name": "b", "context": {}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    merged = merge_kubeconfigs([first, second])
    assert merged["current-context"] == "b"
    assert merged["contexts"] == [{"name": "a", "context": {"namespace": "first"}}, {"name": "b", "context": {}}]
    assert merged["users"] == [{"name": "u", "user": {"token": "t"}}]
