"""Fuzzing (Hypothesis): spec validation, frame parsing and the policy, alone and through a real server.

Pure: any JSON value, and valid CloudShell specs with one field mutated, are either valid or an
``InvalidShell`` naming that field; any frame is a handshake or a ``ProtocolError``, a resize or
nothing; the policy accepts a spec only as the administrator's, or refuses it naming the field.
Through a server: fuzzed POST bodies get 201/400/409/413/429 with a JSON message, never a 500, and
leave the shells as they were (no half-created shell, no process; on the Kubernetes backend no
CloudShell); fuzzed WebSocket frames before the handshake are refused with 4003 or taken as one,
after it are ignored or obeyed, and the terminal still works; nothing is logged at ERROR.

Examples are derandomized and few (conftest.py's profile): the same in every CI run, a few seconds.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tornado.websocket import WebSocketClosedError

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.spec import (
    SPEC_FIELDS,
    _field,
    parse_create_request,
    ttl_seconds,
    validate_name,
    validate_spec,
)
from jupyter_cloudtty.server.backends.kubernetes import policy
from jupyter_cloudtty.ttyd import protocol
from jupyter_cloudtty.ttyd.protocol import ProtocolError
from tests.harness.kube import NS, write_kubeconfig
from tests.harness.objects import FULL_SPEC
from tests.harness.world import Server, extension, own_processes

# --- strategies ---------------------------------------------------------------------------------

# Characters that have broken parsers, selectors, command lines and logs before.
TRICKY = ["", " ", "\n", "\r\n", "\0", "\x1b[2J", "/", "../", "..", "%2F", "|", "=", ",", "$(id)", "'", '"', "\\",
          "²", "٣", "é", "\ud7ff", "A", "-", ".", "*", "root", "0", "2147483648", "NaN", "1e999",
          "[" * 2000, "x" * 300]  # fmt: skip
texts = st.one_of(st.text(max_size=12), st.sampled_from(TRICKY), st.builds(str.__add__, st.text(max_size=6),
                  st.sampled_from(TRICKY)))  # fmt: skip
integers = st.one_of(st.integers(-5, 5), st.integers(), st.sampled_from([2**31 - 1, 2**31, 2**63, 10**400, -(10**30)]))
scalars = st.one_of(st.none(), st.booleans(), integers, st.floats(), texts)
keys = st.one_of(texts, st.sampled_from([*SPEC_FIELDS, "name", "value", "valueFrom", "spec", "metadata", "owner"]))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)

# Valid specs: every field (the pure fuzzing), what the local backend runs, what the cluster policy takes.
FULL = {**FULL_SPEC, "image": "registry.example/shells/py:3"}  # an image the POLICIES allow
LOCAL = {"commandAction": "true", "once": False, "ttlSecondsAfterStarted": 600, "ttl": 300, "cleanup": True,
         "env": [{"name": "FOO", "value": "bar"}], "ttydClientOptions": {"fontSize": "20"}}  # fmt: skip
CLUSTER = {**LOCAL, "image": "registry.example/shells/py:3"}
CLUSTER_POLICY = {"allowed_images": ["registry.example/shells/*"], "max_ttl": 600}


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every key and index path into a spec, deepest included."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def dotted(path: tuple) -> str:
    return "spec" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``base`` with one field replaced by anything, an edited string, or removed; and the path of what
    changed (for a removed field, the object that lost it)."""
    spec, path = copy.deepcopy(base), draw(st.sampled_from(_paths(base)))
    *parents, last = path
    holder = spec
    for part in parents:
        holder = holder[part]
    original = holder[last]
    edited = st.builds(lambda a, b: a + original + b, texts, texts) if isinstance(original, str) else json_values
    choice = draw(st.sampled_from(["replace", "edit", "remove"]) if isinstance(holder, dict) else st.just("replace"))
    if choice == "remove":
        del holder[last]
        return spec, dotted(tuple(parents)) if parents else "spec"
    holder[last] = draw(edited if choice == "edit" else json_values)
    return spec, dotted(path)


def names_the_field(error: InvalidShell, field: str) -> bool:
    """The error is about ``field`` or something inside it."""
    return error.field == field or error.field.startswith((f"{field}.", f"{field}["))


