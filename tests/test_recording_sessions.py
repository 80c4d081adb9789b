"""A session recorded as its frames pass (server/sessions.py's hooks, server/recordings.py's policy), against
an in-memory stream: what lands in the file, what a failure does under each mode."""

from __future__ import annotations

import asyncio
import re

import pytest

from jupyter_cloudtty.cloudshell.model import Shell, now
from jupyter_cloudtty.cloudshell.recording import read
from jupyter_cloudtty.server.recordings import RecordingPolicy
from jupyter_cloudtty.server.sessions import Session
from jupyter_cloudtty.ttyd.protocol import CloseCode

_sessions: list[Session] = []


@pytest.fixture(autouse=True)
def _end_the_sessions():
    yield
    ended, _sessions[:] = list(_sessions), []
    for session in ended:
        session.end(1000, "the test is over")
    if ended:
        drained = asyncio.gather(*(session.drained() for session in ended))
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(drained, 5))


class FakeStream:
    """A terminal stream in memory: the test is the program (``emit``; ``b""`` ends its output)."""

    def __init__(self) -> None:
        self._output: asyncio.Queue[bytes] = asyncio.Queue()
        self.typed = bytearray()
        self.closed = False

    def emit(self, data: bytes) -> None:
        self._output.put_nowait(data)

    async def read(self) -> bytes:
        return b"" if self.closed else await self._output.get()

    async def write(self, data: bytes) -> None:
        self.typed += data

    def resize(self, rows: int, columns: int) -> None:
        pass

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self._output.put_nowait(b"")


