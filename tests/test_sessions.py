"""The session layer (server/sessions.py): the scrollback kept for late clients, and ``Session``, one
terminal stream shared by many clients, against an in-memory stream; what each client is shown."""

from __future__ import annotations

import asyncio
import tracemalloc
from types import SimpleNamespace

import pytest

from jupyter_cloudtty.server import sessions
from jupyter_cloudtty.server.backends.kubernetes.backend import KubernetesBackend
from jupyter_cloudtty.server.backends.kubernetes.policy import Policy
from jupyter_cloudtty.server.sessions import Resume, Scrollback, Session
from tests.harness.waiting import eventually


def test_keeps_everything_under_the_limit():
    scrollback = Scrollback(100)
    scrollback.append(b"one\r\n")
    scrollback.append(b"two\r\n")
    assert bytes(scrollback) == b"one\r\ntwo\r\n"


def test_trims_to_the_limit_at_a_line_start():
    scrollback = Scrollback(20)
    for i in range(10):
        scrollback.append(b"line %d\r\n" % i)
    kept = bytes(scrollback)
    assert len(scrollback) == len(kept) <= 20
    assert kept == b"line 8\r\nline 9\r\n"


def test_a_line_longer_than_the_limit_is_cut_to_its_tail():
    scrollback = Scrollback(10)
    scrollback.append(b"x" * 100)
    assert bytes(scrollback) == b"x" * 10


def test_zero_keeps_nothing():
    scrollback = Scrollback(0)
    scrollback.append(b"abc")
    assert bytes(scrollback) == b"" and len(scrollback) == 0


def test_tail():
    scrollback = Scrollback(100)
    scrollback.append(b"abc")
    scrollback.append(b"def")
    assert scrollback.tail(4) == b"cdef"


def test_offsets_count_every_byte_ever_appended():
    scrollback = Scrollback(20)
    for i in range(10):
        scrollback.append(b"line %d\r\n" % i)  # 8 bytes each
    assert scrollback.end == 80
    assert scrollback.start == 80 - len(b"line 8\r\nline 9\r\n")
    assert scrollback.since(72) == b"line 9\r\n"
    assert scrollback.since(0) == b"line 8\r\nline 9\r\n"  # older than what is kept: all of it
    assert scrollback.since(80) == b""


# --- Session: one terminal stream, many clients ----------------------------------------------------


class FakeStream:
    """A terminal stream in memory: the test is the program (``emit``) and reads what was typed."""

    def __init__(self) -> None:
        self._output: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self.reads = 0  # read() calls: what the session has taken from the program
        self.typed = bytearray()
        self.sizes: list[tuple[int, int]] = []
        self.flow: list[str] = []  # "pause" / "resume", in order
        self.closed = False
        self._flowing = asyncio.Event()  # cleared while paused: read() holds, as a PTY's unread output
        self._flowing.set()

    def emit(self, data: bytes | Exception) -> None:
        """The program writes ``data``; ``b""`` ends its output, an exception fails the read."""
        self._output.put_nowait(data)

    @property
    def held(self) -> int:
        """Chunks written by the program that the session has not read (in a PTY: its buffer)."""
        return self._output.qsize()

    async def read(self) -> bytes:
        """As a PTY's: one turn of the loop per chunk (TerminalStream's contract)."""
        await asyncio.sleep(0)
        await self._flowing.wait()
        self.reads += 1
        data = b"" if self.closed else await self._output.get()
        if isinstance(data, Exception):
            raise data
        return data

    async def write(self, data: bytes) -> None:
        self.typed += data

    def resize(self, rows: int, columns: int) -> None:
        self.sizes.append((rows, columns))

    def pause(self) -> None:
        self.flow.append("pause")
        self._flowing.clear()

    def resume(self) -> None:
        self.flow.append("resume")
        self._flowing.set()

    def close(self) -> None:
        self.closed = True
        self._flowing.set()
        self._output.put_nowait(b"")


