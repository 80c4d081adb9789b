"""Which %kubectl gets are read directly (pure)."""

from __future__ import annotations

import pytest

from jupyter_cloudtty.kernel.kubectl import parse
from jupyter_cloudtty.kernel.kubectl_get import GetRequest, NotHere, plan


@pytest.mark.parametrize(
    ("line", "request_"),
    [
        ("get pods", GetRequest("pods")),
        ("get Pod web-0", GetRequest("pod", "web-0")),
        ("-n ns get po", GetRequest("po", namespace="ns")),
        ("get po -nns", GetRequest("po", namespace="ns")),
        ("get po -n=ns", GetRequest("po", namespace="ns")),
        ("get po --namespace=ns -l a=b,c!=d", GetRequest("po", namespace="ns", selector="a=b,c!=d")),
        ("get po -lapp=web", GetRequest("po", selector="app=web")),
        (
            "get po -A --field-selector status.phase=Running",
            GetRequest("po", all_namespaces=True, field_selector="status.phase=Running"),
        ),
        ("get po --all-namespaces=false", GetRequest("po")),
        ("--context prod get deployments.apps", GetRequest("deployments.apps", context="prod")),
        ("get pods -o wide", GetRequest("pods", wide=True)),
        ("get pods -n a -n b", GetRequest("pods", namespace="b")),  # kubectl: the last one wins
    ],
)
def test_plain_gets(line, request_):
    assert plan(parse(line)) == request_


@pytest.mark.parametrize(
    "line",
    ["get pods -o name", "get pods -o json", "get pods,services", "get all", "get pod/web-0", "get pods a b",
     "get pod a -A", "describe pods", "get pods -w", "get pods --kubeconfig x", "get", "get pods -n",
     "get pods --show-labels", "get pods -L app"],
)  # fmt: skip
def test_everything_else_is_kubectls(line):
    with pytest.raises(NotHere):
        plan(parse(line))