# --- pure: validation, parsing, policy ------------------------------------------------------------


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_as_a_spec_is_valid_or_names_its_field(value):
    try:
        spec = validate_spec(value)
    except InvalidShell as e:
        assert e.field.startswith("spec") and str(e).startswith(f"{e.field}: "), e
        assert len(str(e)) < 1000, "messages stay short whatever the input"
    else:
        assert validate_spec(spec) == spec


@settings(max_examples=300)
@given(mutated(FULL))
def test_a_spec_with_one_field_mutated_is_valid_or_names_that_field(mutation):
    spec, field = mutation
    try:
        out = validate_spec(spec)
    except InvalidShell as e:
        assert names_the_field(e, field), (field, str(e))
    else:
        assert validate_spec(out) == out
        json.dumps(out, allow_nan=False)  # what a Kubernetes API server stores


@settings(max_examples=200)
@given(st.one_of(texts, json_values))
def test_a_name_is_a_dns_label_or_refused(name):
    try:
        valid = validate_name(name)
    except InvalidShell as e:
        assert e.field == "name"
    else:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", valid) and len(valid) <= 52


@settings(max_examples=200)
@given(json_values)
def test_a_create_request_is_parsed_or_refused_naming_the_field(body):
    try:
        name, spec = parse_create_request(body)
    except InvalidShell as e:
        keys = {_field("", key)[1:] for key in body} if isinstance(body, dict) else set()  # as messages show them
        assert e.field in ("body", "name") or e.field.startswith("spec") or e.field in keys, e
    else:
        assert name is None or validate_name(name) == name


handshakes = st.one_of(
    st.binary(max_size=40),
    st.builds(bytes.__add__, st.sampled_from([b"{", b"0", b"1", b"2", b"3", b'{"AuthToken": ']), st.binary(max_size=9)),
    st.builds(lambda value: json.dumps(value).encode(), json_values),
    st.builds(lambda d: json.dumps(d).encode(), st.fixed_dictionaries({}, optional={
        "AuthToken": json_values, "columns": json_values, "rows": json_values})),
)  # fmt: skip


@settings(max_examples=400)
@given(handshakes)
@example(b'{"a":' + b"[" * 30000 + b"]" * 30000 + b"}")  # a RecursionError before the fix
@example(b'{"columns": 1e999, "rows": NaN}')
@pytest.mark.slow
def test_a_frame_is_a_handshake_or_a_protocol_error(frame):
    try:
        handshake = protocol.parse_handshake(frame)
    except ProtocolError as e:
        assert str(e)
    else:
        assert isinstance(handshake.auth_token, str)
        assert handshake.size is None or all(0 < n <= protocol.MAX_DIMENSION for n in handshake.size)


@settings(max_examples=300)
@given(handshakes)
@example(b"[" * 30000)  # a RecursionError before the fix
def test_a_resize_payload_is_a_size_or_nothing(payload):
    size = protocol.parse_resize(payload)
    assert size is None or all(isinstance(n, int) and 0 < n <= protocol.MAX_DIMENSION for n in size)


@settings(max_examples=200)
@given(st.one_of(texts, st.sampled_from(["[" * 5000 + "]" * 5000, "NaN", "1e999", '{"a": [1, 2]}'])))
def test_a_ttyd_client_option_is_json_or_kept_as_text(value):
    option = protocol.client_option_value(value)
    json.dumps(option, allow_nan=False)  # what the browser's JSON.parse must read back


POLICIES = [
    policy.Policy(namespace="team"),
    policy.Policy(namespace="team", default_image="reg/shell:1", allowed_images=("registry.example/shells/*",),
                  max_ttl=600, default_exposure="NodePort", kubeconfig_secret="kc", extra_labels={"team": "a"}),
]  # fmt: skip