class Viewer:
    """A client as a browser sees it: the bytes shown, in order, and the close it got.

    A ``slow`` viewer takes each chunk only when the test lets it (``let_through``), as a browser on a
    slow network whose WebSocket writes do not complete.
    """

    def __init__(self, slow: bool = False) -> None:
        self.shown = bytearray()
        self.closed: tuple[int, str] | None = None
        self._changed = asyncio.Condition()
        self._gate: asyncio.Queue[None] | None = asyncio.Queue() if slow else None
        self.writing = asyncio.Event()  # set while a chunk waits to be let through

    def let_through(self, chunks: int = 1) -> None:
        assert self._gate is not None
        for _ in range(chunks):
            self._gate.put_nowait(None)

    async def send_output(self, data: bytes) -> None:
        if self._gate is not None:
            self.writing.set()
            await self._gate.get()
            self.writing.clear()
        async with self._changed:
            self.shown += data
            self._changed.notify_all()

    def end(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    async def shows(self, data: bytes, timeout: float = 5) -> None:
        """Wait until everything shown so far is ``data``."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bytes(self.shown) == data), timeout)


_terminals: list[Terminal] = []


@pytest.fixture(autouse=True)
def _end_the_sessions():
    """End each test's sessions, and let their pumps finish, rather than leave them pending."""
    yield
    ended = [term.session for term in _terminals]
    _terminals.clear()
    for session in ended:
        session.end(1000, "the test is over")
    if ended:
        drained = asyncio.gather(*(session.drained() for session in ended))
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(drained, 5))


class Terminal:
    """A session over a FakeStream, with the opener's calls recorded."""

    def __init__(self, scrollback_bytes: int = 1024, stream: FakeStream | None = None) -> None:
        self.stream = stream or FakeStream()
        self.opened: list[tuple[int, int]] = []
        self.last_detaches = 0
        _terminals.append(self)
        self.session = Session(
            self._open,
            title="t",
            preferences={},
            scrollback_bytes=scrollback_bytes,
            on_last_detach=self._last_detach,
        )

    async def _open(self, rows: int, columns: int) -> FakeStream:
        self.opened.append((rows, columns))
        await asyncio.sleep(0)  # opening takes a turn of the loop, as connecting does
        return self.stream

    def _last_detach(self) -> None:
        self.last_detaches += 1

    async def join(
        self, viewer: Viewer, size: tuple[int, int] | None = (24, 80), resume: Resume | None = None
    ) -> Viewer:
        """What the terminal handler does for a client: open, attach, show the replay first."""
        await self.session.open(size)
        replay = self.session.attach(viewer, size, resume)
        viewer.shown += replay
        if self.session.ended:
            viewer.end(*self.session.ended)
        return viewer

    async def output(self, data: bytes, *viewers: Viewer) -> None:
        """The program writes ``data``; wait until every viewer has shown all of it."""
        expected = [bytes(v.shown) + data for v in viewers]
        self.stream.emit(data)
        for viewer, shown in zip(viewers, expected, strict=True):
            await viewer.shows(shown)


async def test_output_reaches_every_client_in_order():
    term = Terminal()
    a, b = await term.join(Viewer()), await term.join(Viewer())
    await term.output(b"one\r\n", a, b)
    c = await term.join(Viewer())
    await term.output(b"two\r\n", a, b, c)
    assert a.shown == b.shown == b"one\r\ntwo\r\n"
    assert c.shown == b"one\r\ntwo\r\n"  # the scrollback, then live: nothing missed, nothing twice
    assert term.opened == [(24, 80)]  # one program, started for the first client


async def test_a_late_client_gets_the_recent_output_from_a_line_start():
    term = Terminal(scrollback_bytes=20)
    first = await term.join(Viewer())
    for i in range(10):
        await term.output(b"line %d\r\n" % i, first)
    late = await term.join(Viewer())
    assert late.shown == b"line 8\r\nline 9\r\n"  # at most 20 bytes, from the start of a line
    await term.output(b"more\r\n", first, late)


async def test_a_client_attaching_while_output_is_delivered_sees_each_byte_once():
    term = Terminal()
    slow = await term.join(Viewer(slow=True))
    term.stream.emit(b"first\r\n")
    await asyncio.wait_for(slow.writing.wait(), 5)  # the session is writing "first" to the slow client
    late = await term.join(Viewer())
    assert late.shown == b"first\r\n"  # in the replay, so not live again
    slow.let_through(2)
    await slow.shows(b"first\r\n")
    await term.output(b"second\r\n", slow, late)
    assert late.shown == slow.shown == b"first\r\nsecond\r\n"


