"""What a %kubectl command line asks for (pure)."""

from __future__ import annotations

import pytest

from jupyter_cloudtty.kernel.kubectl import parse


@pytest.mark.parametrize(
    ("line", "verb", "output", "streams", "table", "structured"),
    [
        ("get pods", "get", None, False, True, False),
        ("-n kube-system get pods", "get", None, False, True, False),
        ("--context prod get po -l app=web", "get", None, False, True, False),
        ("get pods -o json", "get", "json", False, False, True),
        ("get pods -oyaml", "get", "yaml", False, False, True),
        ("get pods --output=json", "get", "json", False, False, True),
        ("get pods -o wide", "get", "wide", False, True, False),  # a table: the server's wide columns
        (
            "get pods -o 'custom-columns=NAME:.metadata.name'",
            "get",
            "custom-columns=NAME:.metadata.name",
            False,
            False,
            False,
        ),
        ("get pods -w", "get", None, True, False, False),
        ("get pods --watch -o json", "get", "json", True, False, False),
        ("logs -f web-0", "logs", None, True, False, False),
        ("logs web-0", "logs", None, False, False, False),
        ("apply -f -", "apply", None, False, False, False),
        ("create -f - -o json", "create", "json", False, False, True),
        ("", None, None, False, False, False),
    ],
)
def test_parse(line, verb, output, streams, table, structured):
    command = parse(line)
    assert (command.verb, command.output, command.streams) == (verb, output, streams)
    assert (command.table, command.structured) == (table, structured)


def test_operands_and_several_kinds():
    assert parse("-n x get pods web-0 -l a=b").operands == ("pods", "web-0")
    assert not parse("get pods").several_kinds
    assert parse("get pods,services").several_kinds and parse("get all").several_kinds
    assert parse("get pod/a service/b").several_kinds and not parse("get pod/a pod/b").several_kinds


def test_quotes_are_split_as_a_shell_splits_them():
    assert parse("get pods -l 'app in (web, api)'").args == ("get", "pods", "-l", "app in (web, api)")
    with pytest.raises(ValueError):
        parse("get 'pods")


def test_flags_with_their_values_however_written():
    command = parse("--context=prod get pods -nns -lapp=web --field-selector x=y -A --show-labels -o wide")
    assert command.flags == (
        ("--context", "prod"), ("-n", "ns"), ("-l", "app=web"), ("--field-selector", "x=y"), ("-A", None),
        ("--show-labels", None),
    )  # fmt: skip
    assert (command.context, command.namespace, command.all_namespaces, command.output) == ("prod", "ns", True, "wide")
    assert parse("get pods -n=a --namespace b").namespace == "b"  # the last one wins, as in kubectl
    assert not parse("get pods --all-namespaces=false").all_namespaces
    assert parse("get pods -n").flags == (("-n", None),)  # no value: kubectl will say so