@settings(max_examples=300)
@given(mutated(FULL), st.sampled_from(POLICIES), st.one_of(st.sampled_from(["alice", "bob"]), texts))
def test_the_policy_accepts_a_request_only_as_the_administrators_or_names_the_refused_field(mutation, admin, owner):
    spec, _ = mutation
    try:
        valid = validate_spec(spec)
        obj = policy.cloudshell("s1", valid, owner, admin)
    except InvalidShell as e:
        assert e.field.startswith("spec.") and str(e).startswith(f"{e.field}: "), e
        return
    out, meta = obj["spec"], obj["metadata"]
    # Whose, where and how reached are the server's, whatever the request said.
    assert meta["namespace"] == admin.namespace and policy.owned_by(obj, owner)
    assert meta["labels"][policy.OWNER_LABEL] == policy.owner_label(owner)
    assert out["exposureMode"] == admin.default_exposure
    assert out.get("secretRef") == ({"name": admin.kubeconfig_secret} if admin.kubeconfig_secret else None)
    assert not set(out) & {"runAsUser", "configmapName", "ingressConfig", "virtualServiceConfig", "pathPrefix",
                           "pathSuffix", "urlArg"}  # fmt: skip
    assert all("valueFrom" not in var and var["name"] != "TTYD_CREDENTIAL" for var in out.get("env", ()))
    assert out.get("image", admin.default_image) in (admin.default_image, spec.get("image"))
    if "image" in valid:
        assert any(fnmatchcase(valid["image"], pattern) for pattern in admin.allowed_images)
    if admin.max_ttl:
        assert 0 < ttl_seconds(out) <= admin.max_ttl


@settings(max_examples=300)
@given(texts)
@example("alice\n")  # a label value with a trailing newline before the fix
def test_any_owner_gets_a_valid_label_and_namespace(owner):
    label = policy.owner_label(owner)
    assert re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?", label), label
    assert label == owner or label.endswith(policy._digest(owner))
    try:
        namespace = policy.namespace_for("shells-{username}", "default", owner)
    except ValueError as e:
        assert "c.CloudTTY.namespace_template" in str(e)
    else:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace) and len(namespace) <= 63


@settings(max_examples=300)
@given(texts, texts)
@example("john.smith", "john-smith--" + policy._digest("john.smith"))
@example("john.smith", "john-smith-" + policy._digest("john.smith"))
def test_two_owners_never_share_a_per_user_namespace(one, other):
    if one != other:
        assert policy.dns_label(one) != policy.dns_label(other)


# --- through a real server ---------------------------------------------------------------------------


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "local")


@pytest.fixture
def cloudtty_config(backend, request, tmp_path):
    if backend == "local":
        return {"handshake_timeout": 5.0}
    k8s = request.getfixturevalue("k8s")
    return {"backend": "kubernetes", "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", k8s.url)),
            "owner": "bob", "connect_via": "url", **CLUSTER_POLICY}  # fmt: skip


@pytest.fixture
def server(jp_serverapp, http_server_client, jp_http_port, jp_base_url) -> Server:
    return Server(jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)


@pytest.fixture
def run(jp_asyncio_loop):
    """Run a coroutine on the server's loop (a Hypothesis test is synchronous)."""
    return jp_asyncio_loop.run_until_complete


def assert_nothing_alarming(caplog) -> None:
    alarming = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not alarming, caplog.text[-3000:]
    caplog.clear()


ANSWERS = {201, 400, 409, 413, 429}
bodies = st.one_of(
    st.builds(lambda value: json.dumps(value).encode(), json_values),
    st.binary(max_size=60),
    st.builds(lambda m: json.dumps({"spec": m[0]}).encode(), mutated(LOCAL)),
    st.builds(lambda name, m: json.dumps({"name": name, "spec": m[0]}).encode(), texts, mutated(LOCAL)),
)


async def post_and_undo(server: Server, raw: bytes) -> int:
    """POST ``raw``; a created shell is deleted again. Returns the status."""
    got = await server.fetch("POST", "cloudtty/api/shells", raw, server.auth)
    assert got.status in ANSWERS and got.json, got
    if got.status == 201:
        assert (await server.call("DELETE", f"cloudtty/api/shells/{got.data['name']}")).status == 204
    else:
        assert isinstance(got.data, dict) and got.data.get("message"), got
    return got.status


@pytest.mark.slow
def test_fuzzed_bodies_on_the_local_backend(server, jp_serverapp, run, caplog):
    run(extension(jp_serverapp).shell_backend.create("target", {}))
    before = run(server.call("GET", "cloudtty/api/shells")).data
    processes = own_processes()

    @settings(max_examples=150)
    @given(bodies)
    @example(json.dumps({"spec": {"ttydClientOptions": {"a": "[" * 100000 + "]" * 100000}}}).encode())  # was a 500
    @example(b'{"spec": {"ttl": 1' + b"0" * 400 + b"}}")  # was a 500
    @example(b'{"name": "target"}')
    def post(raw: bytes) -> None:
        run(post_and_undo(server, raw))
        # No half-created shell, no process: the list is what it was.
        assert run(server.call("GET", "cloudtty/api/shells")).data == before
        assert own_processes() - processes == set()
        assert_nothing_alarming(caplog)

    post()