async def test_a_slow_client_holds_the_program_back_instead_of_filling_memory():
    """As the module promises: the session reads no more until every client has taken the last chunk;
    the others get that chunk at once, the next one when the slow client has taken it too."""
    term = Terminal()
    fast, slow = await term.join(Viewer()), await term.join(Viewer(slow=True))
    term.stream.emit(b"a" * 1000)
    await fast.shows(b"a" * 1000)  # not held up by the slow client
    term.stream.emit(b"b" * 1000)
    term.stream.emit(b"c" * 1000)
    for _ in range(10):  # turns of the loop in which a session that did not wait would read on
        await asyncio.sleep(0)
    assert (term.stream.reads, term.stream.held) == (1, 2)  # the rest waits in the program's buffer
    assert fast.shown == b"a" * 1000 and slow.shown == b""
    slow.let_through(3)
    await slow.shows(b"a" * 1000 + b"b" * 1000 + b"c" * 1000)
    await fast.shows(b"a" * 1000 + b"b" * 1000 + b"c" * 1000)


async def test_a_client_back_from_a_drop_gets_only_what_it_missed():
    term = Terminal()
    other = await term.join(Viewer())
    browser = await term.join(Viewer(), resume=("tab-1", 0))
    await term.output(b"one\r\n", other, browser)
    term.session.detach(browser)  # the network drops
    await term.output(b"two\r\n", other)
    back = await term.join(Viewer(), resume=("tab-1", len(browser.shown)))
    assert back.shown == b"two\r\n"

    # The count goes on across connections: the next resume counts from the first connection's start.
    received = len(browser.shown) + len(back.shown)
    await term.output(b"three\r\n", other, back)
    received += len(b"three\r\n")
    term.session.detach(back)
    await term.output(b"four\r\n", other)
    again = await term.join(Viewer(), resume=("tab-1", received))
    assert again.shown == b"four\r\n"


async def test_output_lost_in_flight_is_replayed_on_resume():
    term = Terminal()
    browser = await term.join(Viewer(), resume=("tab-1", 0))
    await term.output(b"one\r\n", browser)
    await term.output(b"two\r\n", browser)
    term.session.detach(browser)  # "two" was sent, but the drop lost it: the browser counted only "one"
    back = await term.join(Viewer(), resume=("tab-1", len(b"one\r\n")))
    assert back.shown == b"two\r\n"


@pytest.mark.parametrize(
    "client, received, replay",
    [
        ("tab-1", 10_000, b""),  # more than was ever sent: nothing, never a repeat
        ("unknown", 5, b"one\r\ntwo\r\n"),  # an id this session does not know: everything kept
    ],
)
async def test_a_resume_the_session_cannot_place(client, received, replay):
    term = Terminal()
    browser = await term.join(Viewer(), resume=("tab-1", 0))
    await term.output(b"one\r\ntwo\r\n", browser)
    term.session.detach(browser)
    back = await term.join(Viewer(), resume=(client, received))
    assert back.shown == replay


async def test_a_resume_older_than_the_scrollback_gets_what_is_kept():
    term = Terminal(scrollback_bytes=16)
    browser = await term.join(Viewer(), resume=("tab-1", 0))
    await term.output(b"line 0\r\n", browser)
    term.session.detach(browser)
    other = await term.join(Viewer())
    for i in range(1, 10):
        await term.output(b"line %d\r\n" % i, other)
    back = await term.join(Viewer(), resume=("tab-1", 8))
    assert back.shown == b"line 8\r\nline 9\r\n"


