"""The recorder: a recorded shell's terminal as it passes, written where the shell cannot reach it.

Runs in the shell's pod as a native sidecar (an init container with ``restartPolicy: Always``) for
shells the operator's recording policy records (``manifests.recorder_container``). ttyd listens on a
UNIX socket in an emptyDir the two containers share, and nowhere else; the recorder listens on the
pod's ttyd port, the one the Service, the NetworkPolicy and every client use, and relays each
WebSocket to ttyd frame by frame, writing the session as asciicast v2 (cloudshell/recording.py, the same
format as the Jupyter server's recordings) to the administrator's claim, which only this container
mounts. So the recording holds against the shell's user, who has no hands in this container:

- its files are on a volume the shell's container does not mount, in a process the shell cannot
  signal (containers share no PID namespace);
- every byte between a client and ttyd passes here: ttyd has no TCP port, so no client reaches it
  unrecorded; and a terminal is opened at ttyd first, so one ttyd refuses (no token in its path) is
  refused with ttyd's answer before anything is accepted, buffered or recorded for it;
- should it stop while the shell runs, the operator fails the shell (status.py, ``_not_recorded``):
  the port it frees is not left for a process of the shell to take.

It fails closed. At start it makes its folder and writes a file there; if it cannot, it says why in
its termination message and exits ``NOT_RECORDED_EXIT`` before it listens (the pod never becomes
Ready; the operator fails the shell ``NotRecorded`` with those words). A session whose recording
cannot be made, or fails later, is closed with 4007 (``CloseCode.NOT_RECORDED``) and the reason,
before ttyd is reached or at once.

In the pod it runs on the image's ``python3`` with PyPI's ``websockets`` (deploy/image/requirements.txt),
without this package: the operator ships its source and cloudshell/recording.py's in the container's
command (``manifests.recorder_command``). Standard library and ``websockets`` only, therefore.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus
from websockets.http11 import Request, Response

from jupyter_cloudtty.cloudshell.recording import Recording, RecordingFailed

NOT_RECORDED_EXIT = 73  # sysexits' EX_CANTCREAT: the recordings' folder cannot be written
# ttyd/protocol.CloseCode's (this file runs without the package)
NOT_RECORDED = 4007
UNREACHABLE = 4005
PROTOCOL_ERROR = 4003
SUBPROTOCOL = "tty"
INPUT, RESIZE, OUTPUT = ord("0"), ord("1"), ord("0")
MAX_FRAME = 4 * 1024 * 1024  # as the Jupyter server's relay (kubernetes/relay.py): a paste, a trzsz frame
BATCH_BYTES = 64 * 1024  # output written as one event at most this big...
BATCH_SECONDS = 0.05  # ...and at most this late (a player shows it at its first byte's time all the same)
OPEN_TIMEOUT = 10.0  # seconds for ttyd to accept a terminal, and for its client's first frame
MAX_SESSIONS = 16  # terminals at once (each may hold QUEUE frames of MAX_FRAME: the container's memory)
QUEUE = 2  # frames received ahead of the other end, per connection
CLOSE_TIMEOUT = 1.0  # seconds for the other end's close frame (ttyd 1.7.7 may just hang up)
PING_SECONDS = 20.0  # a client that answers no ping within this is gone (its ttyd session ends with it)
STOP_GRACE = 3.0  # seconds for the sessions to end when the pod stops (its grace is 30 by default)
READY_PATH = "/-/ready"  # no ttyd path: ttyd's are under its base path, which ends with the shell's token
# Request headers that reach ttyd; the WebSocket's own are the two connections' business.
FORWARDED = ("Authorization", "Accept-Encoding", "Accept", "User-Agent", "Origin", "X-Forwarded-For")
ANSWERED = ("Content-Type", "Content-Encoding", "Cache-Control", "WWW-Authenticate", "Location")


class Batch:
    """Output recorded a batch at a time: ttyd sends a frame per PTY read (a few KiB), and an event per
    frame cost more CPU than the relay itself. A batch is written when it holds ``BATCH_BYTES``, when
    ``BATCH_SECONDS`` have passed since its first byte (timed from that byte), before an input or a
    resize, and at the end; a write that fails calls ``failed`` with the reason."""

    def __init__(self, recording: Recording, failed: Callable[[str], None]):
        self.recording = recording
        self._failed = failed
        self._loop = asyncio.get_running_loop()
        self._pending = bytearray()
        self._since = 0.0  # the clock's time of the pending batch's first byte
        self._timer: asyncio.TimerHandle | None = None

    def output(self, data: bytes) -> None:
        if not self._pending:
            self._since = time.monotonic()
            self._timer = self._loop.call_later(BATCH_SECONDS, self._timed)
        self._pending += data
        if len(self._pending) >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """RecordingFailed if the write fails."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            self.recording.output(data, at=self._since)

    def _timed(self) -> None:
        self._timer = None
        try:
            self.flush()
        except RecordingFailed as e:
            self._failed(str(e))


