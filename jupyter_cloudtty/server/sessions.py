"""The session layer: one terminal stream shared by any number of attached clients.

A session pumps output from a ``TerminalStream`` (a local PTY, or a pod's ttyd through the relay)
into a bounded scrollback and to every attached client. It never buffers without bound:
the pump awaits each client's write before reading more, so a slow client slows the
stream (and, through the PTY or TCP, the program) instead of filling memory.

Flow control is per client. A client's PAUSE stops what is sent to that client alone; the stream
itself pauses only while every attached client has paused, so a stalled or hostile tab cannot
freeze the other clients of the shell (the kernel's widget among them). What a paused client
misses stays where all output is kept anyway, the scrollback: at RESUME it gets it, in order.
No client has a buffer of its own, so a paused client costs no memory; one that misses more than
the scrollback holds is closed with ``FELL_BEHIND`` and can come back with ``?client=&received=``
(the replay then starts where the scrollback does).

Nothing is read before the client that opened the stream has attached, so it sees the program's first
byte; at the end, each client is handed what it has not had before its close, however slow or paused
(``release``, ``end``).

A session of a recorded shell (server/recordings.py's policy gives it a ``Recorder``) records as the
frames pass: its recording starts before the stream opens (a ``required`` one that cannot start
means the stream is never opened: no process, and the clients closed with ``NOT_RECORDED``), then
takes each output chunk and notice, resize, input (kept only if the administrator asked), a marker
when the stream is reopened and wherever ``mark`` is called; it closes when the session ends. While
``recording_paused`` is set (``with session.unrecorded():``) neither output nor input is recorded
(bytes that are not the terminal's text). A file transfer needs neither: while the session is diverted
its bytes bypass the recording, and only its markers are kept. A recording that fails later ends a
``required`` session the same way, and is a notice in an ``optional`` one. Unrecorded, each frame
costs one None check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator, Optional, Protocol, Tuple

from jupyter_cloudtty.cloudshell.recording import Recording, RecordingFailed
from jupyter_cloudtty.ttyd.protocol import CloseCode, close_reason

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
DEFAULT_SIZE = (24, 80)  # (rows, columns) when the first client sends no size
RESUMABLE_CLIENTS = 256  # client ids a session remembers for resuming
# RFC 6455's "Try Again Later": not an end of the shell, so clients reconnect (and resume), as after a drop.
FELL_BEHIND = 1013


class TerminalStream(Protocol):
    """Where a session's bytes come from and go to."""

    async def read(self) -> bytes:
        """The next output chunk; ``b""`` once the stream has ended. It lets the event loop turn
        between chunks (the session's pump does not), so one busy program never holds the loop."""

    def write(self, data: bytes) -> Awaitable[None]:
        """Input for the program, queued in order now; done once the stream has taken all of it (at
        once, usually: then it is an already done future, so a keystroke costs no task)."""

    def resize(self, rows: int, columns: int) -> Optional[Awaitable[None]]:
        """Set the terminal's size; an awaitable when the change goes over a socket (done once it
        is on it), None when it took effect at once."""

    def pause(self) -> None:
        """Stop producing output until ``resume``; what is produced meanwhile is held."""

    def resume(self) -> None: ...

    def close(self) -> None: ...


class Recorder(Protocol):
    """What records a session (server/recordings.py's ``ShellRecorder``)."""

    @property
    def required(self) -> bool:
        """Whether a session that cannot be recorded must not run."""

    def start(self, size: tuple[int, int]) -> Recording | None:
        """A recording started now at ``size`` (rows, columns); None if the shell is not recorded,
        RecordingFailed saying why it cannot be."""


class Diverted(Protocol):
    """What a session's output goes to during a file transfer (server/transfers.py's ``Transfer``)."""

    def take(self, chunk: bytes) -> Awaitable[None] | None:
        """An output chunk; an awaitable the pump waits for before reading more (backpressure)."""

    def cancel(self) -> None:
        """A client typed Ctrl-C."""


