"""The attacks on a Jupyter server with jupyter-cloudtty, and what the server answers each: one table.

A row says who attacks (``who``), what is sent (``Http`` or ``WebSocket``) to which route, on which
backend and with which server settings, and the rejection expected (``Refused``: an HTTP status and
a fragment of its message; ``Closed``: a WebSocket close code and a fragment of its reason;
``NotListed``: the victim's shell is absent). tests/security/test_attacks.py runs every row against a real
server and also checks that nothing was created, started or touched, and that the server logged
no error, no traceback and no token. docs/administrators.md's "Security" section is the short version of this table.

The world each row attacks (tests/harness/world.py):
- local backend: the user's shell ``target``, created but never connected to (so no process yet);
- Kubernetes backend (kmock's emulator): the server is bob's; ``a-kept`` is alice's CloudShell, as her
  own server creates it, ``forged`` one whose owner label says bob but whose owner annotation does not
  (both Ready, a real ttyd as their pod); ``b-own`` is bob's own. The administrator's policy there
  is ``CLUSTER_POLICY`` (images of registry.example/shells/ only, TTLs up to 600 s).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, Union

from jupyter_server.auth import Authorizer

SHELLS = "cloudtty/api/shells"
EVENTS = "cloudtty/api/events"
INFO = "cloudtty/api/info"
RECORDINGS = "cloudtty/api/recordings"
LEAKED = "leaked-secret-123"  # a wrong token: it must never reach the server's log
EVIL = "http://evil.example.com"


def shell(name: str) -> str:
    return f"{SHELLS}/{name}"


def terminal(name: str, query: str = "") -> str:
    return f"{SHELLS}/{name}/terminal{query}"


# --- what is sent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Http:
    """A request to ``path`` (under the base URL, sent as written: no escaping of ours)."""

    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class WebSocket:
    """A WebSocket to ``path``; once open, ``frames`` are sent, then ``raw`` bytes as they are."""

    path: str
    frames: tuple[bytes, ...] = ()
    raw: bytes = b""


# --- what the server answers -----------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """The request (or the WebSocket upgrade) fails with ``status``; its message contains ``says``.

    The message is the JSON ``{"message": ...}`` of the REST API, or (``json=False``) the text of a
    page that is not ours: tornado's refusal of a cross-origin WebSocket, Jupyter's 404 page.
    """

    status: int
    says: str
    json: bool = True


@dataclass(frozen=True)
class Closed:
    """The WebSocket opens, then the server closes it with ``code``; the reason contains ``says``."""

    code: int
    says: str


@dataclass(frozen=True)
class NotListed:
    """The answer succeeds but shows none of the victims' shells, then or later (event streams)."""


# Who sends it.
TOKEN = "the user's token"
NOBODY = "no credentials"
WRONG_TOKEN = "a wrong token"
WRONG_TOKEN_IN_URL = "a wrong token as ?token="
BROWSER = "the user's browser: login cookie, no XSRF token"
FOREIGN_PAGE = "the user's browser on a foreign page: login cookie, Origin of that page"
LEAKED_TOKEN = "the user's token, from a foreign page (Origin)"
LEAKED_TOKEN_IN_URL = "the user's token as ?token=, from a foreign page (Origin)"