class Recorder:
    def __init__(self, args: argparse.Namespace):
        self.socket_path = args.ttyd_socket
        self.folder = Path(args.folder)
        self.shell = args.shell
        self.owner = args.owner
        self.spec = json.loads(args.spec)
        self.record_input = args.input
        self.sessions: set[asyncio.Task] = set()
        # ttyd's end of a terminal ttyd accepted, until its client's session takes it.
        self._upstreams: dict[ServerConnection, ClientConnection] = {}

    def check(self) -> None:
        """The folder made and writable, or RecordingFailed saying why: before anything listens.

        The folder is the namespace's, shared by every recorder of it, whatever user each runs as: its
        group (the claim's, the pod's fsGroup) may write it, and its files keep that group (setgid)."""
        try:
            try:
                self.folder.mkdir(parents=True)
                self.folder.chmod(0o2770)
            except FileExistsError:
                pass
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".recorder-")  # never another pod's name
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise RecordingFailed(f"cannot write recordings in {self.folder}: {e.strerror or e}") from None

    # --- HTTP: the probes, ttyd's page and token, and a terminal's opening ------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == READY_PATH:
            ready = await asyncio.to_thread(self._ttyd_answers)
            return connection.respond(200 if ready else 503, "ttyd answers\n" if ready else "ttyd is not up yet\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._open(connection, request)
        return await asyncio.to_thread(self._fetch, request)

    async def _open(self, connection: ServerConnection, request: Request) -> Response | None:
        """ttyd's own answer first: a terminal ttyd refuses (no token in its path, wrong credentials) is
        refused with ttyd's status before anything is accepted, recorded or buffered for it."""
        if len(self.sessions) + len(self._upstreams) >= MAX_SESSIONS:
            return connection.respond(503, f"this shell has {MAX_SESSIONS} terminals open already\n")
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        try:
            ttyd = await asyncio.wait_for(unix_connect(
                self.socket_path, f"ws://localhost{request.path}", subprotocols=[SUBPROTOCOL],
                additional_headers=headers, compression=None, max_size=MAX_FRAME, max_queue=QUEUE,
                ping_interval=None, close_timeout=CLOSE_TIMEOUT,
            ), OPEN_TIMEOUT)  # fmt: skip
        except InvalidStatus as e:
            kept = Headers((k, v) for k, v in e.response.headers.raw_items() if k in ANSWERED)
            return _response(e.response.status_code, e.response.body or b"", kept, e.response.reason_phrase)
        except InvalidMessage:
            # ttyd 1.7.7 hangs up without an answer on a path that is not its own (a wrong token).
            return _response(404, b"no terminal here\n")
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as e:
            return _response(502, f"the shell's ttyd cannot be reached: {e or type(e).__name__}\n".encode())
        self._upstreams[connection] = ttyd
        # Taken by ``session`` at once, unless the client's side of the handshake fails after this.
        asyncio.get_running_loop().call_later(OPEN_TIMEOUT, self._unclaimed, connection)
        return None

    def _unclaimed(self, connection: ServerConnection) -> None:
        ttyd = self._upstreams.pop(connection, None)
        if ttyd is not None:
            _background(ttyd.close())

    def _ttyd_answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            try:
                s.connect(self.socket_path)
            except OSError:
                return False
        return True

    def _fetch(self, request: Request) -> Response:
        """A plain GET (ttyd's page, its /token) passed to ttyd as it came, and its answer back."""
        conn = _UnixHTTPConnection(self.socket_path)
        try:
            headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
            conn.request("GET", request.path, headers=headers)
            answer = conn.getresponse()
            body = answer.read(MAX_FRAME + 1)
        except OSError as e:
            return _response(502, f"the shell's ttyd cannot be reached: {e.strerror or e}\n".encode())
        finally:
            conn.close()
        if len(body) > MAX_FRAME:
            return _response(502, b"the shell's ttyd answered more than a page\n")
        kept = Headers((name, answer.headers[name]) for name in ANSWERED if answer.headers.get(name))
        return _response(answer.status, body, kept, answer.reason)

    # --- a terminal ------------------------------------------------------------------------------

    async def session(self, client: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        ttyd = self._upstreams.pop(client, None)
        try:
            if ttyd is None:  # its opening was given up (OPEN_TIMEOUT): not a terminal any more
                await client.close(UNREACHABLE, "the shell's terminal was not opened in time")
                return
            await self._session(client, ttyd)
        finally:
            self.sessions.discard(task)
            if ttyd is not None:
                await ttyd.close()

    async def _session(self, client: ServerConnection, ttyd: ClientConnection) -> None:
        try:
            first = await asyncio.wait_for(client.recv(), OPEN_TIMEOUT)
        except asyncio.TimeoutError:
            await client.close(PROTOCOL_ERROR, f"no handshake within {OPEN_TIMEOUT:g}s")
            return
        except ConnectionClosed:
            return
        handshake = first.encode() if isinstance(first, str) else first
        rows, columns = _size(handshake)
        try:
            recording = Recording.start(self.folder, self.shell, (rows, columns), owner=self.owner, spec=self.spec,
                                        record_input=self.record_input, file_mode=0o640)  # fmt: skip
        except RecordingFailed as e:
            await client.close(NOT_RECORDED, _reason(f"not recorded: {e}"))
            return
        failed: list[str] = []
        passes: list[asyncio.Future] = []

        def fail(why: str) -> None:
            """A write failed: nothing more passes either way, and the client is told why."""
            failed.append(why)
            for task in passes:
                task.cancel()

        batch = Batch(recording, fail)
        try:
            await ttyd.send(first)
            passes += [asyncio.ensure_future(self._pass(client, ttyd, batch, failed, upward=True)),
                       asyncio.ensure_future(self._pass(ttyd, client, batch, failed, upward=False))]  # fmt: skip
            await asyncio.wait(passes, return_when=asyncio.FIRST_COMPLETED)
            for task in passes:
                task.cancel()
            await asyncio.gather(*passes, return_exceptions=True)
        finally:
            try:
                batch.flush()
            except RecordingFailed as e:
                failed.append(str(e))
            finally:
                try:
                    recording.close()
                except RecordingFailed as e:
                    failed.append(str(e))
            if failed:
                await asyncio.gather(ttyd.close(), client.close(NOT_RECORDED, _reason(f"not recorded: {failed[0]}")))
            else:
                # One end closed: the other gets its code and reason (ttyd's end of the process, say).
                closed = ttyd.close_code or client.close_code or 1000
                reason = ttyd.close_reason or client.close_reason or ""
                await asyncio.gather(ttyd.close(), client.close(closed if closed not in (1005, 1006) else 1000, reason))

    async def _pass(
        self,
        source: ServerConnection | ClientConnection,
        sink: ServerConnection | ClientConnection,
        batch: Batch,
        failed: list[str],
        *,
        upward: bool,
    ) -> None:
        """Frames from ``source`` to ``sink``, each given to the recording before it is sent (output
        in batches: see ``Batch``); ``send`` waits while the sink is slow (backpressure: the source is
        read no faster than the sink takes it). Nothing passes once the recording failed."""
        try:
            async for frame in source:
                data = frame.encode() if isinstance(frame, str) else frame
                if data:
                    try:
                        _record(batch, data, upward)
                    except RecordingFailed as e:
                        failed.append(str(e))
                        return
                if failed:
                    return
                await sink.send(frame)
        except ConnectionClosed:
            return


def _record(batch: Batch, data: bytes, upward: bool) -> None:
    kind, payload = data[0], data[1:]
    if not upward:
        if kind == OUTPUT:
            batch.output(payload)
    elif kind == INPUT and batch.recording.record_input:
        batch.flush()  # what came before it first
        batch.recording.input(payload)
    elif kind == RESIZE:
        try:
            size = json.loads(payload)
            rows, columns = int(size["rows"]), int(size["columns"])
        except (ValueError, TypeError, KeyError, OverflowError):
            return  # ttyd ignores it too
        batch.flush()
        batch.recording.resize(rows, columns)


def _size(handshake: bytes) -> tuple[int, int]:
    """(rows, columns) of a client's first frame (JSON), else the usual 24x80."""
    try:
        said = json.loads(handshake)
        return int(said.get("rows") or 24), int(said.get("columns") or 80)
    except (ValueError, TypeError, AttributeError, OverflowError):
        return 24, 80


def _background(awaitable: Any) -> None:
    """Run ``awaitable`` on its own, kept until it is done (the loop holds tasks only weakly)."""
    task = asyncio.ensure_future(awaitable)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Future] = set()


def _reason(text: str) -> str:
    """A close reason: at most 123 bytes of UTF-8 (RFC 6455), cut at a character."""
    return text.encode()[:123].decode(errors="ignore")


def _response(status: int, body: bytes, headers: Headers | None = None, reason: str = "") -> Response:
    headers = headers or Headers([("Content-Type", "text/plain; charset=utf-8")])
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"  # one answer per connection, as websockets' own (a shutdown waits for none)
    return Response(status, reason or http.client.responses.get(status, ""), headers, body)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _say(message: str, path: str) -> None:
    """The termination message (what ``kubectl describe pod`` and the operator read), and stderr."""
    print(message, file=sys.stderr)
    try:
        Path(path).write_text(message)
    except OSError:
        pass


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recorder", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="", help="the addresses to listen on, comma-separated (default: all)")
    parser.add_argument("--port", type=int, default=7681, help="the pod's ttyd port")
    parser.add_argument("--ttyd-socket", required=True, help="ttyd's UNIX socket")
    parser.add_argument("--folder", required=True, help="where recordings go (on the administrator's claim)")
    parser.add_argument("--shell", required=True)
    parser.add_argument("--owner", default="")
    parser.add_argument("--spec", default="{}", help="the shell's spec, env values left out (JSON)")
    parser.add_argument("--input", action="store_true", help="record what is typed too")
    parser.add_argument("--termination-log", default="/dev/termination-log")
    args = parser.parse_args(argv)
    recorder = Recorder(args)
    try:
        recorder.check()
    except RecordingFailed as e:
        _say(f"not recorded: {e}", args.termination_log)
        return NOT_RECORDED_EXIT
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    hosts = [host for host in args.listen.split(",") if host] or None  # None: every address
    try:
        server = await serve(
            recorder.session, hosts, args.port, process_request=recorder.process_request,
            subprotocols=[SUBPROTOCOL], compression=None, max_size=MAX_FRAME, max_queue=QUEUE,
            ping_interval=PING_SECONDS, ping_timeout=PING_SECONDS, close_timeout=CLOSE_TIMEOUT,
        )  # fmt: skip
    except OSError as e:
        # The port taken (by the shell, between two runs of the recorder?): never serve it unrecorded.
        _say(f"not recorded: cannot listen on port {args.port}: {e.strerror or e}", args.termination_log)
        return NOT_RECORDED_EXIT
    print(f"recorder: {args.listen}:{args.port} -> {args.ttyd_socket}, recordings in {args.folder}", flush=True)
    await stop.wait()
    # Every terminal closed (1001); each session closes its recording as it ends. Not waited for: a
    # client that keeps an answered HTTP connection open (websockets waits for it to hang up).
    server.close()
    if recorder.sessions:
        await asyncio.wait(recorder.sessions, timeout=STOP_GRACE)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
