"""Stopping the Jupyter server ends every shell: no process outlives it.

Runs `jupyter server` as its own process, as a user would, and stops it with SIGTERM.
"""

import re

import pytest

from tests.harness.servers import JupyterProcess
from tests.harness.waiting import alive, process_gone

pytestmark = pytest.mark.slow  # a Jupyter server process, stopped


async def test_sigterm_leaves_no_shell_process_behind(tmp_path):
    async with JupyterProcess("jupyter_server", tmp_path) as server:
        pids, terms = [], []
        for name in ("one", "two"):
            await server.fetch("cloudtty/api/shells", "POST", {"name": name})
            term = await server.terminal(name)
            await term.send("sleep 1001 & echo BG=$!; echo SH=$$\r")
            found = await term.expect(re.compile(rb"BG=(\d+)\r\n.*SH=(\d+)", re.S))
            pids += [int(pid) for pid in found.groups()]
            terms.append(term)
        terms[0].connection.close()  # one shell with a browser attached, one without
        assert all(alive(pid) for pid in pids)

        stopped = await server.stop()
        assert await terms[1].wait_closed(timeout=30) == (4004, "the Jupyter server is stopping")
        assert stopped == 0
        for pid in pids:
            assert process_gone(pid, timeout=1), f"pid {pid} outlived the server"
