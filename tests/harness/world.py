"""What an attack meets: the server under test (as a client sees it), and the shells it must leave alone.

``Server`` sends a request exactly as written (no escaping, no credentials unless asked), and says
what came back. A world (``LocalWorld``, ``ClusterWorld``) creates the shells attacks aim at and
takes a snapshot of everything an attack must not change: comparing the snapshots before and after
is the "nothing created, nothing started, nothing touched" check. Used by tests/security/ (the attack
table of tests/harness/attacks.py, and the fuzzer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import psutil
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from jupyter_cloudtty.server.backends.kubernetes import policy
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.kube import NS, ShellPods, ThreadedApi
from tests.harness.pods import Pod


def extension(serverapp: Any) -> Any:
    """The CloudTTY extension app of a running server."""
    return serverapp.extension_manager.extension_points["jupyter_cloudtty"].app


@dataclass
class Answer:
    """What an HTTP request (or a refused WebSocket upgrade) got: status, message, whether it was JSON."""

    status: int
    message: str
    json: bool
    data: Any = None


def answer_of(response: HTTPResponse) -> Answer:
    text = response.body.decode(errors="replace") if response.body else ""
    try:
        data = json.loads(text)
    except ValueError:
        return Answer(response.code, text, False)
    message = data.get("message", "") if isinstance(data, dict) else ""
    return Answer(response.code, message, True, data)


class Server:
    """The Jupyter server under test, at ``http://127.0.0.1:<port><base_url>``."""

    def __init__(self, port: int, base_url: str, token: str):
        self.http = f"http://127.0.0.1:{port}{base_url}"
        self.ws = f"ws://127.0.0.1:{port}{base_url}"
        self.token = token
        self.auth = {"Authorization": f"token {token}"}
        self._login: str | None = None

    async def fetch(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
        """``method path`` with exactly these headers; an answer for any status."""
        request = HTTPRequest(
            self.http + path,
            method=method,
            body=body if body is not None else (b"" if method == "POST" else None),
            headers=headers or {},
            request_timeout=20,
            follow_redirects=False,
        )
        return answer_of(await AsyncHTTPClient().fetch(request, raise_error=False))

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        """A call of the user's own, with the token."""
        raw = None if body is None else json.dumps(body).encode()
        return await self.fetch(method, path, raw, self.auth)

    async def terminal(self, path: str, headers: dict) -> TtydClient | Answer:
        """Open a WebSocket (no handshake of ours): the client, or the answer that refused the upgrade."""
        try:
            return await TtydClient.connect(self.ws + path, headers=headers, handshake=False)
        except HTTPClientError as e:
            assert e.response is not None, e
            return answer_of(e.response)

    async def login_cookie(self) -> str:
        """The cookie a browser holds once logged in (the server sets it on a token-authenticated request)."""
        if self._login is None:
            request = HTTPRequest(self.http + "api/status", headers=self.auth)
            response = await AsyncHTTPClient().fetch(request)
            self._login = "; ".join(c.split(";")[0] for c in response.headers.get_list("Set-Cookie"))
            assert self._login, "no login cookie"
        return self._login


def own_processes() -> set[int]:
    """Processes this test process (and the in-process server) started, at any depth: a pod's ttyd
    and the shells it starts too (the pod's PID namespace hides nothing from this machine's /proc)."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


class LocalWorld:
    """The local backend: the user's shell ``target``, created, never connected to (its process waits
    at its prompt, unread);
    none where the administrator turned terminals off (``ServerApp.terminals_enabled = False``)."""

    def __init__(self, serverapp: Any):
        self.backend = extension(serverapp).shell_backend
        self.terminals = serverapp.terminals_enabled

    async def build(self) -> LocalWorld:
        # Through the backend, not the API: some rows run under an authorizer that refuses the API.
        if self.terminals:
            await self.backend.create("target", {})
        return self

    async def snapshot(self) -> Any:
        """The shells as the API shows them (``target`` still waiting for its first client)."""
        return [shell.to_json() for shell in await self.backend.list()]


ALICE = policy.Policy(namespace=NS)


# A request ttyd served, as its log says: "WS   /ws - 127.0.0.1, clients: 1", "HTTP /token - 127.0.0.1".
_SERVED = re.compile(r"\bN: (?:WS|HTTP)\s+/", re.MULTILINE)


def requests_served(pod: Pod) -> int:
    """How many requests (WebSocket or HTTP) the pod's ttyd served, from its own log."""
    return len(_SERVED.findall(pod.log))


class ClusterWorld:
    """Bob's server; alice's CloudShell ``a-kept`` as her server creates it; ``forged``, labelled as
    bob's but annotated as mallory's; both Ready, each with a real ttyd pod (tests/harness/pods.py); bob's
    own ``b-own``."""

    def __init__(self, server: Server, kube: ThreadedApi, pods: ShellPods):
        self.server, self.kube, self.pods = server, kube, pods
        self.ttyds: dict[str, Pod] = {}

    async def build(self) -> ClusterWorld:
        await self.kube.create(policy.cloudshell("a-kept", {"commandAction": "bash"}, "alice", ALICE))
        forged = policy.cloudshell("forged", {"commandAction": "bash"}, "bob", ALICE)
        forged["metadata"]["annotations"][policy.OWNER_ANNOTATION] = "mallory"
        await self.kube.create(forged)
        for name in ("a-kept", "forged"):
            self.ttyds[name] = await self.pods.ready(name)
        created = await self.server.call("POST", "cloudtty/api/shells", {"name": "b-own"})
        assert created.status == 201, created
        return self

    async def snapshot(self) -> Any:
        """Every CloudShell (name, owner, spec; not its status), the requests each pod's ttyd served
        (its log), bob's list of names."""
        objects = sorted(
            (o["metadata"]["name"], o["metadata"].get("labels"), o["metadata"].get("annotations"), o["spec"])
            for o in await self.kube.list("CloudShell", NS)
        )
        listed = await self.server.call("GET", "cloudtty/api/shells")
        assert listed.status == 200, listed
        served = {name: requests_served(pod) for name, pod in self.ttyds.items()}
        return objects, served, [shell["name"] for shell in listed.data]
