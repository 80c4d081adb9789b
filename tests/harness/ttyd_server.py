"""A Python stand-in for ttyd, for faults the real ttyd cannot be made to produce.

The pods of the tests run the real ttyd 1.7.7 (tests/harness/pods.py). This stand-in remains for what
that ttyd never does on cue, e.g. a close frame with a code when its process ends (ttyd means to,
but 1.7.7 on Debian's libwebsockets 4.3 drops the connection instead); a test that uses it says
which fault in its docstring. It speaks ttyd 1.7's protocol on 127.0.0.1.

Like ttyd (and unlike our server's shared sessions), every WebSocket connection spawns its
own process on its own PTY at the handshake's size, and closing the connection hangs that
process up; when the process ends, the connection is dropped without a close frame, as a
real ttyd 1.7.7 does. It is built from the package's PTY and protocol pieces, and replays
the capture of a real ttyd like our server does (tests/integration/test_transcript.py).

It records what a test needs to see from the pod's side: each connection's process, the
frames' commands, SHA-256 of the input it received and of the output it sent. ``TtydProcess``
runs it as a process of its own (a pod that can be killed, and work off the test's own event
loop), whose records are read over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jupyter_cloudtty.server.backends.local import ptys
from jupyter_cloudtty.ttyd import protocol

TAIL = 64 * 1024


@dataclass
class Connection:
    """One client of the stand-in, and the process it spawned."""

    pid: int | None = None
    commands: list[str] = field(default_factory=list)  # the first byte of each frame after the handshake
    input_sha: hashlib._Hash = field(default_factory=hashlib.sha256)
    input_bytes: int = 0
    output_sha: hashlib._Hash = field(default_factory=hashlib.sha256)
    output_bytes: int = 0
    output_tail: bytearray = field(default_factory=bytearray)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _saw(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def until_output(self, needle: bytes, timeout: float = 10) -> None:
        """Wait until the process has sent ``needle`` (within the last 64 KiB of output)."""

        async def seen() -> None:
            while needle not in self.output_tail:
                await self.changed.wait()

        await asyncio.wait_for(seen(), timeout)

    def record(self) -> dict[str, Any]:
        """What was seen so far, as JSON (digests of the bytes so far)."""
        return {
            "pid": self.pid,
            "commands": "".join(self.commands),
            "input_bytes": self.input_bytes,
            "input_sha": self.input_sha.hexdigest(),
            "output_bytes": self.output_bytes,
            "output_sha": self.output_sha.hexdigest(),
            "closed": self.closed.is_set(),
        }


RECORDS_PATH = "/_stand-in/connections"  # not ttyd's: how a test reads a stand-in process's records


class _Records(RequestHandler):
    def initialize(self, server: TtydServer) -> None:
        self.server = server

    def get(self) -> None:
        self.finish({"connections": [c.record() for c in self.server.connections]})


class _Terminal(WebSocketHandler):
    def initialize(self, server: TtydServer) -> None:
        self.server = server
        self.connection = Connection()
        self.stream: ptys.PtyStream | None = None
        self.pty = None

    def check_origin(self, origin: str) -> bool:
        return True  # ttyd without --check-origin

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in subprotocols else None

    async def get(self, *args: str) -> None:
        if self.server.credential is not None:
            expected = "Basic " + base64.b64encode(self.server.credential.encode()).decode()
            if self.request.headers.get("Authorization") != expected:
                raise HTTPError(401)
        self.server.connections.append(self.connection)
        await super().get(*args)

    def open(self, *args: str) -> None:
        self.set_nodelay(True)

    async def on_message(self, message: str | bytes) -> None:
        frame = message.encode() if isinstance(message, str) else message
        if self.stream is None:
            await self._start(frame)
            return
        command = frame[:1]
        self.connection.commands.append(command.decode(errors="replace"))
        if command == b"0":
            self.connection.input_sha.update(frame[1:])
            self.connection.input_bytes += len(frame) - 1
            await self.stream.write(frame[1:])
        elif command == b"1" and (size := protocol.parse_resize(frame[1:])):
            self.stream.resize(*size)
        elif command == b"2":
            self.stream.pause()
        elif command == b"3":
            self.stream.resume()
        self.connection._saw()

    async def _start(self, frame: bytes) -> None:
        handshake = json.loads(frame)
        if self.server.credential is not None:
            if handshake.get("AuthToken") != base64.b64encode(self.server.credential.encode()).decode():
                self.close()
                return
        rows, columns = handshake.get("rows") or 24, handshake.get("columns") or 80
        self.pty = ptys.spawn(self.server.argv, cwd=self.server.cwd, env=self.server.env, rows=rows, columns=columns)
        self.connection.pid = self.pty.ptyproc.pid
        self.server._spawned.set()
        self.stream = ptys.PtyStream(self.pty.ptyproc.fd)
        await self.write_message(protocol.encode_title(f"{' '.join(self.server.argv)} ({socket.gethostname()})"), True)
        preferences = self.server.raw_preferences
        if preferences is not None:
            await self.write_message(b"2" + preferences, binary=True)
        else:
            await self.write_message(protocol.encode_preferences(self.server.preferences), binary=True)
        asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        assert self.stream is not None
        connection = self.connection
        try:
            while data := await self.stream.read():
                connection.output_sha.update(data)
                connection.output_bytes += len(data)
                connection.output_tail += data
                del connection.output_tail[:-TAIL]
                connection._saw()
                await self.write_message(protocol.OUTPUT_PREFIX + data, binary=True)
        except WebSocketClosedError:
            return
        if self.server.close_code is not None:  # as ttyd means to, and may on another libwebsockets
            self.close(self.server.close_code)
        # The process ended: drop the connection, without a close frame (ttyd 1.7.7 on libwebsockets 4.1).
        elif self.ws_connection is not None and self.ws_connection.stream is not None:
            self.ws_connection.stream.close()
        if self.server.once:
            self.server.stop_listening()

    def on_close(self) -> None:
        self.connection.closed.set()
        self.connection._saw()
        if self.stream is not None:
            self.stream.close()
        if self.pty is not None and self.pty.ptyproc.isalive():
            ptys.signal_session(self.pty.ptyproc.pid, signal.SIGHUP)  # what ttyd does to its process
        if self.pty is not None:
            asyncio.get_running_loop().run_in_executor(None, self._reap)

    def _reap(self) -> None:
        assert self.pty is not None
        process = self.pty.ptyproc
        ptys.signal_session(process.pid, signal.SIGKILL)  # what the SIGHUP left
        process.wait()
        process.close()


class TtydServer:
    """``async with TtydServer(["bash"]) as ttyd: ttyd.url`` (ws://127.0.0.1:<port><base>/ws)."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str = "/",
        env: dict[str, str] | None = None,
        base_path: str = "",
        credential: str | None = None,
        preferences: dict | None = None,
        close_code: int | None = None,
        once: bool = False,
        raw_preferences: bytes | None = None,
    ):
        """``close_code``: close with it when a process ends, instead of dropping the connection;
        ``once``: stop listening then (``ttyd -o``); ``raw_preferences``: the SET_PREFERENCES payload
        sent as given (a broken ttyd's, e.g. ``b"{not json"``) instead of ``preferences``."""
        self.argv = argv
        self.cwd = cwd
        self.env = env or {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": cwd, "PS1": "$ "}
        self.base_path = base_path.rstrip("/")
        self.credential = credential
        self.preferences = preferences or {}
        self.close_code = close_code
        self.once = once
        self.raw_preferences = raw_preferences
        self.connections: list[Connection] = []
        self._spawned = asyncio.Event()
        self._server: HTTPServer | None = None
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port``, as a ClusterIP or NodePort accessUrl gives it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self.address}{self.base_path}/ws"

    async def __aenter__(self) -> TtydServer:
        routes = [(f"{self.base_path}/ws", _Terminal, {"server": self}), (RECORDS_PATH, _Records, {"server": self})]
        app = Application(routes, websocket_max_message_size=1 << 26)
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        return self

    def stop_listening(self) -> None:
        assert self._server is not None
        self._server.stop()

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.stop()
        await self._server.close_all_connections()

    async def connected(self, count: int = 1, timeout: float = 10) -> Connection:
        """Wait until the ``count``-th connection has spawned its process; return it."""

        async def wait() -> Connection:
            while len(self.connections) < count or self.connections[count - 1].pid is None:
                self._spawned.clear()
                await self._spawned.wait()
            return self.connections[count - 1]

        return await asyncio.wait_for(wait(), timeout)


