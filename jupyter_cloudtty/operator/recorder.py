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
  unrecorded.

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
import time
from pathlib import Path
from typing import Callable

from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Request, Response

from jupyter_cloudtty.cloudshell.recording import Recording, RecordingFailed

NOT_RECORDED_EXIT = 73  # sysexits' EX_CANTCREAT: the recordings' folder cannot be written
NOT_RECORDED = 4007  # ttyd/protocol.CloseCode.NOT_RECORDED (this file runs without the package)
UNREACHABLE = 4005
SUBPROTOCOL = "tty"
INPUT, RESIZE, OUTPUT = ord("0"), ord("1"), ord("0")
MAX_FRAME = 4 * 1024 * 1024  # as the Jupyter server's relay (kubernetes/relay.py): a paste, a trzsz frame
BATCH_BYTES = 64 * 1024  # output written as one event at most this big...
BATCH_SECONDS = 0.05  # ...and at most this late (a player shows it at its first byte's time all the same)
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

    def check(self) -> None:
        """The folder made and writable, or RecordingFailed saying why: before anything listens."""
        probe = self.folder / f".recorder-{os.getpid()}"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise RecordingFailed(f"cannot write recordings in {self.folder}: {e.strerror or e}") from None

    # --- HTTP: ttyd's page and token, and the probes ---------------------------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == READY_PATH:
            ready = await asyncio.to_thread(self._ttyd_answers)
            return connection.respond(200 if ready else 503, "ttyd answers\n" if ready else "ttyd is not up yet\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None  # a terminal: handled by ``session``
        return await asyncio.to_thread(self._fetch, request)

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
        try:
            await self._session(client)
        finally:
            self.sessions.discard(task)

    async def _session(self, client: ServerConnection) -> None:
        try:
            first = await client.recv()
        except ConnectionClosed:
            return
        handshake = first.encode() if isinstance(first, str) else first
        rows, columns = _size(handshake)
        try:
            recording = Recording.start(self.folder, self.shell, (rows, columns), owner=self.owner, spec=self.spec,
                                        record_input=self.record_input)  # fmt: skip
        except RecordingFailed as e:
            await client.close(NOT_RECORDED, _reason(f"not recorded: {e}"))
            return
        request = client.request
        assert request is not None
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        try:
            ttyd = await unix_connect(
                self.socket_path, f"ws://localhost{request.path}", subprotocols=[SUBPROTOCOL],
                additional_headers=headers, compression=None, max_size=MAX_FRAME, ping_interval=None,
            )  # fmt: skip
        except (OSError, InvalidHandshake) as e:
            recording.discard()
            why = f"HTTP {e.response.status_code}" if isinstance(e, InvalidStatus) else str(e)
            await client.close(UNREACHABLE, _reason(f"the shell's ttyd cannot be reached: {why}"))
            return
        failed: list[str] = []

        def fail(why: str) -> None:  # a batch's timed write failed: the session ends, as at a frame's
            failed.append(why)
            asyncio.ensure_future(ttyd.close())

        batch = Batch(recording, fail)
        try:
            await ttyd.send(first)
            upward = asyncio.ensure_future(self._pass(client, ttyd, batch, failed, upward=True))
            downward = asyncio.ensure_future(self._pass(ttyd, client, batch, failed, upward=False))
            done, pending = await asyncio.wait((upward, downward), return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            try:
                batch.flush()
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
        """Frames from ``source`` to ``sink``, each recorded before it is sent; ``send`` waits while the
        sink is slow (backpressure: the source is read no faster than the sink takes it)."""
        try:
            async for frame in source:
                data = frame.encode() if isinstance(frame, str) else frame
                if data:
                    try:
                        _record(batch, data, upward)
                    except RecordingFailed as e:
                        failed.append(str(e))
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
        except (ValueError, TypeError, KeyError):
            return  # ttyd ignores it too
        batch.flush()
        batch.recording.resize(rows, columns)


def _size(handshake: bytes) -> tuple[int, int]:
    """(rows, columns) of a client's first frame (JSON), else the usual 24x80."""
    try:
        said = json.loads(handshake)
        return int(said.get("rows") or 24), int(said.get("columns") or 80)
    except (ValueError, TypeError, AttributeError):
        return 24, 80


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
    parser.add_argument("--listen", default="0.0.0.0", help="the address to listen on")
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
    server = await serve(
        recorder.session, args.listen, args.port, process_request=recorder.process_request,
        subprotocols=[SUBPROTOCOL], compression=None, max_size=MAX_FRAME, ping_interval=None,
    )  # fmt: skip
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
