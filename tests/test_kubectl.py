"""What a %kubectl command line asks for (pure), and what its user reads when kubectl fails."""

from __future__ import annotations

import pytest
import yaml

from jupyter_cloudtty.kernel.kubectl import HeldErrors, message, no_cluster, parse


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


# What kubectl (v1.37) writes to stderr without a kubeconfig: five klog lines, then its message.
REFUSED_LOG = (
    'E1207 04:17:13.855064   18066 memcache.go:381] "Couldn\'t get current server API group list" '
    'err="Get \\"http://localhost:8080/api?timeout=32s\\": dial tcp 127.0.0.1:8080: connect: connection refused"'
)
NO_CLUSTER = [REFUSED_LOG] * 5 + [
    "The connection to the server localhost:8080 was refused - did you specify the right host or port?"
]
REFUSED = "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?"


class Stream:
    """A file kubectl's output is copied to: what was written, in order, across two of them."""

    def __init__(self, name: str, written: list[tuple[str, str]]):
        self.name, self.written = name, written

    def write(self, text: str) -> None:
        self.written.append((self.name, text))

    def flush(self) -> None:
        pass


def streams() -> tuple[Stream, Stream, list[tuple[str, str]]]:
    written: list[tuple[str, str]] = []
    return Stream("out", written), Stream("err", written), written


def test_kubectls_own_lines_pass_as_they_come():
    out, err, written = streams()
    errors = HeldErrors(out, err)
    errors.err.write('Error from server (NotFound): pods "nope" ')
    assert written == []  # half a line
    errors.err.write("not found\nWarning: x\n")
    assert written == [("err", 'Error from server (NotFound): pods "nope" not found\n'), ("err", "Warning: x\n")]
    assert errors.end() == []


def test_log_lines_wait_until_kubectl_fails_or_goes_on():
    out, err, written = streams()
    errors = HeldErrors(out, err)
    errors.err.write("\n".join(NO_CLUSTER[:2]) + "\n")
    errors.err.write("Warning: after the log, kept in order\n")
    assert written == []
    errors.out.write("NAME   READY\n")  # kubectl went on: they were warnings, and come first
    assert [name for name, _ in written] == ["err", "out"]
    assert written[0][1] == "\n".join([*NO_CLUSTER[:2], "Warning: after the log, kept in order"]) + "\n"
    errors.err.write(NO_CLUSTER[-1])  # no newline at the end
    assert errors.end() == [NO_CLUSTER[-1]] and errors.end() == []


def test_with_v_everything_passes():
    out, err, written = streams()
    errors = HeldErrors(out, err, hold=False)
    errors.err.write(REFUSED_LOG + "\n")
    assert written == [("err", REFUSED_LOG + "\n")] and errors.end() == []


def test_a_failures_message_is_kubectls_own_line_without_its_log():
    assert message([*NO_CLUSTER[:5], REFUSED]) == [REFUSED]
    assert message(NO_CLUSTER[:2]) == NO_CLUSTER[:2]  # nothing else to show


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home: no ~/.kube/config."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def kubeconfig(path, server: str | None = "https://127.0.0.1:6443", current: str | None = "x"):
    cluster = {"server": server} if server else {"insecure-skip-tls-verify": True}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                **({"current-context": current} if current else {}),
            }
        )
    )
    return path


def test_no_kubeconfig_is_said_in_one_line_with_where_kubectl_looked(home):
    assert no_cluster(parse("get pods"), NO_CLUSTER, env={}) == (
        f"kubectl has no cluster: no kubeconfig at {home}/.kube/config and no in-cluster ServiceAccount; "
        "point KUBECONFIG at your kubeconfig file: %env KUBECONFIG=PATH"
    )
    missing = f"{home}/a.yaml:{home}/b.yaml"
    assert no_cluster(parse("get pods"), NO_CLUSTER, env={"KUBECONFIG": missing}) == (
        f"kubectl has no cluster: no kubeconfig at {missing} ($KUBECONFIG) and no in-cluster ServiceAccount; "
        "point KUBECONFIG at your kubeconfig file: %env KUBECONFIG=PATH"
    )


def test_a_kubeconfig_without_a_context_or_a_server_is_said_too(home):
    path = kubeconfig(home / "config", current=None)
    assert no_cluster(parse("get pods"), NO_CLUSTER, env={"KUBECONFIG": str(path)}) == (
        f"kubectl has no cluster: kubeconfig {path} has no current-context; name a context: "
        "%kubectl config use-context NAME"
    )
    path = kubeconfig(home / "config", server=None)
    assert no_cluster(parse("get pods"), NO_CLUSTER, env={"KUBECONFIG": str(path)}) == (
        f"kubectl has no cluster: kubeconfig {path}, context 'x' names no server (cluster 'c'): "
        "%kubectl config set-cluster c --server=URL"
    )
    explicit = kubeconfig(home / "other", current=None)  # --kubeconfig is read instead of $KUBECONFIG
    said = no_cluster(parse(f"--kubeconfig {explicit} get pods"), NO_CLUSTER, env={"KUBECONFIG": str(path)})
    assert said is not None and f"kubeconfig {explicit} has no current-context" in said


def test_kubectls_own_error_stands_where_it_had_a_cluster(home):
    usable = {"KUBECONFIG": str(kubeconfig(home / "config"))}
    assert no_cluster(parse("get pods"), [REFUSED], env=usable) is None
    assert no_cluster(parse("get pods"), NO_CLUSTER, env=usable) is None  # its server may be localhost:8080
    assert no_cluster(parse("get pods"), [REFUSED], env={}) is None  # not the default server
    assert no_cluster(parse("-s http://localhost:8080 get pods"), NO_CLUSTER, env={}) is None
    assert no_cluster(parse("get pods"), NO_CLUSTER, env={"KUBERNETES_MASTER": "http://localhost:8080"}) is None
