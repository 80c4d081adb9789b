"""Stopping the Jupyter server ends every shell: no process outlives it.

Runs `jupyter server` as its own process, as a user would, and stops it with SIGTERM.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyter_cloudtty.ttyd import TtydClient
from tests.waiting import alive, process_gone

TOKEN = "stop-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_log(server: subprocess.Popen, marker: bytes) -> asyncio.Future:
    """A future set when ``marker`` appears in the server's log; the log is drained to its end."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future = loop.create_future()

    def drain() -> None:
        for line in server.stderr:
            if marker in line and not seen.done():
                loop.call_soon_threadsafe(seen.set_result, None)
        if not seen.done():
            loop.call_soon_threadsafe(seen.set_exception, AssertionError("the server exited before it was running"))

    threading.Thread(target=drain, daemon=True).start()
    return seen


async def test_sigterm_leaves_no_shell_process_behind(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={tmp_path}",
            "--ServerApp.port_retries=0",
            "--ServerApp.log_level=DEBUG",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        # Logged once the loop runs, after the deferred bind of the listening socket.
        await asyncio.wait_for(watch_log(server, b"jupyter_cloudtty | extension was successfully started"), 60)
        http = AsyncHTTPClient()
        headers = {"Authorization": f"token {TOKEN}"}
        pids, terms = [], []
        for name in ("one", "two"):
            await http.fetch(
                HTTPRequest(
                    f"http://127.0.0.1:{port}/cloudtty/api/shells",
                    method="POST",
                    headers=headers,
                    body=json.dumps({"name": name}),
                )
            )
            term = await TtydClient.connect(
                f"ws://127.0.0.1:{port}/cloudtty/api/shells/{name}/terminal", headers=headers
            )
            await term.send("sleep 1001 & echo BG=$!; echo SH=$$\r")
            found = await term.expect(re.compile(rb"BG=(\d+)\r\n.*SH=(\d+)", re.S))
            pids += [int(pid) for pid in found.groups()]
            terms.append(term)
        terms[0].connection.close()  # one shell with a browser attached, one without
        assert all(alive(pid) for pid in pids)

        server.send_signal(signal.SIGTERM)
        assert await terms[1].wait_closed(timeout=30) == (4004, "the Jupyter server is stopping")
        assert await asyncio.get_running_loop().run_in_executor(None, server.wait, 60) == 0
        for pid in pids:
            assert process_gone(pid, timeout=1), f"pid {pid} outlived the server"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