class Client(Protocol):
    """An attached viewer (the WebSocket handler), as the session sees it."""

    def send_output(self, data: bytes) -> Awaitable[None] | None:
        """Deliver output, queued in order now: None when it is already on its way (on the socket), else
        an awaitable done once it is (never raising for a gone client)."""

    def end(self, code: int, reason: str) -> None:
        """The session is over: close with this code and reason."""


class Scrollback:
    """The most recent output, at most ``limit`` bytes, cut at line starts when trimmed.

    Offsets count every byte ever appended: ``start`` is the offset of the oldest byte
    kept, ``end`` the offset after the newest.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self.end = 0

    @property
    def start(self) -> int:
        return self.end - self._size

    def append(self, data: bytes) -> None:
        self.end += len(data)
        if self.limit <= 0:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self.limit:
            self._trim()

    def _trim(self) -> None:
        while self._size - len(self._chunks[0]) >= self.limit:
            self._size -= len(self._chunks.popleft())
        if self._size > self.limit:
            # Cut the oldest chunk at a line start, so replay starts on a clean line.
            first = self._chunks[0]
            cut = self._size - self.limit
            newline = first.find(b"\n", cut)
            cut = newline + 1 if newline != -1 else cut
            self._chunks[0] = first[cut:]
            self._size -= cut

    def tail(self, limit: int) -> bytes:
        """The last ``limit`` bytes (or fewer)."""
        data = b"".join(self._chunks)
        return data[-limit:]

    def since(self, offset: int) -> bytes:
        """What was appended from ``offset`` on (from ``start`` if that is older)."""
        data = b"".join(self._chunks)
        return data[max(offset - self.start, 0) :]

    def __bytes__(self) -> bytes:
        return b"".join(self._chunks)

    def __len__(self) -> int:
        return self._size


StreamOpener = Callable[[int, int], Awaitable[Optional[TerminalStream]]]
Resume = Tuple[str, int]  # (client id, output bytes it has received from this session)


@dataclass(eq=False)
class Attached:
    """A client as its session tracks it."""

    size: tuple[int, int] | None
    sent: int  # scrollback offset after the last byte handed to the client (its replay included)
    paused: bool = False
    catching_up: asyncio.Future[None] | None = None  # delivering what it missed while paused


class Session:
    """Fan-out of one ``TerminalStream`` to many clients, with scrollback and flow control.

    The stream is opened for the first client, at that client's size, as ttyd spawns its
    process on connection: ``open_stream(rows, columns)`` returns it, or None if it could
    not be opened (having ended the session with the reason). A backend may open it before any
    client (``open(None)``: the local login shell): it is held unread until the first client
    attaches, whose size it then takes. ``on_last_detach`` is called when the last client leaves
    (``once`` shells end then), ``on_end`` once the session has ended (whoever ended it), with its
    close code and reason. ``recorder`` records it (see the module).
    """

    def __init__(
        self,
        open_stream: StreamOpener,
        *,
        title: str,
        preferences: dict,
        scrollback_bytes: int,
        on_last_detach: Callable[[], None] | None = None,
        on_end: Callable[[int, str], None] | None = None,
        recorder: Recorder | None = None,
    ):
        self.stream: TerminalStream | None = None
        self._open_stream = open_stream
        self._opening: asyncio.Future[None] | None = None
        self.title = title
        self.preferences = preferences
        self.scrollback = Scrollback(scrollback_bytes)
        self.ended: tuple[int, str] | None = None
        self._on_last_detach = on_last_detach
        self._clients: dict[Client, Attached] = {}
        self._held = False  # the stream is paused (every client has paused, or none has attached yet)
        self._attached_once = False  # a client has attached: the opener has taken its place
        self._released = False  # ending: the rest of the stream is read whoever pauses or is slow
        self._releasing = asyncio.Event()  # set with _released, for a pump waiting on a slow client
        self._closing: set[asyncio.Task[None]] = set()  # clients being handed the rest before their close
        self._size: tuple[int, int] | None = None
        self._pump_task: asyncio.Task[None] | None = None
        # client id -> the offset its byte count starts from (see attach)
        self._resume_bases: OrderedDict[str, int] = OrderedDict()
        self.last_activity = time.monotonic()  # of input or output (the idle rule's clock)
        self._on_end = on_end
        self.recorder = recorder
        self.recording: Recording | None = None
        self.recording_paused = False  # set while a file transfer runs: its bytes are not recorded
        self._streamed = False  # a stream has opened: the recording has something to replay
        # File transfers (server/transfers.py): while ``diverted`` is set its ``take`` gets all output and
        # the clients' input is held back; ``watch`` sees each chunk first (a ``tsz`` the user typed).
        self.diverted: Diverted | None = None
        self.watch: Callable[[Session, bytes], None] | None = None
        self.watch_tail = b""  # the last chunk's end, for a trigger split across two chunks
        self.typist: Client | None = None  # who typed last: a transfer it starts goes where it asked
        # trz/tsz as a transfer types them: their names (the image's PATH has them), or a local shell's
        # absolute paths (a login shell's profile may reset PATH to one without the server's venv).
        self.tools: dict[str, str] = {}
        self.transfer_ended = float("-inf")  # monotonic time the last transfer ended (trz/tsz then exits)

    async def open(self, size: tuple[int, int] | None) -> None:
        """Open the stream unless it is open (or opening, or the session has ended)."""
        if self._opening is None and self.ended is None:
            self._opening = asyncio.ensure_future(self._open(size or DEFAULT_SIZE))
        if self._opening is not None:
            await asyncio.shield(self._opening)

    async def _open(self, size: tuple[int, int]) -> None:
        # Recording starts before the process does, so a required one that cannot start leaves none.
        if self.recorder is not None and self.recording is None and not self._start_recording(size):
            return
        stream = await self._open_stream(*size)
        if stream is None:
            return
        if self.ended is not None:  # ended (deleted, expired) while the stream was opening: nobody will read it
            stream.close()
            return
        self.stream, self._size, self._streamed = stream, size, True
        self._flow()  # held until the client that opened it attaches: it sees the first byte live
        self._pump_task = asyncio.get_running_loop().create_task(self._pump(stream))

    async def _pump(self, stream: TerminalStream) -> None:
        read = stream.read
        released = asyncio.ensure_future(self._releasing.wait())
        try:
            while chunk := await read():
                self.last_activity = time.monotonic()
                if self.watch is not None and self.diverted is None:
                    self.watch(self, chunk)  # may divert the session, from this chunk on
                if self.diverted is not None:
                    taken = self.diverted.take(chunk)  # a transfer's bytes: not in the scrollback or recording
                    if taken is not None:
                        await taken
                    continue
                if self.recording is not None and not self.recording_paused:
                    self._record(self.recording.output, chunk)
                    if self.ended is not None:
                        break  # a required recording failed: what it could not keep is shown to nobody
                start = self.scrollback.end
                self.scrollback.append(chunk)
                writes = []
                for client, attached in list(self._clients.items()):  # a snapshot: clients come and go meanwhile
                    write = self._deliver(client, attached, chunk, start)
                    if write is not None:
                        writes.append(write)
                if writes:
                    delivered = asyncio.ensure_future(writes[0] if len(writes) == 1 else asyncio.gather(*writes))
                    # Released, a slow client holds back nothing more: it gets the rest with its end.
                    await asyncio.wait((delivered, released), return_when=asyncio.FIRST_COMPLETED)
                    if delivered.done():
                        delivered.result()
        except Exception:
            log.exception("terminal stream failed; ending its output")
        finally:
            released.cancel()
            if self.diverted is not None:
                self.diverted.cancel()  # its shell is gone: nothing will answer it any more

    def _deliver(self, client: Client, attached: Attached, chunk: bytes, start: int) -> Awaitable[None] | None:
        """What the pump awaits for ``client`` to have the chunk just read (at offset ``start``)."""
        if attached.paused:
            if attached.sent < self.scrollback.start:
                self._fell_behind(client)
            return None
        if self._released:
            return None  # the end hands it over (see end)
        if attached.catching_up is not None and not attached.catching_up.done():
            return attached.catching_up  # it goes on to this chunk once it has sent what came before
        data = chunk if attached.sent == start else self.scrollback.since(attached.sent)
        attached.sent = self.scrollback.end
        return client.send_output(data)

    def _fell_behind(self, client: Client) -> None:
        # Keeping what it missed would take memory without bound: it may come back for what is kept.
        log.info("closing a terminal client that stayed paused through more output than the scrollback holds")
        self.detach(client)
        client.end(FELL_BEHIND, self._fell_behind_reason)

    @property
    def _fell_behind_reason(self) -> str:
        return f"fell behind: paused through more output than the scrollback holds ({self.scrollback.limit} bytes)"

    def notice(self, text: str) -> None:
        """A line of ours in the output (dim, on a line of its own): in the scrollback and to every client."""
        self.inject(f"\r\n\x1b[2m[{text}]\x1b[0m\r\n".encode())

    def inject(self, data: bytes) -> None:
        """Bytes of ours in the output, as if the program wrote them: recorded, kept and sent to every client."""
        if self.recording is not None and not self.recording_paused:
            self._record(self.recording.output, data)
        start = self.scrollback.end
        self.scrollback.append(data)
        for client, attached in list(self._clients.items()):
            self._deliver(client, attached, data, start)  # queued in order with the output; not awaited

    async def reopen(self, why: str = "pod replaced") -> bool:
        """Open a new stream after the last one ended without the session ending (a cluster shell's pod
        was replaced): the clients stay attached and go on with it, and the recording in the same file
        after a marker saying ``why``. False if it could not be opened."""
        if self.ended is not None:
            return False
        if self._pump_task is not None:
            await asyncio.shield(self._pump_task)
        self.stream, self._opening, self._pump_task, self._held = None, None, None, False
        self.mark(why)
        await self.open(self._size)
        return self.stream is not None

    # --- the recording ----------------------------------------------------------------

    def mark(self, label: str) -> None:
        """A marker in the recording (asciicast's ``m``), where a player can jump to: a new pod, a file
        transfer's start and end. Nothing when the session is not recorded."""
        if self.recording is not None:
            self._record(self.recording.marker, label)

    @contextlib.contextmanager
    def unrecorded(self) -> Iterator[None]:
        """Output and input passing meanwhile are not recorded (a file transfer's bytes), as with
        ``recording_paused`` set; markers and resizes still are."""
        paused, self.recording_paused = self.recording_paused, True
        try:
            yield
        finally:
            self.recording_paused = paused

    # --- file transfers ---------------------------------------------------------------

    def divert(self, target: Diverted) -> None:
        """Give all output to ``target`` until ``undivert`` (a transfer); the clients' typing is held back."""
        self.diverted = target

    def undivert(self, target: Diverted) -> None:
        if self.diverted is target:
            self.diverted = None

    def type(self, data: bytes) -> Awaitable[None] | None:
        """Input of ours (a transfer's commands and protocol): straight to the stream, not recorded as typing;
        None once it has taken it, else an awaitable done when it has."""
        if self.stream is None:
            return None
        return pending(self.stream.write(data))

    def _start_recording(self, size: tuple[int, int]) -> bool:
        """Start the recording; False if the session must not run (required, and it cannot start)."""
        assert self.recorder is not None
        try:
            self.recording = self.recorder.start(size)
        except RecordingFailed as e:
            return self._recording_failed(str(e))
        return True

    def _record(self, event: Callable[..., None], *args: Any) -> None:
        try:
            event(*args)
        except RecordingFailed as e:
            self._recording_failed(str(e))

    def _recording_failed(self, why: str) -> bool:
        """A recording that cannot start or go on: the end of a session that must be recorded (False),
        a notice in one that may be (True)."""
        self.recording = None
        if self.recorder is not None and self.recorder.required:
            log.warning("closing a terminal that cannot be recorded: %s", why)
            self.end(CloseCode.NOT_RECORDED, close_reason(f"not recorded: {why}"))
            return False
        log.warning("a terminal goes on unrecorded: %s", why)
        self.notice(f"not recorded: {why}")
        return True

    def _close_recording(self) -> None:
        recording, self.recording = self.recording, None
        if recording is None:
            return
        try:
            recording.close() if self._streamed else recording.discard()  # nothing to replay: no file
        except OSError as e:
            log.warning("closing the recording %s: %s", recording.path, e)

    async def drained(self) -> None:
        """Wait until the stream has ended and every byte of it has been delivered (once released: read,
        for ``end`` to hand over)."""
        if self._pump_task is not None:
            await asyncio.shield(self._pump_task)

    # --- clients -------------------------------------------------------------------

    @property
    def has_clients(self) -> bool:
        return bool(self._clients)

    def attach(self, client: Client, size: tuple[int, int] | None = None, resume: Resume | None = None) -> bytes:
        """Register ``client`` (after ``open``); return the output to replay first.

        Nothing is awaited between snapshot and registration, so every byte reaches the
        client exactly once: either in the replay or live. A new client gets the whole
        scrollback. A client that says who it is and how many output bytes it has
        received (``resume``) gets only what came after them, if the scrollback still
        holds it: a browser back from a network drop sees nothing twice.
        """
        self._clients[client] = Attached(size, sent=self.scrollback.end)
        self._attached_once = True
        self._flow()  # a client that has not paused lets the stream flow
        if size:
            self._apply_size(size)  # queued in order; not awaited: see above
        replay_from = self.scrollback.start
        if resume is not None:
            client_id, received = resume
            base = self._resume_bases.pop(client_id, None)
            if base is not None:
                replay_from = min(max(base + received, self.scrollback.start), self.scrollback.end)
            self._resume_bases[client_id] = replay_from - received
            while len(self._resume_bases) > RESUMABLE_CLIENTS:
                self._resume_bases.popitem(last=False)
        return self.scrollback.since(replay_from)

    def detach(self, client: Client) -> None:
        if client not in self._clients:
            return
        del self._clients[client]
        if self.typist is client:
            self.typist = None
        self._flow()
        if not self._clients and self.ended is None and self._on_last_detach:
            self._on_last_detach()

    def write(self, client: Client, data: bytes) -> Awaitable[None]:
        """Queue ``data`` for the program now; done once the stream has taken it (at once, usually:
        ``pending`` tells). Await it before sending more: a program that does not read holds its
        typist back."""
        self.last_activity = time.monotonic()
        self.typist = client
        if self.diverted is not None:
            # A transfer owns the terminal: typing would corrupt it. Ctrl-C cancels it, as in trzsz's clients.
            if b"\x03" in data:
                self.diverted.cancel()
            return completed()
        # The terminal follows the size of whoever is typing (tmux's "latest"); the resize goes first.
        attached = self._clients.get(client)
        resized = None
        if attached and attached.size and attached.size != self._size:
            resized = self._apply_size(attached.size)
        recording = self.recording
        if recording is not None and not self.recording_paused:
            self._record(recording.input, data)  # kept only if the administrator asked (record_input)
            if self.ended is not None:  # a required recording failed: this input goes nowhere
                return completed()
        if self.stream is None:
            return resized or completed()
        written = self.stream.write(data)
        if resized is None or pending(resized) is None:
            return written
        return asyncio.gather(resized, written)

    async def resize(self, client: Client, rows: int, columns: int) -> None:
        """Returns once the new size is on its way to the program: a client sending resizes faster
        than a stalled ttyd takes them waits, instead of growing a send buffer without bound."""
        attached = self._clients.get(client)
        if attached is not None:
            attached.size = (rows, columns)
            sent = self._apply_size((rows, columns))
            if sent is not None:
                await sent

    def _apply_size(self, size: tuple[int, int]) -> Optional[Awaitable[None]]:
        if size != self._size and self.ended is None and self.stream is not None:
            self._size = size
            resized = self.stream.resize(*size)
            if self.recording is not None:
                self._record(self.recording.resize, *size)
            return resized
        return None

    def pause(self, client: Client) -> None:
        """Send ``client`` nothing more until it resumes; the others go on."""
        attached = self._clients.get(client)
        if attached is not None and not attached.paused:
            attached.paused = True
            self._flow()

    def resume(self, client: Client) -> None:
        """Send ``client`` what it missed while paused, then the live output again."""
        attached = self._clients.get(client)
        if attached is not None and attached.paused:
            attached.paused = False
            if attached.sent < self.scrollback.end and (attached.catching_up is None or attached.catching_up.done()):
                attached.catching_up = asyncio.ensure_future(self._catch_up(client, attached))
            self._flow()

    async def _catch_up(self, client: Client, attached: Attached) -> None:
        # One write at a time, as the pump's: a client that does not read holds only this one.
        while not attached.paused and attached.sent < self.scrollback.end and self._clients.get(client) is attached:
            data = self.scrollback.since(attached.sent)
            attached.sent = self.scrollback.end
            sent = client.send_output(data)
            if sent is not None:
                await sent

    def _flow(self) -> None:
        """Pause the stream while every client has paused (and there is one), or until the first client
        attaches; else let it flow (with nobody attached any more, into the scrollback)."""
        everyone_paused = bool(self._clients) and all(a.paused for a in self._clients.values())
        hold = not self._released and (everyone_paused or not self._attached_once)
        if hold != self._held and self.stream is not None:
            self._held = hold
            self.stream.pause() if hold else self.stream.resume()

    def release(self) -> None:
        """The program is gone: read the rest of the stream (no more than its terminal held) whoever paused
        or is slow, so that one slow client costs no other the end of the output; ``end`` hands it over."""
        self._released = True
        self._releasing.set()
        self._flow()

    def end(self, code: int, reason: str) -> None:
        """Close every client with ``code`` once it has been handed what it has not had (it may have paused,
        or the session was released); later clients get the replay, then the same."""
        if self.ended is not None:
            return
        self.ended = (code, reason)
        for client, attached in list(self._clients.items()):
            if attached.sent < self.scrollback.start:
                client.end(FELL_BEHIND, self._fell_behind_reason)  # it comes back for the replay, and this end
            elif attached.sent < self.scrollback.end:
                rest, attached.sent = self.scrollback.since(attached.sent), self.scrollback.end
                closing = asyncio.ensure_future(_last_words(client, rest, code, reason))
                self._closing.add(closing)  # the loop keeps only a weak reference to a task
                closing.add_done_callback(self._closing.discard)
            else:
                client.end(code, reason)
        self._clients.clear()
        if self.stream is not None:
            self.stream.close()
        self._close_recording()
        if self._on_end is not None:
            self._on_end(code, reason)


async def _last_words(client: Client, rest: bytes, code: int, reason: str) -> None:
    # After what it is already being sent (its writes are queued in order), and before its close.
    sent = client.send_output(rest)
    if sent is not None:
        await sent
    client.end(code, reason)


def completed() -> asyncio.Future[None]:
    """A future already done: what a write the stream took at once returns (a stream keeps one to hand
    out again, so a keystroke costs no new object)."""
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def pending(written: Awaitable[None]) -> Awaitable[None] | None:
    """``written`` if it is still to be awaited; None for a future that is done (and did not fail)."""
    if isinstance(written, asyncio.Future) and written.done() and not written.cancelled() and not written.exception():
        return None
    return written
