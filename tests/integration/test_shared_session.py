"""A shell shared by several clients (browser tabs, the notebook's widget): each client's flow control is its own.

Issue 17: one tab holding PAUSE froze every client of the shell (the kernel's widget saw nothing of its
own typing for 20 s). Now a PAUSE holds back only the client that sent it; it gets what it missed when it
RESUMEs, from the scrollback; one that misses more than the scrollback holds is closed with 1013 ("try
again later") and resumes from the scrollback. Each test runs on a local shell and on a cluster shell
whose pod runs the real ttyd 1.7.7, relayed (tests/harness/pods.py, on kmock's emulator).
"""

from __future__ import annotations

import asyncio
import re

import psutil
import pytest

from jupyter_cloudtty.server.sessions import FELL_BEHIND
from jupyter_cloudtty.ttyd import TtydClient

MIB = 1 << 20
PROMPT = "prompt> "


@pytest.fixture(params=["local", "relayed"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def cloudtty_config(backend, request):
    return {} if backend == "local" else request.getfixturevalue("kubernetes_config")


@pytest.fixture
def start_shell(backend, request, api, create_shell):
    """Create a shell whose prompt is PROMPT (for a cluster shell: and start its pod)."""

    async def start(name: str) -> None:
        if backend == "local":
            await create_shell(name, env=[{"name": "PS1", "value": PROMPT}])
            return
        request.getfixturevalue("backend_stops_before_the_cluster")
        await api("POST", body={"name": name})
        await request.getfixturevalue("pods").ready(name, env={"PS1": PROMPT})

    return start


async def in_step(*terms: TtydClient) -> None:
    """Run a command and read every client up to the prompt after its output: nothing is in flight."""
    await terms[0].send("echo SYNC-$((2+3))\r")
    for term in terms:
        await term.expect(re.compile(rb"[\r\n]SYNC-5\r\n.*?" + PROMPT.encode(), re.S))


async def test_a_client_holding_pause_holds_back_only_itself(start_shell, connect):
    await start_shell("shared")
    tab = await connect("shared")
    widget = await connect("shared", columns=None, rows=None)  # the kernel's widget sends no size
    await in_step(tab, widget)

    await tab.pause()
    await tab.send("echo TAB-$((1+1))\r")  # after its PAUSE on the same connection: the tab holds PAUSE now
    seen = await widget.expect(rb"[\r\n]TAB-2\r\n", timeout=5)
    shown = seen.string[: seen.end()]
    await widget.send("echo WIDGET-$((6*7))\r")
    seen = await widget.expect(re.compile(rb"[\r\n]WIDGET-42\r\n.*?" + PROMPT.encode(), re.S), timeout=5)
    shown += seen.string[: seen.end()]
    with pytest.raises(asyncio.TimeoutError):  # the tab, still paused, got none of it
        await asyncio.wait_for(tab.read(), 0.5)

    await tab.resume()
    missed = await tab.expect(re.compile(rb"[\r\n]WIDGET-42\r\n.*?" + PROMPT.encode(), re.S), timeout=5)
    assert missed.string[: missed.end()] == shown, "what the tab missed: lost, twice or reordered"
    await in_step(widget, tab)  # and both go on together


@pytest.mark.slow
async def test_a_client_paused_through_a_flood_is_closed_and_comes_back_from_the_scrollback(start_shell, connect):
    """The flood (24 MiB) reaches the reader at its own pace; the paused client costs the server no memory
    and is closed once the scrollback (512 KiB) no longer holds what it missed."""
    await start_shell("flood")
    stalled = await connect("flood", client_id="tab-1")
    reader = await connect("flood")
    await reader.send("stty -echo\r")
    await in_step(reader, stalled)
    server = psutil.Process()  # pytest-jupyter's server runs in this process
    before = server.memory_info().rss

    await stalled.pause()
    lines = 3_000_000  # "1\r\n" to "3000000\r\n": 24 MiB
    await reader.send(f"seq {lines}; echo END-$((1+1))\r")
    got, tail, peak = 0, b"", before
    while not re.search(rb"END-2\r\n.*?" + PROMPT.encode(), tail, re.S):
        data = await asyncio.wait_for(reader.read(), 30)
        assert data is not None, f"the reader was closed: {reader.close_code} {reader.close_reason}"
        got, tail = got + len(data), (tail + data)[-100:]
        peak = max(peak, server.memory_info().rss)
    assert got > 24 * MIB

    code, reason = await stalled.wait_closed()
    assert (code, reason) == (
        FELL_BEHIND,
        "fell behind: paused through more output than the scrollback holds (524288 bytes)",
    )
    assert peak - before < 16 * MIB, (
        f"the server grew by {(peak - before) / MIB:.1f} MiB for a client that read nothing"
    )

    back = await connect("flood", client_id="tab-1", received=stalled.received)
    replay = (await back.expect(re.compile(rb"END-2\r\n.*?" + PROMPT.encode(), re.S))).string
    assert len(replay) <= 512 * 1024
    numbers = [int(n) for n in re.findall(rb"(?m)^(\d+)\r$", replay)]
    assert numbers == list(range(lines - len(numbers) + 1, lines + 1)), (
        "the replay: not the flood's last lines in order"
    )
    await in_step(back, reader)
