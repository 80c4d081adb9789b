"""Waiting for what tests observe: processes ending, state settling."""

from __future__ import annotations

import asyncio
import os
import select
from typing import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10, what: str = "condition") -> None:
    """Re-check state that has no event to await yet (e.g. a phase after a client left)."""

    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} not reached within {timeout}s") from None


def process_gone(pid: int, timeout: float = 10) -> bool:
    """Wait (via a pidfd: an event, not a sleep) until ``pid`` has exited; False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie has exited: it only awaits its parent's wait)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2 :].split()[0] != b"Z"
