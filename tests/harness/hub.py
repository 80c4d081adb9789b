"""A real JupyterHub for tests: users' single-user servers run jupyter_cloudtty behind the hub's proxy.

The hub is PyPI's ``jupyterhub`` run as its own process, with the proxy it starts itself,
configurable-http-proxy from npm (``.ci/run`` installs it in ``.ci/node``; see ``proxy_command``).
Users log in with a shared password (SharedPasswordAuthenticator, ``allowed_users``); their servers
are ``python -m jupyterhub.singleuser`` processes run as the current OS user by
SimpleLocalProcessSpawner, each in its own home ``<root>/home/<user>``. Everything listens on
127.0.0.1 at free ports; the database, cookie secret, pid files and logs live under ``root``::

    with Hub(tmp_path, users=("alice", "bob"),
             singleuser_args=["--CloudTTY.max_shells=5"], singleuser_env={"KUBECONFIG": "/x"}) as hub:
        alice = hub.start_server("alice")       # spawns alice's server, returns once the hub says ready
        bob = hub.user("bob")                    # a HubUser: name, token, headers (no server needed)
        # in an async test:
        status, shells, response = await alice.api("GET")                  # /user/alice/cloudtty/api/shells
        status, shell, _ = await alice.api("POST", body={"name": "work"})
        term = await alice.terminal("work")                                   # ttyd client, through the proxy
        status, _, response = await alice.api("GET", headers=bob.headers)  # bob's token on alice's server
        browser = await hub.login("alice")        # cookie login with the hub's form and _xsrf
        await browser.fetch("/user/alice/")       # the OAuth round trip: now a cookie for her server
        await browser.fetch("/user/alice/cloudtty/api/shells", "POST", b"{}",
                            headers=browser.headers("/user/alice/cloudtty/api/shells", xsrf=True))

``singleuser_args`` go to every server's command line (``c.Spawner.args``), ``singleuser_env`` into its
environment (``c.Spawner.environment``; of the hub's own environment only PATH, LANG and LC_ALL pass),
and ``user_env`` into one user's server's only, over ``singleuser_env`` (``user_env={"alice":
{"KUBECONFIG": alice_kubeconfig}}``: each user's server with credentials of its own).
A list option must be given by repeating it (``--CloudTTY.shell_command=bash
--CloudTTY.shell_command=--norc``): the server parses its command line before it loads the
extension, so CloudTTY's options are not yet known and a ``["bash", "--norc"]`` literal would stay one
string. ``async with Hub(...)`` works too (start and stop run in a thread); ``await hub.astart_server(name)``
is the async form of ``start_server``. Requests to the hub's own API are synchronous (urllib), so a
module-scoped hub can outlive each test's event loop; requests to users' servers are async (tornado).
Stopping the hub stops every single-user server and the proxy (the hub does it) and then checks that
no process it started is left, killing and reporting any. ``hub.logs()`` gives the tail of every log
(hub and proxy in ``logs/hub.log``, each server in ``logs/<user>.log``) for assertion messages.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from jupyter_cloudtty.server.backends.local.ptys import processes
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.ports import free_port
from tests.harness.waiting import process_gone

REPO = Path(__file__).resolve().parents[2]
# Where .ci/run installs the proxy: npm install --prefix .ci/node configurable-http-proxy
NPM_PROXY = REPO / ".ci" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "cloudtty-hub-test-password"  # everyone's (SharedPasswordAuthenticator needs 8+ characters)
READY = "JupyterHub is now running at"
MARKER = "CLOUDTTY_TEST_HUB"
SHELLS = ("cloudtty", "api", "shells")


def proxy_command() -> str:
    """configurable-http-proxy from npm: ``$CONFIGPROXY_COMMAND``, else .ci/node's, else the one on PATH.

    PyPI's configurable-http-proxy (a Python port) installs a command of the same name: it is refused,
    so that the tests run the proxy JupyterHub is deployed with.
    """
    candidates = [os.environ.get("CONFIGPROXY_COMMAND"), str(NPM_PROXY), shutil.which("configurable-http-proxy")]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if not path.is_file():
            continue
        with open(path.resolve(), "rb") as f:
            shebang = f.readline()
        if b"node" in shebang:
            if not shutil.which("node"):
                raise RuntimeError(f"{path} needs node, which is not on PATH")
            return str(path)
    raise RuntimeError(
        "configurable-http-proxy (the npm package) is not installed: run "
        "`npm install --no-save --prefix .ci/node configurable-http-proxy` in the repository (as .ci/run does), "
        "or set CONFIGPROXY_COMMAND to its path. Looked at: " + ", ".join(map(str, filter(None, candidates)))
    )


# The hub's configuration file; values come from hub.json next to it.
CONFIG = '''\
"""jupyterhub_config.py written by tests/harness/hub.py."""
import asyncio, json, subprocess
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner

s = json.loads(Path(__file__).with_name("hub.json").read_text())


class LoggingSpawner(SimpleLocalProcessSpawner):
    """SimpleLocalProcessSpawner whose servers log to <logs>/<user>.log and get their user's user_env."""

    def get_env(self):
        return {**super().get_env(), **s["user_env"].get(self.user.name, {})}

    async def start(self):
        with open(Path(s["logs"]) / f"{self.user.name}.log", "ab") as log:
            self.popen_kwargs = {"stdout": log, "stderr": subprocess.STDOUT}
            ip, port = await super().start()  # Popen happens before its first await: log is no longer needed
        # The hub checks a new server with exponential backoff (0.2 s, 0.4 s, 0.8 s... apart), which
        # wastes up to seconds; return once the server listens, so that the hub's first check succeeds.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while self.proc.poll() is None and loop.time() < deadline:
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(0.02)
            else:
                writer.close()
                break
        return ip, port