async def test_the_session_remembers_the_most_recent_clients_for_resuming():
    term = Terminal()
    first = await term.join(Viewer(), resume=("first", 0))
    await term.output(b"one\r\n", first)
    term.session.detach(first)
    for i in range(sessions.RESUMABLE_CLIENTS):
        term.session.detach(await term.join(Viewer(), resume=(f"c{i}", 0)))
    assert (await term.join(Viewer(), resume=("first", 5))).shown == b"one\r\n"  # forgotten: all of it
    assert (await term.join(Viewer(), resume=(f"c{sessions.RESUMABLE_CLIENTS - 1}", 5))).shown == b""


async def test_the_terminal_takes_the_size_of_whoever_types():
    term = Terminal()
    a = await term.join(Viewer(), size=(30, 100))
    assert term.opened == [(30, 100)] and term.stream.sizes == []
    b = await term.join(Viewer(), size=(50, 120))
    assert term.stream.sizes == [(50, 120)]  # the latest client's
    await term.session.write(a, b"ls\r")
    assert term.stream.sizes == [(50, 120), (30, 100)] and term.stream.typed == b"ls\r"
    await term.session.resize(b, 40, 90)
    assert term.stream.sizes[-1] == (40, 90)
    term.session.detach(b)
    await term.session.resize(b, 10, 10)  # a client that left resizes nothing
    assert term.stream.sizes[-1] == (40, 90)


async def test_a_sizeless_client_never_resizes_the_terminal():
    """The kernel's connection of a widget: it types, but the browser's size stays."""
    term = Terminal()
    await term.join(Viewer(), size=(30, 100))
    kernel = await term.join(Viewer(), size=None)
    await term.session.write(kernel, b"echo hi\r")
    assert term.stream.sizes == [] and term.stream.typed == b"echo hi\r"


async def test_a_first_client_without_a_size_opens_at_80_by_24():
    term = Terminal()
    await term.join(Viewer(), size=None)
    assert term.opened == [sessions.DEFAULT_SIZE] == [(24, 80)]


async def test_clients_opening_at_once_start_one_program():
    term = Terminal()
    await asyncio.gather(term.session.open((30, 100)), term.session.open((50, 120)))
    assert term.opened == [(30, 100)]


async def test_the_stream_pauses_only_while_every_client_asks_it():
    term = Terminal()
    a, b = await term.join(Viewer()), await term.join(Viewer())
    assert term.stream.flow == ["pause", "resume"]  # held from its opening until its first client attached
    term.stream.flow.clear()
    term.session.pause(a)
    assert term.stream.flow == []  # b still reads: one client does not hold the others back
    term.session.pause(b)
    term.session.pause(a)  # twice: still one pause
    assert term.stream.flow == ["pause"]
    term.session.resume(a)
    assert term.stream.flow == ["pause", "resume"]
    term.session.pause(a)
    term.session.detach(b)  # a pause leaves with its client
    assert term.stream.flow == ["pause", "resume", "pause"]  # a alone, paused
    c = await term.join(Viewer())  # a client that has not paused lets it flow
    assert term.stream.flow == ["pause", "resume", "pause", "resume"]
    term.session.detach(c)
    term.session.pause(b)  # one that left pauses nothing
    assert term.stream.flow == ["pause", "resume", "pause", "resume", "pause"]


async def test_a_paused_client_holds_back_only_itself_and_gets_what_it_missed_at_resume():
    """As in issue 17: a tab that holds PAUSE froze the kernel's widget, which saw none of its typing."""
    term = Terminal()
    tab, widget = await term.join(Viewer()), await term.join(Viewer())
    term.stream.flow.clear()  # the pause of its opening: test_the_stream_pauses_only_while_every_client_asks_it
    await term.output(b"$ ", tab, widget)
    term.session.pause(tab)
    await term.output(b"echo hi\r\nhi\r\n", widget)  # at once, while the tab holds PAUSE
    await term.output(b"$ ", widget)
    assert tab.shown == b"$ " and term.stream.flow == []
    term.session.resume(tab)
    await tab.shows(b"$ echo hi\r\nhi\r\n$ ")  # what it missed, in order, once
    await term.output(b"more\r\n", tab, widget)
    assert tab.shown == widget.shown == b"$ echo hi\r\nhi\r\n$ more\r\n"


