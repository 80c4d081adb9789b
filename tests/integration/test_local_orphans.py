"""No process started in a local shell outlives the Jupyter server, even one killed by SIGKILL.

Issue 17: a SIGKILLed server left the ``nohup`` jobs of its local shells running. Nothing of a
SIGKILLed server runs, so its watchdog (server/backends/local/reaper.py) ends them. Runs `jupyter
server` as its own process, as a user would (tests/harness/servers.py).
"""

from __future__ import annotations

import signal

import psutil
import pytest

from tests.harness.servers import JupyterProcess
from tests.harness.waiting import alive, process_gone

pytestmark = pytest.mark.slow  # Jupyter server processes, killed and stopped

# Each prints the pid of a `sleep` the shell will not end when its terminal hangs up: a `nohup` job,
# and one a subshell leaves behind (a double fork: no job of the shell's, its parent gone).
ORPHANS = (
    "nohup sleep 1000 >/dev/null 2>&1 & echo NOHUP=$!\r",
    "(sleep 1001 >/dev/null 2>&1 & echo FORKED=$!)\r",
)


async def shells_with_orphans(server: JupyterProcess) -> list[int]:
    """Two shells, each with the ORPHANS running; their pids and the shells'."""
    pids = []
    for name in ("one", "two"):
        await server.fetch("cloudtty/api/shells", "POST", {"name": name})
        term = await server.terminal(name)
        await term.send("echo SH=$$\r")
        pids.append(int((await term.expect(rb"SH=(\d+)\r\n")).group(1)))
        for command in ORPHANS:
            await term.send(command)
            pids.append(int((await term.expect(rb"[\r\n](?:NOHUP|FORKED)=(\d+)\r\n")).group(1)))
        term.connection.close()
    assert all(alive(pid) for pid in pids)
    return pids


def watchdogs(server: JupyterProcess) -> list[psutil.Process]:
    """The server's watchdog (one): server/backends/local/reaper.py, run as a file."""
    assert server.process is not None
    children = psutil.Process(server.process.pid).children()
    return [child for child in children if "reaper.py" in " ".join(child.cmdline())]


async def test_a_sigkilled_server_leaves_no_process_of_its_shells_behind(tmp_path):
    async with JupyterProcess("jupyter_server", tmp_path) as server:
        pids = await shells_with_orphans(server)
        guards = watchdogs(server)
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)  # no code of the server runs after this
        for pid in pids:
            # The watchdog hangs up, then SIGKILLs after kill_timeout (2 s): `nohup` ignores the SIGHUP.
            assert process_gone(pid, timeout=15), f"pid {pid} outlived the server"
        assert len(guards) == 1 and process_gone(guards[0].pid, timeout=5), "the watchdog outlived its work"


async def test_a_stopped_server_ends_its_shells_and_its_watchdog(tmp_path):
    async with JupyterProcess("jupyter_server", tmp_path) as server:
        pids = await shells_with_orphans(server)
        guards = watchdogs(server)
        assert await server.stop() == 0
        for pid in pids:
            assert process_gone(pid, timeout=1), f"pid {pid} outlived the server"
        assert len(guards) == 1 and process_gone(guards[0].pid, timeout=1), "the watchdog outlived the server"