@pytest.mark.parametrize("backend", ["kubernetes"], indirect=True)
@pytest.mark.slow
def test_fuzzed_bodies_on_the_kubernetes_backend(backend, server, kube, backend_stops_before_the_cluster, run, caplog):
    before = run(kube.list("CloudShell", NS))
    bodies_cluster = st.one_of(
        bodies,
        st.builds(lambda m: json.dumps({"spec": m[0]}).encode(), mutated(CLUSTER)),
    )

    @settings(max_examples=60)
    @given(bodies_cluster)
    def post(raw: bytes) -> None:
        status = run(post_and_undo(server, raw))
        # After a refusal, the cluster holds no new CloudShell (after a 201, the created one is gone).
        assert [o["metadata"]["name"] for o in run(kube.list("CloudShell", NS))] == [
            o["metadata"]["name"] for o in before
        ], status
        assert_nothing_alarming(caplog)

    post()


frames = st.one_of(
    handshakes,
    st.builds(bytes.__add__, st.sampled_from([b"0", b"1", b"2", b"3", b"9", b"{"]), st.binary(max_size=30)),
    st.builds(lambda d: b"1" + json.dumps(d).encode(), st.fixed_dictionaries({}, optional={
        "columns": json_values, "rows": json_values})),
    st.text(max_size=20),  # a text frame
)  # fmt: skip
ECHO = "stty raw -echo; echo READY; exec cat"  # every byte typed comes back; no signal, no end of input


@pytest.mark.slow
def test_fuzzed_frames_before_the_handshake(server, jp_serverapp, run, caplog):
    run(extension(jp_serverapp).shell_backend.create("fuzz", {"commandAction": ECHO}))
    path = "cloudtty/api/shells/fuzz/terminal"

    async def first_frame(frame: bytes | str) -> None:
        term = await server.terminal(path, server.auth)
        await term.connection.write_message(frame, binary=isinstance(frame, bytes))
        try:
            await term.handshake(80, 24)  # ignored if the fuzzed frame was taken as the handshake
        except WebSocketClosedError:
            pass  # the fuzzed frame was refused already
        got = await term.read_frame()
        if got is None:  # refused: the protocol's close, with why
            assert term.close_code == 4003 and term.close_reason, (term.close_code, term.close_reason)
        else:  # taken as the handshake: ttyd's order, the title first
            assert got[:1] == b"1", got
            term.connection.close()

    @settings(max_examples=120)
    @given(frames)
    @example(b'{"a":' + b"[" * 30000 + b"]" * 30000 + b"}")  # closed without a code before the fix
    @example(b"")
    def send(frame: bytes | str) -> None:
        run(first_frame(frame))
        assert_nothing_alarming(caplog)

    send()
    assert run(server.call("GET", "cloudtty/api/shells/fuzz")).status == 200


def test_fuzzed_frames_after_the_handshake(server, jp_serverapp, run, caplog):
    run(extension(jp_serverapp).shell_backend.create("fuzz", {"commandAction": ECHO}))
    term = run(server.terminal("cloudtty/api/shells/fuzz/terminal", server.auth))
    run(term.handshake(80, 24))
    run(term.expect(rb"READY\r?\n"))
    count = iter(range(1_000_000))

    async def then_still_echoes(sent: list[bytes | str]) -> None:
        for frame in sent:
            await term.connection.write_message(frame, binary=isinstance(frame, bytes))
        marker = f"<marker-{next(count)}>"
        await term.resume()  # whatever the fuzzed frames paused
        await term.send(marker)
        await term.expect(re.escape(marker).encode())

    @settings(max_examples=120)
    @given(st.lists(frames, max_size=4))
    @example([b"1" + b"[" * 30000])  # a RecursionError in the handler before the fix
    @example([b"2", b"2", b'1{"columns": 1, "rows": 1}'])
    def send(sent: list[bytes | str]) -> None:
        run(then_still_echoes(sent))
        assert_nothing_alarming(caplog)

    send()
    assert term.close_code is None, (term.close_code, term.close_reason)
    term.connection.close()
    assert run(server.call("GET", "cloudtty/api/shells/fuzz")).status == 200