class TtydProcess:
    """``async with TtydProcess(["bash"], cwd=...) as pod:`` the stand-in as a process of its own.

    Like a pod's ttyd it can be killed (``pod.process.send_signal``), and its PTYs and frames are
    served off the test's event loop. ``await pod.connections()`` reads its records.
    """

    def __init__(self, argv: list[str], *, cwd: str | Path, env: dict[str, str] | None = None):
        root = str(Path(__file__).parents[2])
        self.argv = [sys.executable, "-m", "tests.harness.ttyd_server", *argv]
        self.cwd = cwd
        self.env = {**os.environ, "PYTHONPATH": root, "PS1": "$ ", **(env or {})}
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> TtydProcess:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, cwd=self.cwd, env=self.env)
        assert self.process.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, self.process.stdout.readline)
        self.port = int(line)  # printed once it listens
        return self

    async def connections(self) -> list[dict[str, Any]]:
        """Each connection's record (``Connection.record``), in the order they came."""
        response = await AsyncHTTPClient().fetch(f"http://{self.address}{RECORDS_PATH}")
        return json.loads(response.body)["connections"]

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)  # in case a test froze it
        self.process.kill()
        await asyncio.get_running_loop().run_in_executor(None, self.process.wait)


async def _serve(argv: list[str]) -> None:
    async with TtydServer(argv, cwd=os.getcwd(), env=dict(os.environ, PS1="$ ")) as server:
        print(server.port, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    # python -m tests.harness.ttyd_server COMMAND...: serve on a free port of 127.0.0.1, printed first; shells
    # start in the working directory (TtydProcess, benchmarks).
    asyncio.run(_serve(sys.argv[1:] or ["bash", "--norc", "--noprofile"]))