async def test_a_client_resuming_while_output_flows_gets_each_byte_once_in_order():
    term = Terminal()
    fast, tab = await term.join(Viewer()), await term.join(Viewer(slow=True))
    term.session.pause(tab)
    await term.output(b"one\r\n", fast)
    term.session.resume(tab)
    await asyncio.wait_for(tab.writing.wait(), 5)  # the session is sending the tab what it missed
    term.stream.emit(b"two\r\n")  # comes while that write is under way: it must wait its turn
    term.session.pause(tab)
    term.session.resume(tab)  # again, while the first catch-up still writes: no second one beside it
    tab.let_through(2)
    await tab.shows(b"one\r\ntwo\r\n")
    await fast.shows(b"one\r\ntwo\r\n")
    tab.let_through()
    await term.output(b"three\r\n", fast, tab)
    assert tab.shown == fast.shown == b"one\r\ntwo\r\nthree\r\n"


async def test_a_client_paused_through_more_than_the_scrollback_is_closed_without_taking_memory():
    """Output flows to the others; the paused client's backlog is the scrollback, so once the scrollback no
    longer holds what it missed it is closed (1013, "try again later": clients reconnect), and it can come
    back for what is kept."""
    term = Terminal(scrollback_bytes=64 * 1024)
    reader, stalled = await term.join(Viewer()), await term.join(Viewer(), resume=("tab-1", 0))
    term.session.pause(stalled)
    line = b"x" * 1023 + b"\n"
    tracemalloc.start()
    try:
        for _ in range(4096):  # 4 MiB, 64 times the scrollback
            await term.output(line, reader)
            reader.shown.clear()  # the reader shows it and lets it go, as a terminal does
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stalled.closed == (
        sessions.FELL_BEHIND,
        "fell behind: paused through more output than the scrollback holds (65536 bytes)",
    )
    assert stalled.shown == b""
    assert peak < 3 * 64 * 1024, f"{peak} bytes held for a client that reads nothing"
    back = await term.join(Viewer(), resume=("tab-1", 0))
    assert bytes(back.shown) == bytes(term.session.scrollback) and len(back.shown) == 64 * 1024


async def test_release_reads_the_rest_whoever_paused_and_the_end_hands_it_to_each():
    """The program is gone (the local backend releases its session then): what it left in its terminal is
    read though every client paused, and each gets it before its close."""
    term = Terminal()
    a, b = await term.join(Viewer()), await term.join(Viewer())
    term.stream.flow.clear()  # the pause of its opening: test_the_stream_pauses_only_while_every_client_asks_it
    term.session.pause(a)
    term.session.pause(b)
    term.stream.emit(b"bye\r\n")
    term.stream.emit(b"")  # the program's end
    term.session.release()
    assert term.stream.flow == ["pause", "resume"]
    await asyncio.wait_for(term.session.drained(), 5)
    term.session.pause(a)  # the session is ending: nothing holds its output any more
    assert term.stream.flow == ["pause", "resume"]
    term.session.end(1000, "exited")
    for viewer in (a, b):
        await viewer.shows(b"bye\r\n")
        assert viewer.closed == (1000, "exited")


async def test_a_client_slow_when_the_program_ends_costs_the_others_none_of_its_last_output():
    """A tab whose connection stalls as the program exits: the rest of the output is read all the same (the
    local backend gives the terminal kill_timeout to reach its end, then closes it), and every client
    gets it before its close, the stalled one once its connection moves again."""
    term = Terminal()
    fast, stalled = await term.join(Viewer()), await term.join(Viewer(slow=True))
    term.stream.emit(b"first\r\n")
    await fast.shows(b"first\r\n")
    await asyncio.wait_for(stalled.writing.wait(), 5)  # "first" has not reached the stalled tab
    term.stream.emit(b"last\r\n")
    term.stream.emit(b"")  # the program has exited
    term.session.release()
    await asyncio.wait_for(term.session.drained(), 5)  # not held up by the stalled tab
    term.session.end(1000, "exited")
    await fast.shows(b"first\r\nlast\r\n")
    assert fast.closed == (1000, "exited")
    stalled.let_through(2)
    await stalled.shows(b"first\r\nlast\r\n")
    assert stalled.closed == (1000, "exited")


