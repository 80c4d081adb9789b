"""The local backend (server/backends/local/backend.py) on a real PTY: how a shell's end reaches its clients.

The clients are held in memory, so a stalled connection is one the test holds; the end through real
WebSockets is in tests/integration/test_terminal_faults.py.
"""

from __future__ import annotations

import asyncio

from jupyter_cloudtty.server.backends.local.backend import LocalBackend

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
