"""The kernel's client of its own Jupyter server's REST API (``/cloudtty/api``), and how it finds that server.

A kernel is not told its server's URL. It knows its own kernel id (the name of its connection file,
``kernel-<id>.json``), and every running Jupyter server writes ``jpserver-<pid>.json`` (URL, token)
into the runtime directory the kernel shares with it. ``find_server`` asks each of those servers for
``GET /api/kernels/<id>``: the one that answers 200 runs this kernel. Order:

1. ``CLOUDTTY_SERVER_URL`` (and ``CLOUDTTY_SERVER_TOKEN``), when set: for kernels on another machine
   (a kernel gateway) or a server whose runtime files the kernel cannot read;
2. the running server that knows this kernel's id (tokens tried: the server's own from its file, then
   ``JUPYTERHUB_API_TOKEN``, which a JupyterHub single-user server's kernels inherit and it accepts);
3. on JupyterHub, ``JUPYTERHUB_SERVICE_URL`` with ``JUPYTERHUB_API_TOKEN``;
4. outside a kernel (IPython in a terminal), the only running server.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

SERVER_URL_ENV = "CLOUDTTY_SERVER_URL"
SERVER_TOKEN_ENV = "CLOUDTTY_SERVER_TOKEN"
API = "cloudtty/api"
TIMEOUT = 10.0


class ServerError(Exception):
    """A failed call, with the server's own ``{"message"}`` when it answered (``status`` None if it did not)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Server:
    """A Jupyter server's base URL (ending in ``/``), a token it accepts, and how it was found."""

    url: str
    token: str
    found_by: str

    def url_for(self, path: str, websocket: bool = False) -> str:
        url = urllib.parse.urljoin(self.url, path)
        return re.sub(r"^http", "ws", url) if websocket else url


def kernel_id(connection_file: str | None = None) -> str | None:
    """This kernel's id, from its connection file's name (``kernel-<id>.json``); None outside a kernel."""
    if connection_file is None:
        try:
            from ipykernel.connect import get_connection_file

            connection_file = get_connection_file()
        except (ImportError, RuntimeError):
            return None
    match = re.fullmatch(r"kernel-(.+)\.json", Path(connection_file).name)
    return match[1] if match else None


def running_servers(runtime_dir: str | None = None) -> list[dict[str, Any]]:
    """The info files of the Jupyter servers running on this machine (``jupyter server list``)."""
    from jupyter_server.serverapp import list_running_servers

    return [info for info in list_running_servers(runtime_dir) if info.get("url") and not info.get("sock")]


def _tokens(info_token: str, env: Mapping[str, str]) -> list[str]:
    tokens = [info_token, env.get("JUPYTERHUB_API_TOKEN", "")]
    return [t for i, t in enumerate(tokens) if t and t not in tokens[:i]] or [""]


def _knows_kernel(url: str, token: str, kernel: str) -> bool:
    try:
        request("GET", Server(url, token, ""), f"api/kernels/{kernel}")
        return True
    except ServerError:
        return False


def find_server(
    kernel: str | None = None,
    runtime_dir: str | None = None,
    env: Mapping[str, str] | None = None,
    servers: Iterable[dict[str, Any]] | None = None,
) -> Server:
    """The Jupyter server this kernel belongs to (see the module's docstring for the order)."""
    env = os.environ if env is None else env
    if env.get(SERVER_URL_ENV):
        token = env.get(SERVER_TOKEN_ENV) or env.get("JUPYTERHUB_API_TOKEN", "")
        return Server(_slash(env[SERVER_URL_ENV]), token, f"${SERVER_URL_ENV}")
    kernel = kernel if kernel is not None else kernel_id()
    infos = list(servers) if servers is not None else running_servers(runtime_dir)
    if kernel:
        for info in infos:
            for token in _tokens(info.get("token", ""), env):
                if _knows_kernel(_slash(info["url"]), token, kernel):
                    return Server(_slash(info["url"]), token, f"runs kernel {kernel}; pid {info.get('pid')}")
    if env.get("JUPYTERHUB_SERVICE_URL") and env.get("JUPYTERHUB_API_TOKEN"):
        return Server(_slash(env["JUPYTERHUB_SERVICE_URL"]), env["JUPYTERHUB_API_TOKEN"], "$JUPYTERHUB_SERVICE_URL")
    if not kernel and len(infos) == 1:
        return Server(_slash(infos[0]["url"]), infos[0].get("token", ""), "the only running Jupyter server")
    if kernel:
        where = f"none of the {len(infos)} running Jupyter servers runs kernel {kernel}"
    else:
        where = f"{len(infos)} Jupyter servers are running and this is not a kernel"
    raise ServerError(
        f"cannot find this kernel's Jupyter server ({where}); set ${SERVER_URL_ENV} (and ${SERVER_TOKEN_ENV})"
    )


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def request(method: str, server: Server, path: str, body: Any = None) -> Any:
    """One REST call; the JSON answer (None when empty); ``ServerError`` with the server's message on failure."""
    raw = request_bytes(method, server, path, body)
    return json.loads(raw) if raw.strip() else None


