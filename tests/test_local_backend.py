"""The local backend (server/backends/local/backend.py) on a real PTY: when a shell's process starts, and
how its end reaches its clients.

The clients are held in memory, so a stalled connection is one the test holds; the end through real
WebSockets is in tests/integration/test_terminal_faults.py.
"""

from __future__ import annotations

import asyncio

from jupyter_cloudtty.server.backends.local.backend import LocalBackend
from jupyter_cloudtty.server.recordings import RecordingPolicy
from tests.harness.waiting import eventually

LAST_WORDS = "stty raw -echo; printf 'first\\n'; read -r go; printf 'last line\\n'"


class Tab:
    """A browser tab as a session sees it; a stalled one takes nothing until ``move``."""

    def __init__(self, stalled: bool = False) -> None:
        self.shown = bytearray()
        self.closed: tuple[int, str] | None = None
        self.output = asyncio.Event()  # set at each chunk shown
        self.waiting = asyncio.Event()  # set once a chunk waits for a stalled connection
        self.ended = asyncio.Event()
        self._moving = asyncio.Event()
        if not stalled:
            self._moving.set()

    def move(self) -> None:
        self._moving.set()

    async def send_output(self, data: bytes) -> None:
        self.waiting.set()
        await self._moving.wait()
        self.shown += data
        self.output.set()

    def end(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.ended.set()

    async def shows(self, data: bytes) -> None:
        while bytes(self.shown) != data:
            self.output.clear()
            await asyncio.wait_for(self.output.wait(), 5)


async def test_a_client_stalled_as_the_program_exits_costs_no_client_the_last_line(tmp_path):
    """A second tab whose connection stalls just as the command prints its last line and exits: that line
    is read from the terminal all the same; the other tab shows it before 'exited', and so does the
    stalled one once its connection moves again."""
    backend = LocalBackend(shell_command=["sh"], cwd=str(tmp_path), terminal_url=lambda name: name, kill_timeout=0.5)
    try:
        await backend.create("s1", {"commandAction": LAST_WORDS})
        session = await backend.open("s1")
        tab, stalled = Tab(), Tab(stalled=True)
        await session.open((24, 80))
        for client in (tab, stalled):
            client.shown += session.attach(client, (24, 80))
        await tab.shows(b"first\n")
        await asyncio.wait_for(stalled.waiting.wait(), 5)  # "first" has not got through to the stalled tab
        await session.write(tab, b"\n")  # the command prints its last line and exits

        await asyncio.wait_for(tab.ended.wait(), 10)
        assert (bytes(tab.shown), tab.closed) == (b"first\nlast line\n", (1000, "exited"))
        stalled.move()
        await asyncio.wait_for(stalled.ended.wait(), 5)
        assert (bytes(stalled.shown), stalled.closed) == (b"first\nlast line\n", (1000, "exited"))
    finally:
        await backend.shutdown()


# A login shell whose start can be seen: it leaves a file, prints its prompt, then answers a line with its size.
SLOW_START = ["sh", "-c", "touch started; printf 'ready> '; read -r line; stty size"]


async def test_the_login_shell_starts_with_the_shell_and_its_first_client_sees_its_first_byte(tmp_path):
    """As JupyterLab's terminals do: the server's shell starts when it is created, so its profile runs while
    the browser opens the tab. Its output waits unread for the first client, which sees it from the first
    byte, and whose size the shell then takes."""
    backend = LocalBackend(shell_command=SLOW_START, cwd=str(tmp_path), terminal_url=lambda name: name)
    try:
        created = await backend.create("s1", {})
        assert created.conditions[0]["message"].startswith("running as pid")

        async def started() -> bool:
            return (tmp_path / "started").exists()

        await eventually(started, what="the shell's start, with no client")
        session = await backend.open("s1")
        await session.open((30, 100))  # as a client's handshake does: the shell runs already
        tab = Tab()
        tab.shown += session.attach(tab, (30, 100))
        await tab.shows(b"ready> ")
        await session.write(tab, b"\n")
        await tab.shows(b"ready> \r\n30 100\r\n")
    finally:
        await backend.shutdown()


async def test_a_command_and_a_recorded_shell_start_for_their_first_client_at_its_size(tmp_path):
    """A command may print once at the size it starts at, and a recording's header is its first client's size:
    those start as ttyd starts its command, when the first client comes."""
    recordings = RecordingPolicy("optional", tmp_path / "recordings", root=tmp_path)
    backend = LocalBackend(
        shell_command=SLOW_START, cwd=str(tmp_path), terminal_url=lambda name: name, recordings=recordings
    )
    try:
        command = await backend.create("command", {"commandAction": "stty size"})
        recorded = await backend.create("recorded", {}, record=True)
        for shell in (command, recorded):
            assert shell.conditions[0]["message"] == "waiting for its first client"
        assert not (tmp_path / "started").exists()

        session = await backend.open("command")
        await session.open((30, 100))
        tab = Tab()
        tab.shown += session.attach(tab, (30, 100))
        await tab.shows(b"30 100\r\n")
    finally:
        await backend.shutdown()