c.JupyterHub.bind_url = s["public_url"]
c.JupyterHub.hub_bind_url = s["hub_url"]
c.ConfigurableHTTPProxy.api_url = s["proxy_api_url"]
c.ConfigurableHTTPProxy.auth_token = s["proxy_token"]
c.ConfigurableHTTPProxy.command = [s["proxy_command"]]
c.ConfigurableHTTPProxy.pid_file = s["hub_dir"] + "/proxy.pid"
c.JupyterHub.pid_file = s["hub_dir"] + "/hub.pid"
c.JupyterHub.db_url = "sqlite:///" + s["hub_dir"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = s["hub_dir"] + "/cookie_secret"
c.JupyterHub.log_level = "DEBUG"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = s["password"]
c.Authenticator.allowed_users = set(s["users"])

# The harness's own identity: a service with an admin token, to make users' tokens and start servers.
c.JupyterHub.services = [{"name": "harness", "api_token": s["admin_token"]}]
c.JupyterHub.load_roles = [
    {"name": "harness", "scopes": ["admin:users", "admin:servers", "tokens"], "services": ["harness"]}
]

c.JupyterHub.spawner_class = LoggingSpawner
c.SimpleLocalProcessSpawner.home_dir_template = s["home_template"]
c.Spawner.notebook_dir = s["home_template"]
c.Spawner.cmd = [s["python"], "-m", "jupyterhub.singleuser"]
c.Spawner.args = s["args"]
c.Spawner.environment = s["env"]
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "JUPYTERHUB_SINGLEUSER_APP"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.LocalProcessSpawner.interrupt_timeout = 10
c.LocalProcessSpawner.term_timeout = 5
'''


def logs_on_failure(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Decorate an async test that takes the ``hub`` fixture: its failure report ends with the hub's logs."""

    @functools.wraps(test)
    async def run(**fixtures: Any) -> None:
        try:
            await test(**fixtures)
        except Exception as e:
            if hasattr(e, "add_note"):  # Python 3.11+; pytest prints notes under the error
                e.add_note(fixtures["hub"].logs())
            raise

    return run


class HubError(AssertionError):
    """The hub or a server misbehaved; the message ends with the logs."""


class Hub:
    """A JupyterHub process with its proxy; ``with``/``async with`` starts and stops it."""

    def __init__(
        self,
        root: Path,
        users: Iterable[str] = ("alice", "bob"),
        singleuser_args: Iterable[str] = (),
        singleuser_env: Mapping[str, str] | None = None,
        user_env: Mapping[str, Mapping[str, str]] | None = None,
        start_timeout: float = 60,
    ):
        self.root = Path(root)
        self.users = tuple(users)
        self.hub_dir = self.root / "hub"
        self.log_dir = self.root / "logs"
        self.home_dir = self.root / "home"
        self.public_port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.public_port}"  # the proxy: what users and browsers reach
        self.hub_api = f"http://127.0.0.1:{self.hub_port}/hub/api"  # the hub itself
        self.admin_token = secrets.token_hex(16)
        # In the environment of the hub, the proxy, the servers and their shells: finds what outlives them.
        self.marker = f"{MARKER}={secrets.token_hex(8)}"
        self.start_timeout = start_timeout
        # Single-user servers run as this user; jupyter_server refuses root unless told.
        args = ["--ServerApp.allow_root=True"] if os.getuid() == 0 else []
        self.settings = {
            "public_url": self.url,
            "hub_url": f"http://127.0.0.1:{self.hub_port}",
            "proxy_api_url": f"http://127.0.0.1:{self.proxy_api_port}",
            "proxy_token": secrets.token_hex(16),
            "proxy_command": proxy_command(),
            "hub_dir": str(self.hub_dir),
            "logs": str(self.log_dir),
            "password": PASSWORD,
            "users": list(self.users),
            "admin_token": self.admin_token,
            "home_template": str(self.home_dir / "{username}"),
            "python": sys.executable,
            "args": [*args, *singleuser_args],
            "env": {**(singleuser_env or {}), MARKER: self.marker.split("=", 1)[1]},
            "user_env": {user: dict(env) for user, env in (user_env or {}).items()},
        }
        self.process: subprocess.Popen | None = None
        self.timings: dict[str, float] = {}  # seconds: "hub", "server:<user>"
        self._users: dict[str, HubUser] = {}
        self._log_thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Hub:
        for d in (self.hub_dir, self.log_dir, self.home_dir):
            d.mkdir(parents=True, exist_ok=True)
        (self.hub_dir / "hub.json").write_text(json.dumps(self.settings, indent=2))
        (self.hub_dir / "jupyterhub_config.py").write_text(CONFIG)
        bindir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", os.defpath)}
        env[MARKER] = self.marker.split("=", 1)[1]
        env.pop("CONFIGPROXY_AUTH_TOKEN", None)
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.hub_dir / "jupyterhub_config.py")],
            cwd=self.hub_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        ready = threading.Event()
        self._log_thread = threading.Thread(target=self._drain, args=(ready,), daemon=True)
        self._log_thread.start()
        try:
            if not ready.wait(self.start_timeout):
                raise HubError(f"the hub did not start within {self.start_timeout}s\n{self.logs()}")
            if self.process.poll() is not None:
                raise HubError(f"the hub exited with {self.process.returncode} while starting\n{self.logs()}")
        except BaseException:
            self.stop(check=False)
            raise
        self.timings["hub"] = time.monotonic() - started
        return self

    def _drain(self, ready: threading.Event) -> None:
        """Copy the hub's output (the proxy's too) to logs/hub.log; set ``ready`` once it runs (or exits)."""
        assert self.process is not None and self.process.stdout is not None
        with open(self.log_dir / "hub.log", "ab", buffering=0) as log:
            for line in self.process.stdout:
                log.write(line)
                if not ready.is_set() and READY.encode() in line:
                    ready.set()
        ready.set()

    def stop(self, check: bool = True) -> None:
        """SIGTERM the hub, which stops the servers and the proxy; then make sure nothing is left.

        Raises HubError (after killing them) if processes the hub started outlived it.
        """
        if self.process is None:
            return
        processes = set(_descendants(self.process.pid)) | set(_marked(self.marker))
        errors = []
        stopping = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                errors.append("the hub did not stop within 60s of SIGTERM: killed")
                self.process.kill()
                self.process.wait()
        if self._log_thread is not None:
            self._log_thread.join(10)
        self.timings["stop"] = time.monotonic() - stopping
        # Descendants, and marked processes that left the tree (a daemon, `setsid cmd &`, reparented to init).
        processes |= set(_marked(self.marker))
        deadline = time.monotonic() + 5
        survivors = [pid for pid in sorted(processes) if not process_gone(pid, max(0, deadline - time.monotonic()))]
        if survivors:
            errors.append("left behind: " + "; ".join(f"{pid} {_cmdline(pid)}" for pid in survivors))
            for pid in survivors:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if check and errors:
            raise HubError("\n".join(errors) + "\n" + self.logs())

    def __enter__(self) -> Hub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(check=exc[0] is None)

    async def __aenter__(self) -> Hub:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop, exc[0] is None)

    # --- logs ---------------------------------------------------------------------------

    def logs(self, lines: int = 60) -> str:
        """The last ``lines`` of every log: the hub's (with the proxy's), then each server's."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log"), key=lambda p: (p.name != "hub.log", p.name)):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- {path} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) or f"(no logs in {self.log_dir})"

    # --- the hub's REST API (synchronous) ----------------------------------------------

    def hub_request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """Call the hub's API (``/hub/api/<path>``) with the harness's admin token; (status, JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.hub_api}/{path.lstrip('/')}",
            data=data if data is not None else (b"" if method in ("POST", "PUT", "PATCH") else None),
            method=method,
            headers={"Authorization": f"token {token or self.admin_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        return status, json.loads(raw) if raw else None

    def user(self, name: str) -> HubUser:
        """A user of this hub, with an API token made for them (once) by the admin API."""
        if name not in self._users:
            status, data = self.hub_request("POST", f"users/{name}/tokens", {"note": "tests/harness/hub.py"})
            if status != 201:
                raise HubError(f"no token for {name}: {status} {data}\n{self.logs()}")
            self._users[name] = HubUser(self, name, data["token"])
        return self._users[name]

    def start_server(self, name: str, timeout: float = 60, check: bool = True) -> HubUser:
        """Start ``name``'s server and return once the hub says it is ready (201, else its progress events).

        With ``check``, also make sure jupyter_cloudtty answers there through the proxy: a server
        whose extension failed to load (bad options, say) runs anyway, and the hub calls it ready.
        """
        user = self.user(name)
        started = time.monotonic()
        status, data = self.hub_request("POST", f"users/{name}/server")
        if status == 202:  # slower than the hub's slow_spawn_timeout: follow its progress events
            self._await_progress(name, timeout)
        elif status not in (201, 400) or (status == 400 and "already running" not in str(data)):
            raise HubError(f"starting {name}'s server: {status} {data}\n{self.logs()}")
        status, model = self.hub_request("GET", f"users/{name}")
        server = (model or {}).get("servers", {}).get("", {})
        if not server.get("ready"):
            raise HubError(f"{name}'s server is not ready: {model}\n{self.logs()}")
        self.timings[f"server:{name}"] = time.monotonic() - started
        if check:
            request = urllib.request.Request(user.url(*SHELLS), headers=user.headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = response.status
            except urllib.error.HTTPError as e:
                answer = e.code
            if answer != 200:
                raise HubError(
                    f"{name}'s server runs, but GET {user.url(*SHELLS)} answers {answer}: "
                    f"is jupyter_cloudtty loaded? (see 'jupyter_cloudtty |' in logs/{name}.log)\n{self.logs()}"
                )
        return user

    def start_servers(self, *names: str, timeout: float = 60, check: bool = True) -> list[HubUser]:
        """Start several users' servers at once (the hub spawns them concurrently); wait for all."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(names) or 1) as pool:
            return list(pool.map(lambda name: self.start_server(name, timeout, check), names))

    def _await_progress(self, name: str, timeout: float) -> None:
        """Read the spawn's event stream (server-sent events) until it says ready or failed."""
        request = urllib.request.Request(
            f"{self.hub_api}/users/{name}/server/progress", headers={"Authorization": f"token {self.admin_token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as stream:
            for line in stream:
                if not line.startswith(b"data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("ready"):
                    return
                if event.get("failed"):
                    raise HubError(f"{name}'s server failed to start: {event}\n{self.logs()}")
        raise HubError(f"{name}'s spawn progress ended without ready\n{self.logs()}")

    def stop_server(self, name: str) -> None:
        """Stop ``name``'s server (the hub answers 204 once stopped, or 202 while stopping)."""
        status, data = self.hub_request("DELETE", f"users/{name}/server")
        if status not in (202, 204):
            raise HubError(f"stopping {name}'s server: {status} {data}\n{self.logs()}")
        if status == 202:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # no event for a stop: short polling of the hub's model
                model = self.hub_request("GET", f"users/{name}")[1]
                if not model.get("servers", {}).get(""):
                    return
                time.sleep(0.1)
            raise HubError(f"{name}'s server did not stop\n{self.logs()}")

    async def astart_server(self, name: str, timeout: float = 60, check: bool = True) -> HubUser:
        return await asyncio.to_thread(self.start_server, name, timeout, check)

    async def astop_server(self, name: str) -> None:
        await asyncio.to_thread(self.stop_server, name)

    async def login(self, name: str, password: str = PASSWORD) -> Browser:
        """A browser session logged in by the hub's login form (cookies and _xsrf, like a browser)."""
        browser = Browser(self.url)
        response = await browser.fetch("/hub/login")
        xsrf = browser.cookie("_xsrf", "/hub/login")
        assert response.code == 200 and xsrf, (response.code, browser.cookies)
        form = urllib.parse.urlencode({"username": name, "password": password, "_xsrf": xsrf})
        response = await browser.fetch(
            "/hub/login", "POST", form, headers={"Content-Type": "application/x-www-form-urlencoded"}, follow=False
        )
        if response.code != 302:
            raise HubError(f"login of {name}: {response.code} {response.body[:300]!r}\n{self.logs()}")
        return browser


class HubUser:
    """One user of the hub: their token, and their server reached through the hub's proxy."""

    def __init__(self, hub: Hub, name: str, token: str):
        self.hub = hub
        self.name = name
        self.token = token
        self.headers = {"Authorization": f"token {token}"}
        self.server_url = f"{hub.url}/user/{name}/"  # the prefix of the server's routes, behind the proxy

    def url(self, *path: str, scheme: str = "http") -> str:
        base = self.server_url if scheme == "http" else "ws" + self.server_url[4:]
        return base + "/".join(path)

    async def api(
        self,
        method: str,
        *path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, HTTPResponse]:
        """Call this user's ``cloudtty/api/shells/<path>`` through the proxy; redirects are not followed.

        Returns (status, JSON or text or None, response). The user's own token unless ``headers`` say
        otherwise (e.g. another user's ``headers``).
        """
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if raw is None and method in ("POST", "PUT", "PATCH"):
            raw = b""
        return await _fetch(self.url(*SHELLS, *path), method, raw, self.headers if headers is None else headers)

    async def terminal(self, shell: str, headers: Mapping[str, str] | None = None, **kwargs: Any) -> TtydClient:
        """Open ``shell``'s terminal WebSocket through the proxy (this user's token unless ``headers``)."""
        url = self.url(*SHELLS, shell, "terminal", scheme="ws")
        return await TtydClient.connect(url, headers=self.headers if headers is None else headers, **kwargs)


async def _fetch(
    url: str, method: str, body: bytes | None, headers: Mapping[str, str]
) -> tuple[int, Any, HTTPResponse]:
    response = await _answer(HTTPRequest(url, method=method, body=body, headers=dict(headers), follow_redirects=False))
    data: Any = None
    if response.body:
        data = response.body.decode(errors="replace")
        if response.headers.get("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
    return response.code, data, response


async def _answer(request: HTTPRequest) -> HTTPResponse:
    """The server's answer to ``request``, an error status as well (tornado raises those)."""
    try:
        return await AsyncHTTPClient().fetch(request)
    except HTTPClientError as e:
        if e.response is None:
            raise
        return e.response


class Browser:
    """Cookies and redirects as a browser handles them, against one origin (the hub's proxy)."""

    def __init__(self, origin: str):
        self.origin = origin
        self.cookies: dict[tuple[str, str], str] = {}  # (path, name) -> value

    def cookie(self, name: str, path: str = "/") -> str | None:
        """The value of cookie ``name`` as sent to ``path`` (the longest matching cookie path wins)."""
        matches = [(p, v) for (p, n), v in self.cookies.items() if n == name and _path_matches(path, p)]
        return max(matches)[1] if matches else None

    def cookie_header(self, path: str) -> str:
        sent = sorted(((p, n, v) for (p, n), v in self.cookies.items() if _path_matches(path, p)), reverse=True)
        return "; ".join(f"{n}={v}" for _, n, v in sent)

    async def fetch(
        self,
        path: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        follow: bool = True,
    ) -> HTTPResponse:
        """Request ``path`` (on the proxy) with the cookies that apply; follow same-origin redirects."""
        for _ in range(10):
            sent = {**(headers or {})}
            if cookie := self.cookie_header(urllib.parse.urlsplit(path).path):
                sent["Cookie"] = cookie
            if body is None and method in ("POST", "PUT", "PATCH"):
                body = b""
            request = HTTPRequest(self.origin + path, method=method, body=body, headers=sent, follow_redirects=False)
            response = await _answer(request)
            self._store(response, path)
            if not (follow and response.code in (301, 302, 303, 307) and "Location" in response.headers):
                return response
            location = urllib.parse.urljoin(self.origin + path, response.headers["Location"])
            if not location.startswith(self.origin + "/"):
                return response
            path = location[len(self.origin) :]
            if response.code != 307:
                method, body = "GET", None
        raise AssertionError(f"too many redirects, last: {path}")

    def _store(self, response: HTTPResponse, request_path: str) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                path = morsel["path"] or urllib.parse.urlsplit(request_path).path.rsplit("/", 1)[0] or "/"
                expired = morsel["expires"] and "1970" in morsel["expires"] or morsel["max-age"] == "0"
                if expired or not morsel.value:
                    self.cookies.pop((path, name), None)
                else:
                    self.cookies[(path, name)] = morsel.value

    def headers(self, path: str, xsrf: bool = False) -> dict[str, str]:
        """Headers a page at ``path`` would send by script: cookies, Origin, and (``xsrf``) X-XSRFToken."""
        sent = {"Cookie": self.cookie_header(path), "Origin": self.origin}
        if xsrf:
            token = self.cookie("_xsrf", path)
            assert token, f"no _xsrf cookie for {path}: {self.cookies}"
            sent["X-XSRFToken"] = token
        return sent


def _path_matches(request_path: str, cookie_path: str) -> bool:
    cookie_path = cookie_path.rstrip("/") or "/"
    return cookie_path == "/" or request_path == cookie_path or request_path.startswith(cookie_path + "/")


def _descendants(pid: int) -> list[int]:
    """Every process descending from ``pid`` (from /proc), at this moment."""
    children: dict[int, list[int]] = {}
    for child, fields in processes():
        children.setdefault(int(fields[1]), []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _marked(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (``NAME=value``), wherever they are in the tree."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