async def test_a_client_paused_when_the_session_ends_gets_what_it_missed_before_its_close():
    """A tab that holds PAUSE (xterm.js catching up) as a cluster shell's ttyd ends: what the others saw
    meanwhile is the end of the output, not to be lost under a normal close."""
    term = Terminal()
    tab, widget = await term.join(Viewer()), await term.join(Viewer())
    term.session.pause(tab)
    await term.output(b"the last lines\r\n", widget)
    term.session.end(1000, "the terminal's process ended")
    assert widget.closed == (1000, "the terminal's process ended")
    await tab.shows(b"the last lines\r\n")
    assert tab.closed == (1000, "the terminal's process ended")


async def test_a_client_that_missed_more_than_the_scrollback_by_the_end_is_told_it_fell_behind():
    """Released, the session reads whatever is written, and a process that escaped the kill may write on:
    a client that missed more than the scrollback keeps is closed so that it comes back for the replay."""
    term = Terminal(scrollback_bytes=16)
    viewer = await term.join(Viewer(), resume=("tab-1", 0))
    term.session.release()
    for i in range(10):
        term.stream.emit(b"line %d\r\n" % i)
    term.stream.emit(b"")
    await asyncio.wait_for(term.session.drained(), 5)
    term.session.end(1000, "exited")
    why = "fell behind: paused through more output than the scrollback holds (16 bytes)"
    assert (viewer.shown, viewer.closed) == (b"", (sessions.FELL_BEHIND, why))
    back = await term.join(Viewer(), resume=("tab-1", 0))
    assert (back.shown, back.closed) == (b"line 8\r\nline 9\r\n", (1000, "exited"))


@pytest.mark.parametrize("scrollback_bytes", [1024, 0], ids=["scrollback", "none kept"])
async def test_the_client_that_starts_the_program_sees_all_it_writes_however_much_at_once(scrollback_bytes):
    """A command that prints more than the scrollback holds the moment it starts (`seq 1 35000000`): the
    browser that started it gets every line from the first, not a replay of the scrollback's last ones."""
    term = Terminal(scrollback_bytes=scrollback_bytes)
    lines = b"".join(b"line %d\r\n" % i for i in range(1000))
    for i in range(0, len(lines), 100):
        term.stream.emit(lines[i : i + 100])  # there to read as soon as the stream opens
    viewer = await term.join(Viewer())
    assert lines.startswith(viewer.shown), f"it was shown {bytes(viewer.shown[:20])!r}… first"
    await viewer.shows(lines)


async def test_the_last_client_leaving_is_told_once():
    term = Terminal()
    a, b = await term.join(Viewer()), await term.join(Viewer())
    term.session.detach(a)
    assert term.last_detaches == 0
    term.session.detach(b)
    term.session.detach(b)
    assert term.last_detaches == 1
    c = await term.join(Viewer())
    term.session.end(4000, "exited")
    term.session.detach(c)
    assert term.last_detaches == 1  # an ended session has nothing to keep alive


async def test_when_the_program_ends_every_byte_is_delivered_before_the_clients_close():
    term = Terminal()
    fast, slow = await term.join(Viewer()), await term.join(Viewer(slow=True))
    term.stream.emit(b"bye\r\n")
    term.stream.emit(b"")  # the program exited
    drained = asyncio.ensure_future(term.session.drained())
    await fast.shows(b"bye\r\n")
    assert not drained.done()  # the slow client has not got it yet
    slow.let_through()
    await asyncio.wait_for(drained, 5)
    assert slow.shown == b"bye\r\n"
    term.session.end(4001, "exited with code 3")  # what the backend does then
    assert fast.closed == slow.closed == (4001, "exited with code 3")
    assert term.stream.closed


async def test_an_ended_session_shows_a_late_client_the_output_and_the_same_end():
    term = Terminal()
    a = await term.join(Viewer())
    await term.output(b"last words\r\n", a)
    term.session.end(4003, "expired")
    term.session.end(1000, "later")  # the first end stands
    assert a.closed == (4003, "expired") and term.stream.closed
    late = await term.join(Viewer())
    assert (late.shown, late.closed) == (b"last words\r\n", (4003, "expired"))
    assert term.opened == [(24, 80)]  # no new program


