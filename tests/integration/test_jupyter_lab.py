"""README's run command: `jupyter lab` serves the extension with no further step."""

import asyncio
import json
import os
import signal
import subprocess
import sys

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyter_cloudtty.ttyd import TtydClient
from tests.integration.test_server_stop import free_port, watch_log

TOKEN = "lab-token"


async def test_jupyter_lab_serves_shells_and_terminals(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
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
        await asyncio.wait_for(watch_log(lab, b"jupyter_cloudtty | extension was successfully started"), 90)
        http, headers = AsyncHTTPClient(), {"Authorization": f"token {TOKEN}"}
        page = await http.fetch(HTTPRequest(f"http://127.0.0.1:{port}/lab", headers=headers))
        assert b"JupyterLab" in page.body
        created = await http.fetch(
            HTTPRequest(
                f"http://127.0.0.1:{port}/cloudtty/api/shells",
                method="POST",
                headers=headers,
                body=json.dumps({"name": "lab"}),
            )
        )
        assert created.code == 201
        term = await TtydClient.connect(f"ws://127.0.0.1:{port}/cloudtty/api/shells/lab/terminal", headers=headers)
        await term.send("echo $((6*7))\r")
        await term.expect(rb"\r42\r\n")
        term.connection.close()
    finally:
        lab.send_signal(signal.SIGTERM)
        try:
            lab.wait(60)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()
