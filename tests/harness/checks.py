"""What a user must see of any terminal, checked the same way whichever backend serves it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import zlib
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.waiting import eventually


async def pause_holds_output_and_resume_delivers_it(
    term: TtydClient, marker: Path, while_paused: Callable[[], Awaitable[None]] | None = None
) -> None:
    """PAUSE, run a loop that prints 200 lines then creates ``marker``: nothing arrives until
    RESUME, then every line, in order. The terminal's prompt must be ``prompt> ``."""
    await term.send("echo ready\r")
    await term.expect(rb"\rready\r\n")
    await term.expect(rb"prompt> ")  # nothing more is in flight

    await term.pause()
    # Small enough to fit in the PTY's buffer: more would (rightly) block the program.
    await term.send(f"for i in $(seq 1 200); do echo line-$i; done; touch {marker}\r")
    # The loop has written all its output once the marker exists; none of it may arrive.
    await eventually(lambda: asyncio.sleep(0, marker.exists()), what="the command to finish")
    if while_paused is not None:
        await while_paused()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(term.read(), 0.5)

    await term.resume()
    seen = b""
    while b"line-200\r\n" not in seen:
        seen += await term.read()
    lines = re.findall(rb"line-(\d+)\r\n", seen)
    assert [int(n) for n in lines] == list(range(1, 201)), "output lost or reordered"


async def input_while_paused_arrives_once_in_order(term: TtydClient, received: Path, frames: int = 1000) -> None:
    """PAUSE, then type ``frames`` frames of random bytes (1 to 8 KiB each; 3.8 MiB for 1000) into a
    program that stores its input in ``received``: it gets every byte once and in order while the
    output is held, and its next output comes at RESUME."""
    sizes = [1 + (i * 7919) % 8192 for i in range(frames)]  # varied frame sizes, the same every run
    typed = os.urandom(sum(sizes))
    await term.send(f"stty raw -echo; echo READY-$((1+1)); head -c {len(typed)} > {received}; echo DONE-$((2+2))\r")
    await term.expect(rb"READY-2\n")  # raw: the terminal types nothing back, and head reads
    await term.pause()
    offset = 0
    for size in sizes:
        await term.send(typed[offset : offset + size])
        offset += size

    async def all_read() -> bool:
        return received.exists() and received.stat().st_size >= len(typed)

    await eventually(all_read, timeout=30, what="the program to read every byte typed")
    with pytest.raises(asyncio.TimeoutError):  # paused: DONE is held
        await asyncio.wait_for(term.read(), 0.5)
    assert received.read_bytes() == typed, "input lost, repeated or reordered"
    await term.resume()
    await term.expect(rb"DONE-4\n")


async def resumed_in_the_same_process(term: TtydClient, pid: int, missed: bytes = b"LATER-5") -> None:
    """A client back from a drop: what it ``missed`` comes once, nothing it had comes again, and
    the shell is still the process ``pid``."""
    await term.send("echo PID=$$ DONE\r")
    seen = (await term.expect(rb"PID=(\d+) DONE\r\n")).string
    assert seen.count(missed) == 1, seen
    assert b"PID=" not in seen.split(missed)[0], "output it had already received came again"
    assert int(re.search(rb"PID=(\d+) DONE\r\n", seen).group(1)) == pid


async def sizes_reach_the_program(term: TtydClient) -> None:
    """The handshake's size (100x30, as the client connected) and a resize are what stty says."""
    await term.send("stty size\r")
    await term.expect(rb"\r30 100\r\n")
    await term.resize(120, 40)
    await term.send("stty size\r")
    await term.expect(rb"\r40 120\r\n")


async def trz_starts_and_obeys_a_cancel(term: TtydClient, version: str) -> None:
    """``trz`` typed at the prompt announces an upload with trzsz's trigger (what the tab's trzsz filter
    and the server's transfers wait for); the answer the tab sends when its file picker is closed ends
    it, and the shell is back at its prompt. The terminal's prompt must be ``prompt> ``."""
    await term.send("trz\r")
    await term.expect(re.escape(f"\x1b7::TRZSZ:TRANSFER:R:{version}:".encode()) + rb"\d{13}:\d+\r")
    # trzsz's framing of the client's action: "#ACT:", base64 of the zlib-compressed JSON, a newline.
    action = base64.b64encode(zlib.compress(json.dumps({"confirm": False}).encode()))
    await term.send(b"#ACT:" + action + b"\n")
    await term.expect(rb"\x1b8\x1b\[0JCancelled\r")
    await term.expect(rb"prompt> ")  # trz has exited: until then what is typed is still trz's input
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")


async def replay(term: TtydClient, frames: list[tuple[str, bytes]]) -> None:
    """Replay a recorded ttyd session (handshake first) and expect its very answers: the title
    (any host), the preferences, then the same output bytes in the same order, input after input."""
    direction, handshake = frames[0]
    assert direction == "c2s" and handshake.startswith(b"{")
    await term.connection.write_message(handshake, binary=True)

    title, preferences = await term.read_frame(), await term.read_frame()
    recorded_title = re.escape(frames[1][1].rsplit(b" (", 1)[0]) + rb" \(.+\)"
    assert re.fullmatch(recorded_title, title), title
    assert preferences == frames[2][1]

    expected, got = b"", b""
    for direction, frame in frames[3:]:
        if direction == "c2s":
            assert got == expected, f"before sending {frame!r}"
            await term.connection.write_message(frame, binary=True)
            continue
        expected += frame[1:]
        while len(got) < len(expected):
            chunk = await term.read()
            assert chunk is not None, f"closed early; got {got!r}, expected {expected!r}"
            got += chunk
    assert got == expected


async def read_the_stream(term: TtydClient, size: int, stall: float = 30) -> tuple[int, str]:
    """(bytes, SHA-256) of the output until ``size`` bytes have come (or more, in the same frame)."""
    digest, received = hashlib.sha256(), 0
    while received < size:
        try:
            data = await asyncio.wait_for(term.read(), stall)
        except asyncio.TimeoutError:
            raise AssertionError(f"nothing more after {received} bytes for {stall}s") from None
        assert data is not None, f"closed after {received} bytes: {term.close_code} {term.close_reason}"
        digest.update(data)
        received += len(data)
    return received, digest.hexdigest()


async def read_to_the_end(term: TtydClient) -> tuple[int, str]:
    """Output until the close: (bytes, SHA-256), digested as it comes (never held whole)."""
    digest, received = hashlib.sha256(), 0
    while (data := await term.read()) is not None:
        digest.update(data)
        received += len(data)
    return received, digest.hexdigest()