class Screen:
    """A client whose socket takes each frame at once (the terminal handler's usual case, and how our
    notices reach it): what it shows, and its close."""

    def __init__(self) -> None:
        self.shown = bytearray()
        self.closed: tuple[int, str] | None = None
        self._changed = asyncio.Event()

    def send_output(self, data: bytes) -> None:
        self.shown += data
        self._changed.set()

    def end(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    async def shows(self, data: bytes, timeout: float = 5) -> None:
        """Wait until everything shown so far is ``data``."""

        async def shown() -> None:
            while bytes(self.shown) != data:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(shown(), timeout)


class Recorded:
    """A session of shell ``work`` under a recording policy, over a FakeStream; the opener's calls counted."""

    def __init__(self, rules: RecordingPolicy, record: bool = True) -> None:
        self.rules = rules
        self.stream = FakeStream()
        self.streams = [self.stream]
        self.opened = 0
        model = Shell("work", {"commandAction": "bash"}, created=now(), record=record)
        self.session = Session(self._open, title="t", preferences={}, scrollback_bytes=4096,
                               recorder=rules.recorder(lambda: model))  # fmt: skip
        _sessions.append(self.session)

    async def _open(self, rows: int, columns: int) -> FakeStream:
        self.opened += 1
        return self.streams[self.opened - 1]

    async def join(self, viewer: Screen, size: tuple[int, int] = (24, 80)) -> Screen:
        """What the terminal handler does for a client."""
        await self.session.open(size)
        viewer.shown += self.session.attach(viewer, size)
        if self.session.ended:
            viewer.end(*self.session.ended)
        return viewer

    def events(self) -> list[list]:
        [path] = self.rules.folder.iterdir()
        return read(path)[1]

    def header(self) -> dict:
        [path] = self.rules.folder.iterdir()
        return read(path)[0]


def rules_in(tmp_path, mode: str = "required", **kwargs) -> RecordingPolicy:
    return RecordingPolicy(mode, tmp_path / "recordings", owner="alice", **kwargs)


def kinds(events: list[list]) -> list[tuple[str, str]]:
    return [(code, data) for _, code, data in events]


async def test_output_notices_resizes_input_and_markers_are_recorded_in_order(tmp_path):
    term = Recorded(rules_in(tmp_path, record_input=True))
    viewer = await term.join(Screen(), size=(30, 100))
    term.stream.emit(b"$ ")
    await viewer.shows(b"$ ")
    await term.session.write(viewer, b"ls\r")
    await term.session.resize(viewer, 40, 120)
    term.session.notice("a notice of ours")
    term.session.mark("a transfer starts")
    term.stream.emit(b"file\r\n")
    await viewer.shows(b"$ \r\n\x1b[2m[a notice of ours]\x1b[0m\r\nfile\r\n")
    term.session.end(1000, "exited")
    header = term.header()
    assert (header["width"], header["height"], header["cloudtty"]["shell"]) == (100, 30, "work")
    assert kinds(term.events()) == [
        ("o", "$ "), ("i", "ls\r"), ("r", "120x40"), ("o", "\r\n\x1b[2m[a notice of ours]\x1b[0m\r\n"),
        ("m", "a transfer starts"), ("o", "file\r\n"),
    ]  # fmt: skip
    assert term.session.recording is None  # closed with the session


async def test_input_is_left_out_unless_the_administrator_asks(tmp_path):
    term = Recorded(rules_in(tmp_path))
    viewer = await term.join(Screen())
    await term.session.write(viewer, b"secret\r")
    term.stream.emit(b"shown")
    await viewer.shows(b"shown")
    term.session.end(1000, "exited")
    assert kinds(term.events()) == [("o", "shown")]


async def test_while_recording_is_paused_neither_output_nor_input_is_kept(tmp_path):
    term = Recorded(rules_in(tmp_path, record_input=True))
    viewer = await term.join(Screen())
    with term.session.unrecorded():
        assert term.session.recording_paused
        await term.session.write(viewer, b"file bytes in")
        term.stream.emit(b"file bytes out")
        await viewer.shows(b"file bytes out")  # the clients still get it
        term.session.mark("transfer done")
    assert not term.session.recording_paused
    term.stream.emit(b"after")
    await viewer.shows(b"file bytes outafter")
    term.session.end(1000, "exited")
    assert kinds(term.events()) == [("m", "transfer done"), ("o", "after")]


async def test_a_reopened_stream_goes_on_in_the_same_file_after_a_marker(tmp_path):
    term = Recorded(rules_in(tmp_path))
    term.streams.append(FakeStream())
    viewer = await term.join(Screen())
    term.stream.emit(b"old pod\r\n")
    await viewer.shows(b"old pod\r\n")
    term.stream.emit(b"")  # the pod is gone
    assert await term.session.reopen()
    term.streams[1].emit(b"new pod\r\n")
    await viewer.shows(b"old pod\r\nnew pod\r\n")
    term.session.end(1000, "exited")
    assert kinds(term.events()) == [("o", "old pod\r\n"), ("m", "pod replaced"), ("o", "new pod\r\n")]


async def test_a_required_recording_that_cannot_start_opens_no_stream(tmp_path):
    (tmp_path / "file").write_text("a file where the folder should be")
    rules = RecordingPolicy("required", tmp_path / "file" / "recordings", owner="alice")
    term = Recorded(rules)
    viewer = await term.join(Screen())
    assert term.opened == 0  # no process, no connection to ttyd
    code, reason = viewer.closed
    assert code == CloseCode.NOT_RECORDED == 4007
    assert reason.startswith("not recorded: cannot record the terminal (Not a directory) in /")


async def test_an_optional_recording_that_cannot_start_is_a_notice_and_the_shell_goes_on(tmp_path):
    (tmp_path / "file").write_text("a file where the folder should be")
    term = Recorded(RecordingPolicy("optional", tmp_path / "file" / "recordings", owner="alice"))
    viewer = await term.join(Screen())
    assert term.opened == 1 and viewer.closed is None
    assert bytes(viewer.shown).startswith(b"\r\n\x1b[2m[not recorded: cannot record the terminal (Not a directory) in ")
    term.stream.emit(b"still here")
    await viewer.shows(bytes(viewer.shown) + b"still here")


class Full:
    """A file whose writes fail: a full disk."""

    def write(self, _text: str) -> None:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


async def test_a_required_recording_that_fails_mid_session_ends_it(tmp_path):
    ended: list[tuple[int, str]] = []
    term = Recorded(rules_in(tmp_path))
    term.session._on_end = lambda code, reason: ended.append((code, reason))
    viewer = await term.join(Screen())
    term.stream.emit(b"recorded")
    await viewer.shows(b"recorded")
    term.session.recording._out = Full()
    term.stream.emit(b"never shown unrecorded")
    await term.session.drained()
    assert viewer.shown == b"recorded"  # what could not be recorded is not shown either
    code, reason = viewer.closed
    assert code == 4007
    assert re.fullmatch(
        r"not recorded: the terminal's recording work-\w+\.cast failed: No space left on device", reason
    )
    assert term.stream.closed and ended == [viewer.closed]  # the backend hears of it (a local shell then ends)
    late = await term.join(Screen())
    assert late.shown == b"recorded" and late.closed == viewer.closed  # nor to a client that comes later


async def test_an_optional_recording_that_fails_mid_session_is_a_notice(tmp_path):
    term = Recorded(rules_in(tmp_path, "optional"))
    viewer = await term.join(Screen())
    name = term.session.recording.path.name
    term.session.recording._out = Full()
    term.stream.emit(b"goes on")
    notice = f"\r\n\x1b[2m[not recorded: the terminal's recording {name} failed: No space left on device]\x1b[0m\r\n"
    await viewer.shows(notice.encode() + b"goes on")
    assert term.session.recording is None and viewer.closed is None


async def test_a_recording_whose_stream_never_opened_leaves_no_file(tmp_path):
    rules = rules_in(tmp_path)

    async def refuse(rows: int, columns: int) -> None:
        session.end(CloseCode.UNREACHABLE, "not Ready")
        return None

    model = Shell("work", {}, created=now(), record=True)
    session = Session(refuse, title="", preferences={}, scrollback_bytes=1024, recorder=rules.recorder(lambda: model))
    await session.open((24, 80))
    assert session.ended == (CloseCode.UNREACHABLE, "not Ready")
    assert list(rules.folder.iterdir()) == []


async def test_an_unrecorded_shell_s_session_writes_nothing(tmp_path):
    term = Recorded(rules_in(tmp_path, "optional"), record=False)
    viewer = await term.join(Screen())
    term.stream.emit(b"out")
    await viewer.shows(b"out")
    term.session.end(1000, "exited")
    assert term.session.recording is None and not (tmp_path / "recordings").exists()