def request_bytes(method: str, server: Server, path: str, body: Any = None, limit: int = -1) -> bytes:
    """One REST call; the answer's bytes (at most ``limit`` of them, when it is not -1); ``ServerError`` as
    ``request``."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if server.token:
        headers["Authorization"] = f"token {server.token}"
    req = urllib.request.Request(server.url_for(path), data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            return response.read(limit) if limit >= 0 else response.read()
    except urllib.error.HTTPError as e:
        raise ServerError(_message(e), e.code) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ServerError(f"cannot reach the Jupyter server at {server.url}: {reason}") from None


def _message(error: urllib.error.HTTPError) -> str:
    """The server's ``{"message"}`` (jupyter_server's JSON errors carry one too), else the HTTP reason."""
    try:
        message = json.loads(error.read() or b"{}").get("message")
    except (ValueError, AttributeError, OSError):
        message = None
    if error.code == 403 and not message:
        message = "Forbidden: this kernel's token is not accepted by the server"
    if error.code == 404 and not message:
        message = "Not Found: is jupyter_cloudtty enabled on this server? (jupyter server extension list)"
    return message or f"{error.code} {error.reason}"


class CloudTTYClient:
    """``/cloudtty/api`` of one server: shells, info and recordings."""

    def __init__(self, server: Server):
        self.server = server

    def list(self) -> list[dict[str, Any]]:
        return request("GET", self.server, f"{API}/shells")

    def get(self, name: str) -> dict[str, Any]:
        return request("GET", self.server, f"{API}/shells/{urllib.parse.quote(name, safe='')}")

    def create(
        self, name: str | None = None, spec: dict[str, Any] | None = None, record: bool | None = None
    ) -> dict[str, Any]:
        """A new shell; ``record`` asks for its session to be recorded (None: the server's default)."""
        body: dict[str, Any] = {"spec": spec or {}}
        if name:
            body["name"] = name
        if record is not None:
            body["record"] = record
        return request("POST", self.server, f"{API}/shells", body)

    def patch(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Change a running shell's spec (only ``ttlSecondsAfterStarted`` can change); the shell as GET shows it."""
        return request("PATCH", self.server, f"{API}/shells/{urllib.parse.quote(name, safe='')}", {"spec": spec})

    def delete(self, name: str) -> None:
        request("DELETE", self.server, f"{API}/shells/{urllib.parse.quote(name, safe='')}")

    def info(self) -> dict[str, Any]:
        return request("GET", self.server, f"{API}/info")

    def recordings(self, query: str | None = None, shell: str | None = None) -> dict[str, Any]:
        """The server's recordings, newest first: ``{"recordings": [...], "dir": ...}``; with ``query``, those
        whose text has it (each with its ``matches``), with ``shell``, that shell's."""
        params = {key: value for key, value in (("shell", shell), ("q", query)) if value}
        suffix = f"?{urllib.parse.urlencode(params)}" if params else ""
        return request("GET", self.server, f"{API}/recordings{suffix}")

    def recording(self, file: str, limit: int = -1) -> bytes:
        """A recording's bytes (its ``.cast`` file, by name), at most ``limit`` of them when it is not -1."""
        return request_bytes("GET", self.server, f"{API}/recordings/{urllib.parse.quote(file, safe='')}", limit=limit)

    def terminal_url(self, name: str) -> str:
        """The WebSocket of a shell's terminal (ttyd's protocol; authenticate with the server's token)."""
        return self.server.url_for(f"{API}/shells/{urllib.parse.quote(name, safe='')}/terminal", websocket=True)