class DenyCloudTTY(Authorizer):
    """An authorizer that refuses resource ``cloudtty`` (and allows everything else)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "cloudtty"


@dataclass(frozen=True)
class Attack:
    """One row: an attack and the answer it must get."""

    id: str
    does: str  # what the attacker does, in words
    request: Union[Http, WebSocket]
    answer: Union[Refused, Closed, NotListed]
    who: str = TOKEN
    backend: str = "local"
    cloudtty: dict[str, Any] = field(default_factory=dict)  # c.CloudTTY for this row
    server: dict[str, Any] = field(default_factory=dict)  # c.ServerApp for this row


# --- the table --------------------------------------------------------------------------------

FORBIDDEN = Refused(403, "Forbidden")  # Jupyter's refusal of an unauthenticated request
UNAUTHENTICATED = Refused(403, "not authenticated")  # ours, on the terminal
NO_XSRF = Refused(403, "'_xsrf' argument missing")  # Jupyter's, on a write no token authenticates
CROSS_ORIGIN = Refused(403, "Cross origin websockets not allowed", json=False)  # tornado's

# Every route, as the user's own shell ``target`` is reached (the Kubernetes rows name others').
ROUTES = {
    "list": Http("GET", SHELLS),
    "create": Http("POST", SHELLS, b"{}"),
    "get": Http("GET", shell("target")),
    "delete": Http("DELETE", shell("target")),
    "events": Http("GET", EVENTS),
    "info": Http("GET", INFO),
    "terminal": WebSocket(terminal("target")),
    "transfer": Http("POST", f"{SHELLS}/target/transfers", b'{"direction": "download", "remote": ["/etc/passwd"]}'),
    "recordings": Http("GET", RECORDINGS),
    "recording": Http("GET", f"{RECORDINGS}/target-20261207T000000Z.cast"),
    "recording-delete": Http("DELETE", f"{RECORDINGS}/target-20261207T000000Z.cast"),
}
NAMED_ROUTES = {"get": shell, "delete": shell, "terminal": terminal}


def _on_every_route(kind: str, does: str, rest: Refused, ws: Refused, writes: Refused | None = None,
                    **options: Any) -> list[Attack]:  # fmt: skip
    """``kind`` on each route: the WebSocket answers ``ws``, POST and DELETE ``writes`` (the XSRF check
    comes first for requests that no token authenticates), the rest ``rest``."""

    def answer(request: Union[Http, WebSocket]) -> Refused:
        if isinstance(request, WebSocket):
            return ws
        return writes if writes and request.method in ("POST", "DELETE") else rest

    return [Attack(f"{kind}-{route}", does, request, answer(request), **options) for route, request in ROUTES.items()]


def _named(name: str, route: str) -> Union[Http, WebSocket]:
    return WebSocket(terminal(name)) if route == "terminal" else Http(route.upper(), shell(name))


def _bad_names() -> list[Attack]:
    not_a_label = Refused(400, "is not a DNS-1123 label")
    names = [
        ("dotdot-slash", "..%2Fetc", "a name that climbs out of the directory, '/' escaped", not_a_label),
        ("dotdot", "..", "'..' as the name", not_a_label),
        ("uppercase", "TARGET", "an uppercase name (not the shell 'target')", not_a_label),
        ("64-chars", "a" * 64, "a 64-character name", Refused(400, "must be at most 52 characters")),
        ("newline", "target%0A", "a name with a trailing newline (log and label injection)", not_a_label),
        ("nul", "target%00", "a name with a NUL", not_a_label),
        ("not-utf8", "%FF", "a name that is not UTF-8", Refused(400, "Invalid unicode in name")),
    ]
    return [
        Attack(f"name-{kind}-{route}", does, _named(name, route), answer)
        for kind, name, does, answer in names
        for route in NAMED_ROUTES
    ]


def _post(spec_or_body: dict[str, Any] | bytes) -> Http:
    raw = spec_or_body if isinstance(spec_or_body, bytes) else json.dumps(spec_or_body).encode()
    return Http("POST", SHELLS, raw)


def _server_decides(backend: str) -> list[Attack]:
    """Requests that try to set what only the server (its administrator) decides."""
    local = backend == "local"
    cluster_only = "not supported by the local backend" if local else "not set by a request"
    rows = [
        ("owner", {"name": "x", "owner": "alice"}, "owner", "set by the server"),
        ("namespace", {"name": "x", "namespace": "kube-system"}, "namespace", "set by the server"),
        ("labels", {"name": "x", "metadata": {"labels": {"jupyter-cloudtty.io/owner": "alice"}}}, "metadata",
         "set by the server"),
        ("top-labels", {"name": "x", "labels": {"jupyter-cloudtty.io/owner": "alice"}}, "labels", "set by the server"),
        ("annotations", {"name": "x", "annotations": {"jupyter-cloudtty.io/owner": "alice"}}, "annotations",
         "set by the server"),
        ("status", {"name": "x", "status": {"phase": "Ready", "accessUrl": "evil.example.com:80"}}, "status",
         "set by the server"),
        ("spec-labels", {"spec": {"labels": {"jupyter-cloudtty.io/owner": "alice"}}}, "spec.labels", "unknown field"),
        ("run-as-root", {"spec": {"runAsUser": "root"}}, "spec.runAsUser", cluster_only),
        ("kubeconfig-secret", {"spec": {"secretRef": {"name": "alices-kubeconfig"}}}, "spec.secretRef", cluster_only),
        ("kubeconfig-configmap", {"spec": {"configmapName": "alices-kubeconfig"}}, "spec.configmapName", cluster_only),
        ("exposure", {"spec": {"exposureMode": "NodePort"}}, "spec.exposureMode", cluster_only),
        ("ingress", {"spec": {"ingressConfig": {"host": "shell.evil.example.com"}}}, "spec.ingressConfig",
         cluster_only),
        ("virtual-service", {"spec": {"virtualServiceConfig": {"gateway": "public"}}}, "spec.virtualServiceConfig",
         cluster_only),
        ("path-prefix", {"spec": {"pathPrefix": "/public"}}, "spec.pathPrefix", cluster_only),
        ("url-arg", {"spec": {"urlArg": True}}, "spec.urlArg", cluster_only),
        ("env-value-from", {"spec": {"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}},
         "spec.env[0].valueFrom", "not supported by the local backend" if local else "not allowed from Jupyter"),
        ("ttyd-credential", {"spec": {"env": [{"name": "TTYD_CREDENTIAL", "value": "u:p"}]}}, "spec.env[0].name",
         "TTYD_CREDENTIAL configures ttyd" if local else "TTYD_CREDENTIAL is set by the server"),
        ("image", {"spec": {"image": "docker.io/evil:latest"}}, "spec.image",
         cluster_only if local else "'docker.io/evil:latest' is not an allowed image"),
    ]  # fmt: skip
    if not local:  # the administrator's limits (c.CloudTTY.max_ttl = 600 on these rows)
        rows += [
            ("ttl-above-max", {"spec": {"ttlSecondsAfterStarted": 601}}, "spec.ttlSecondsAfterStarted", "at most 600"),
            ("old-ttl-above-max", {"spec": {"ttl": 86400}}, "spec.ttl", "at most 600"),
        ]
    return [
        Attack(f"{backend}-sets-{kind}", f"a request that sets {field}", _post(request),
               Refused(400, f"{field}: {says}"), backend=backend)
        for kind, request, field, says in rows
    ]  # fmt: skip


CLUSTER_POLICY = {"allowed_images": ["registry.example/shells/*"], "max_ttl": 600}
VICTIMS = ("a-kept", "forged")


def _someone_elses() -> list[Attack]:
    """Bob, on his own server, after shells that are not his (the Kubernetes world)."""
    rows = []
    for victim in VICTIMS:
        whose = "alice's shell" if victim == "a-kept" else "a shell labelled as bob's that is not his"
        rows += [
            Attack(f"other-user-{victim}-list", f"lists shells, looking for {whose}", Http("GET", SHELLS),
                   NotListed(), backend="kubernetes"),
            Attack(f"other-user-{victim}-events", f"watches the event stream for {whose}", Http("GET", EVENTS),
                   NotListed(), backend="kubernetes"),
            Attack(f"other-user-{victim}-create", f"creates a shell named as {whose}, to take it over",
                   _post({"name": victim}), Refused(409, f"a shell named '{victim}' already exists"),
                   backend="kubernetes"),
        ]  # fmt: skip
        rows += [
            Attack(f"other-user-{victim}-{route}", f"opens {whose} by its name", _named(victim, route),
                   Refused(404, f"shell '{victim}' not found"), backend="kubernetes")
            for route in NAMED_ROUTES
        ]  # fmt: skip
    return rows


def _frame_header(length: int) -> bytes:
    """A masked binary frame's header announcing ``length`` bytes (RFC 6455, 5.2): the server must
    refuse it from the header, before a byte of it is read."""
    return bytes([0x82, 0x80 | 127]) + struct.pack("!Q", length) + b"mask"


TERMINAL = terminal("target")
WEBSOCKET = [
    Attack("ws-input-before-handshake", "types before the handshake",
           WebSocket(TERMINAL, (b"0echo pwned\r",)), Closed(4003, "expected the JSON handshake first")),
    Attack("ws-resize-before-handshake", "resizes before the handshake",
           WebSocket(TERMINAL, (b'1{"columns":80,"rows":24}',)), Closed(4003, "expected the JSON handshake first")),
    Attack("ws-handshake-not-json", "sends a handshake that is not JSON",
           WebSocket(TERMINAL, (b"{not json",)), Closed(4003, "handshake is not valid JSON")),
    Attack("ws-handshake-not-utf8", "sends a handshake that is not UTF-8",
           WebSocket(TERMINAL, (b"{\xff\xfe}",)), Closed(4003, "handshake is not valid JSON")),
    Attack("ws-handshake-token-not-string", "sends a handshake whose AuthToken is not a string",
           WebSocket(TERMINAL, (b'{"AuthToken": 5}',)), Closed(4003, "AuthToken must be a string")),
    Attack("ws-handshake-nested", "sends a handshake nested 30000 levels deep",
           WebSocket(TERMINAL, (b'{"a":' + b"[" * 30000 + b"]" * 30000 + b"}",)),
           Closed(4003, "handshake is nested too deeply")),
    Attack("ws-handshake-oversized", "sends a handshake of 70 000 bytes (> 64 KiB)",
           WebSocket(TERMINAL, (b'{"AuthToken": "' + b"x" * 70000 + b'"}',)),
           Closed(4003, "handshake of 70017 bytes is too large")),
    Attack("ws-frame-oversized", "announces a frame larger than websocket_max_message_size (10 MiB)",
           WebSocket(TERMINAL, raw=_frame_header(10 * 1024 * 1024 + 1)), Closed(1009, "message too big")),
    Attack("ws-no-handshake", "opens the terminal and sends nothing", WebSocket(TERMINAL),
           Closed(4003, "no handshake received"), cloudtty={"handshake_timeout": 0.5}),
    Attack("ws-resume-empty", "resumes with empty values", WebSocket(terminal("target", "?client=&received=")),
           Refused(400, "client: 1 to 64 letters")),
    Attack("ws-resume-path-id", "resumes with a client id that is a path",
           WebSocket(terminal("target", "?client=../x&received=0")), Refused(400, "client: 1 to 64 letters")),
    Attack("ws-resume-long-id", "resumes with a 65-character client id",
           WebSocket(terminal("target", "?client=" + "a" * 65)), Refused(400, "client: 1 to 64 letters")),
    Attack("ws-resume-negative", "resumes having received -1 bytes",
           WebSocket(terminal("target", "?client=tab&received=-1")), Refused(400, "received: a count of output bytes")),
    Attack("ws-resume-superscript", "resumes having received '²' bytes (a digit to str.isdigit, not to int)",
           WebSocket(terminal("target", "?client=tab&received=%C2%B2")),
           Refused(400, "received: a count of output bytes")),
    Attack("ws-resume-huge", "resumes having received a 5000-digit count",
           WebSocket(terminal("target", "?client=tab&received=" + "9" * 5000)),
           Refused(400, "received: a count of output bytes")),
]  # fmt: skip

BODIES = [
    Attack("body-truncated-json", "POSTs a truncated JSON body", _post(b"{"), Refused(400, "body: is not valid JSON")),
    Attack("body-not-json", "POSTs a body that is not JSON", _post(b"not json"),
           Refused(400, "body: is not valid JSON")),
    Attack("body-not-utf8", "POSTs a body that is not UTF-8", _post(b'{"name": "\xff"}'),
           Refused(400, "body: is not valid JSON")),
    Attack("body-list", "POSTs a JSON list", _post(b"[1]"), Refused(400, "body: must be a JSON object, got a list")),
    Attack("body-string", "POSTs a JSON string", _post(b'"x"'),
           Refused(400, "body: must be a JSON object, got a string")),
    Attack("body-nested", "POSTs JSON nested 100 000 levels deep", _post(b"[" * 100000 + b"]" * 100000),
           Refused(400, "body: is nested too deeply")),
    Attack("body-oversized", "POSTs a body of 1 MiB and one byte",
           _post(b'{"spec": {"commandAction": "' + b"x" * (1024 * 1024 - 30) + b'"}}'),
           Refused(413, "body: at most 1048576 bytes")),
    Attack("body-name-selector", "names a shell with a label selector, to widen what the server selects",
           _post({"name": "x,jupyter-cloudtty.io/owner=alice"}), Refused(400, "name: 'x,jupyter")),
    Attack("body-name-newline", "names a shell with a trailing newline", _post({"name": "mine\n"}),
           Refused(400, "is not a DNS-1123 label")),
    Attack("body-name-dotdot", "names a shell '../etc'", _post({"name": "../etc"}),
           Refused(400, "is not a DNS-1123 label")),
    Attack("body-name-uppercase", "names a shell in uppercase", _post({"name": "Mine"}),
           Refused(400, "is not a DNS-1123 label")),
    Attack("body-name-64-chars", "names a shell with 64 characters", _post({"name": "a" * 64}),
           Refused(400, "must be at most 52 characters")),
    Attack("body-key-log-injection", "sends a field whose name forges a log line (the message is logged)",
           _post({"spec": {"x\n[E 2026-11-25 ServerApp] forged": 1}}), Refused(400, "spec.'x\\n[E 2026-11-25")),
    Attack("body-key-huge", "sends a field whose name is 100 000 characters long",
           _post({"spec": {"k" * 100000: 1}}), Refused(400, "spec.'kkkk")),
    Attack("body-env-nul", "sets an environment variable whose value has a NUL",
           _post({"spec": {"env": [{"name": "A", "value": "a\0b"}]}}),
           Refused(400, "spec.env[0].value: must not contain NUL")),
    Attack("body-env-name-injection", "sets an environment variable named 'A=B'",
           _post({"spec": {"env": [{"name": "A=B", "value": "x"}]}}),
           Refused(400, "spec.env[0].name: 'A=B' is not a valid environment variable name")),
    Attack("body-ttyd-option-injection", "smuggles a second ttyd -t option into a value with '|'",
           _post({"spec": {"ttydClientOptions": {"fontSize": "20|credential=u:p"}}}),
           Refused(400, "must not contain '|'")),
    Attack("body-ttl-overflow", "asks for a TTL of 10^400 seconds", _post(b'{"spec": {"ttl": 1' + b"0" * 400 + b"}}"),
           Refused(400, "spec.ttl: must be at most 2147483647 seconds")),
    Attack("body-too-many-shells", "creates one shell more than c.CloudTTY.max_shells", _post({}),
           Refused(429, "already has 1 shell, the most it allows (c.CloudTTY.max_shells)"),
           cloudtty={"max_shells": 1}),
]  # fmt: skip

ORIGINS = [
    Attack("browser-create-without-xsrf", "POSTs from the user's browser without the XSRF token",
           _post({"name": "x"}), NO_XSRF, who=BROWSER),
    Attack("browser-delete-without-xsrf", "DELETEs from the user's browser without the XSRF token",
           Http("DELETE", shell("target")), NO_XSRF, who=BROWSER),
    Attack("foreign-page-create", "POSTs from a foreign page with the user's login cookie",
           _post({"name": "x"}), Refused(404, "Not Found"), who=FOREIGN_PAGE),
    Attack("foreign-page-list", "reads the list from a foreign page with the user's login cookie",
           Http("GET", SHELLS), Refused(404, "Not Found"), who=FOREIGN_PAGE),
    Attack("foreign-page-events", "opens the event stream from a foreign page with the user's login cookie",
           Http("GET", EVENTS), Refused(404, "Not Found"), who=FOREIGN_PAGE),
    Attack("foreign-page-terminal", "opens the terminal from a foreign page with the user's login cookie",
           WebSocket(TERMINAL), CROSS_ORIGIN, who=FOREIGN_PAGE),
    Attack("leaked-token-terminal", "opens the terminal with the user's token from a foreign page",
           WebSocket(TERMINAL), CROSS_ORIGIN, who=LEAKED_TOKEN),
    Attack("leaked-token-in-url-terminal", "opens the terminal with the user's ?token= from a foreign page",
           WebSocket(TERMINAL), CROSS_ORIGIN, who=LEAKED_TOKEN_IN_URL),
    Attack("leaked-token-terminal-allow-origin-pat", "the same, where allow_origin_pat allows another origin",
           WebSocket(TERMINAL), CROSS_ORIGIN, who=LEAKED_TOKEN,
           server={"allow_origin_pat": r"https://lab\.example\.com"}),
    Attack("path-climbs-out", "climbs out of the API with '../' in the path",
           Http("GET", f"{SHELLS}/../../api/contents"), Refused(404, "Not Found", json=False)),
]  # fmt: skip

ATTACKS: list[Attack] = [
    *_on_every_route("no-token", "calls without credentials", FORBIDDEN, UNAUTHENTICATED, NO_XSRF, who=NOBODY),
    *_on_every_route("wrong-token", "calls with a wrong token", FORBIDDEN, UNAUTHENTICATED, NO_XSRF, who=WRONG_TOKEN),
    *_on_every_route("wrong-token-in-url", "calls with a wrong ?token=", FORBIDDEN, UNAUTHENTICATED, NO_XSRF,
                     who=WRONG_TOKEN_IN_URL),
    *_on_every_route("not-authorized", "calls as a user the server's authorizer refuses resource 'cloudtty'",
                     Refused(403, "on resource: cloudtty"), Refused(403, "not authorized to use cloud shells"),
                     server={"authorizer_class": DenyCloudTTY}),
    *ORIGINS,
    *_bad_names(),
    *BODIES,
    *WEBSOCKET,
    *_server_decides("local"),
    *_server_decides("kubernetes"),
    *_someone_elses(),
    Attack("terminals-disabled", "asks for a local shell (a terminal) where the administrator turned terminals off",
           _post({}), Refused(403, "has terminals turned off (ServerApp.terminals_enabled = False)"),
           server={"terminals_enabled": False}),
]  # fmt: skip

assert len({attack.id for attack in ATTACKS}) == len(ATTACKS), "attack ids must be unique"