async def test_a_session_ended_before_its_first_client_starts_no_program():
    term = Terminal()
    term.session.end(4002, "the shell was deleted")
    viewer = await term.join(Viewer())
    assert (viewer.shown, viewer.closed, term.opened) == (b"", (4002, "the shell was deleted"), [])


async def test_a_stream_that_could_not_be_opened_ends_the_session_with_the_openers_reason():
    session: Session

    async def refuse(rows: int, columns: int) -> None:
        session.end(4005, "cannot reach the shell's terminal")

    session = Session(refuse, title="", preferences={}, scrollback_bytes=1024)
    await session.open((24, 80))
    assert session.ended == (4005, "cannot reach the shell's terminal") and session.stream is None
    await asyncio.wait_for(session.drained(), 1)


async def test_a_failing_stream_ends_the_output_not_the_server(caplog):
    term = Terminal()
    a = await term.join(Viewer())
    await term.output(b"before\r\n", a)
    term.stream.emit(OSError("EIO"))
    term.stream.emit(b"never read")
    await asyncio.wait_for(term.session.drained(), 5)
    assert a.shown == b"before\r\n" and "terminal stream failed" in caplog.text


async def test_a_stream_opened_after_the_session_ended_is_closed():
    """A shell deleted while its terminal connects: the session closes what arrives late (no leaked PTY)."""
    stream, opening = FakeStream(), asyncio.Event()
    session: Session

    async def slow_open(rows: int, columns: int) -> FakeStream:
        await opening.wait()
        return stream

    session = Session(slow_open, title="", preferences={}, scrollback_bytes=1024)
    first = asyncio.ensure_future(session.open((24, 80)))
    await asyncio.sleep(0)
    session.end(4002, "the shell was deleted")  # while connecting
    opening.set()
    await first
    assert stream.closed


# --- a cluster shell's terminal outlives a drop by detach_timeout ------------------------------------


def _cluster_backend(detach_timeout: float) -> tuple[KubernetesBackend, list[FakeStream]]:
    backend = KubernetesBackend(SimpleNamespace(host="https://k8s"), owner="alice", policy=Policy(namespace="team"),
                                connect_via="service", detach_timeout=detach_timeout)  # fmt: skip
    backend._objects["s1"] = {"metadata": {"name": "s1", "uid": "u1"}, "status": {"phase": "Ready"}}
    backend._synced.set()  # as after the watch's first list
    streams: list[FakeStream] = []

    async def connect(name: str, session: Session, rows: int, columns: int) -> FakeStream:
        streams.append(FakeStream())  # a new connection to ttyd: a new process there
        return streams[-1]

    backend._connect = connect  # type: ignore[method-assign]
    return backend, streams


async def test_a_client_back_within_the_detach_timeout_finds_the_same_process():
    backend, streams = _cluster_backend(detach_timeout=0.2)
    session = await backend.open("s1")
    await session.open((24, 80))
    browser = Viewer()
    session.attach(browser, (24, 80), ("tab-1", 0))
    session.detach(browser)  # the network drops
    assert await backend.open("s1") is session
    back = Viewer()
    session.attach(back, (24, 80), ("tab-1", 0))

    async def timer_ran() -> bool:
        return "s1" not in backend._detach_timers

    await eventually(timer_ran, what="the detach timer")
    assert session.ended is None and not streams[0].closed and len(streams) == 1
    await backend.shutdown()


async def test_after_the_detach_timeout_the_terminal_is_closed_and_the_next_client_gets_a_new_one():
    backend, streams = _cluster_backend(detach_timeout=0.05)
    session = await backend.open("s1")
    await session.open((24, 80))
    browser = Viewer()
    session.attach(browser, (24, 80))
    session.detach(browser)

    async def closed() -> bool:
        return session.ended is not None

    await eventually(closed, what="the end of the terminal")
    assert session.ended == (1000, "closed: no client for 0.05s") and streams[0].closed
    again = await backend.open("s1")
    await again.open((24, 80))
    assert again is not session and len(streams) == 2
    await backend.shutdown()
