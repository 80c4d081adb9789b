"""Jupyter servers run as their own processes, as users run them (`jupyter server`, `jupyter lab`)."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.ports import free_port

SHELL = ["bash", "--norc", "--noprofile"]
# Logged once the server's loop runs, after its deferred bind of the listening socket.
STARTED = b"jupyter_cloudtty | extension was successfully started"


class JupyterProcess:
    """``python -m <module>`` on 127.0.0.1 with a token; ``async with`` starts and stops it."""

    def __init__(self, module: str, root: Path, token: str = "process-test-token", args: tuple[str, ...] = ()):
        self.port = free_port()
        self.token = token
        self.headers = {"Authorization": f"token {token}"}
        self.argv = [
            sys.executable, "-m", module, "--allow-root", "--no-browser", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
            "--ServerApp.log_level=DEBUG", *args,
        ]  # fmt: skip
        self.env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
        if not any(arg.startswith("--CloudTTY.shell_command") for arg in args):
            # The suite's shell (as tests/conftest.py gives in-process servers), not the machine's login
            # shell: a new local shell starts at once now, and a login profile cut short by a quick
            # delete can leave pyenv's rehash lock behind, stalling every later login shell for 60 s.
            # A config file: a List on the command line takes one option per item.
            config = Path(tempfile.mkdtemp(prefix="jupyter-config-"))
            (config / "jupyter_server_config.json").write_text(json.dumps({"CloudTTY": {"shell_command": SHELL}}))
            self.env["JUPYTER_CONFIG_DIR"] = str(config)
        self.process: subprocess.Popen | None = None
        self.log_tail: collections.deque[str] = collections.deque(maxlen=300)

    @property
    def log(self) -> str:
        """The end of the server's log (its last 300 lines): for a failing test's message."""
        return "".join(self.log_tail)

    async def __aenter__(self) -> JupyterProcess:
        # A port free when chosen can be taken before the server binds it (an outgoing connection's
        # ephemeral port): then the server exits saying so, and it is started again on another port.
        for attempt in range(3):
            self.log_tail.clear()
            argv = [*self.argv, f"--port={self.port}"]
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env)
            try:
                await asyncio.wait_for(self._started(), 90)
                return self
            except AssertionError:
                self.process.wait()
                if "already in use" not in self.log or attempt == 2:
                    said = self.log[-3000:]
                    raise AssertionError(f"the server exited before it ran; its log ends:\n{said}") from None
                self.port = free_port()
        raise AssertionError("unreachable")

    def _started(self) -> asyncio.Future:
        """Set when STARTED is logged; the log is drained to its end so the pipe never blocks."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future = loop.create_future()

        def drain() -> None:
            assert self.process is not None and self.process.stderr is not None
            for line in self.process.stderr:
                self.log_tail.append(line.decode(errors="replace") if isinstance(line, bytes) else line)
                if STARTED in line and not started.done():
                    loop.call_soon_threadsafe(started.set_result, None)
            if not started.done():
                loop.call_soon_threadsafe(started.set_exception, AssertionError("the server exited before it ran"))

        threading.Thread(target=drain, daemon=True).start()
        return started

    async def fetch(self, path: str, method: str = "GET", body: object = None) -> HTTPResponse:
        request = HTTPRequest(
            f"http://127.0.0.1:{self.port}/{path}",
            method=method,
            headers=self.headers,
            body=None if body is None else json.dumps(body),
        )
        return await AsyncHTTPClient().fetch(request)

    async def terminal(self, name: str) -> TtydClient:
        url = f"ws://127.0.0.1:{self.port}/cloudtty/api/shells/{name}/terminal"
        return await TtydClient.connect(url, headers=self.headers)

    async def stop(self) -> int:
        """SIGTERM, as a service manager stops a server; returns its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.get_running_loop().run_in_executor(None, self.process.wait, 60)

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
