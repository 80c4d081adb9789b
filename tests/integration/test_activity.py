"""A user working only in a cloud shell keeps the server active, as JupyterLab's own terminals do.

``/api/status``'s ``last_activity`` is what a hub's idle culler goes by (jupyterhub-singleuser reports
the same figure). REST calls count by themselves, and ``/api/status`` does not; so after the last
REST call of a test, only the terminal can move it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.activity import last_activity_of, read_by_the_server


async def last_activity(jp_fetch) -> datetime:
    return last_activity_of((await jp_fetch("api", "status")).body)


async def running(create_shell, connect, name: str, command: str, started: bytes) -> TtydClient:
    """A new shell's terminal once ``command`` typed there (echo off) has printed ``started``."""
    await create_shell(name)
    term = await connect(name)
    await term.send(f"stty -echo; {command}\r")
    await term.expect(started)
    return term


async def test_typing_in_a_shell_is_the_server_s_activity(create_shell, connect, jp_fetch):
    term = await running(create_shell, connect, "typing", "echo READY; cat > /dev/null", rb"READY\r\n")
    before = datetime.now(timezone.utc)
    await term.send("typed into cat, which prints nothing\r")  # input, and no output at all
    await read_by_the_server(term)
    assert await last_activity(jp_fetch) >= before


async def test_output_of_a_running_command_is_the_server_s_activity(create_shell, connect, jp_fetch):
    """A long command printing as it goes (a build, `kubectl logs -f`) while nobody types."""
    ticks = "for i in 1 2 3 4 5 6 7 8 9; do echo tick-$i; sleep 0.1; done"
    term = await running(create_shell, connect, "printing", ticks, rb"tick-1\r\n")
    before = datetime.now(timezone.utc)
    await term.expect(rb"tick-3\r\n")  # printed after `before`, with no input since
    assert await last_activity(jp_fetch) >= before
