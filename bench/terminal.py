"""Keystroke round trip and output throughput of a local shell through the server.

    python bench/terminal.py [--size-mb 100] [--keystrokes 2000]

Starts a real `jupyter server` on 127.0.0.1 and measures, with our ttyd client:
  - keystroke: one byte typed, until its echo comes back (the tty echoes it);
  - throughput: `cat` of a file of base64 text, bytes of output received per second.
Baselines on the same machine: the raw PTY (no server, no WebSocket), a bare WebSocket echo
server (bench/ws_echo.py: the floor of any relay, the role a direct ttyd plays), and
JupyterLab's own terminal (terminado's JSON protocol on /terminals/websocket). Prints a table; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_cloudtty.ttyd import TtydClient

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests.servers import JupyterProcess  # noqa: E402  (the same server runner the tests use)

TOKEN = "bench-token"


def make_file(directory: Path, size_mb: int) -> Path:
    path = directory / f"random-{size_mb}mb.b64"
    raw = size_mb * 1_000_000 * 3 // 4  # base64 grows by 4/3 (plus newlines)
    subprocess.run(f"head -c {raw} /dev/urandom | base64 > {path}", shell=True, check=True)
    return path


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered), ordered[int(len(ordered) * 0.9)], ordered[int(len(ordered) * 0.99)])


# --- baselines: the PTY alone -----------------------------------------------------------


def raw_pty_keystroke(count: int) -> list[float]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("cat", ["cat"])
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, b"a")
            while os.read(fd, 1024) != b"a":
                pass
            samples.append(time.perf_counter() - start)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    return samples


def raw_pty_throughput(path: Path) -> tuple[int, float]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("cat", ["cat", str(path)])
    received, start = 0, time.perf_counter()
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            received += len(data)
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return received, time.perf_counter() - start


# --- through the server ---------------------------------------------------------------------


async def create_shell(server: JupyterProcess, **spec: object) -> str:
    response = await server.fetch("cloudtty/api/shells", "POST", {"spec": spec})
    return json.loads(response.body)["name"]


async def open_terminado(server: JupyterProcess):
    """A JupyterLab terminal (terminado's JSON protocol), for comparison."""
    response = await server.fetch("api/terminals", "POST", {})
    name = json.loads(response.body)["name"]
    url = f"ws://127.0.0.1:{server.port}/terminals/websocket/{name}"
    return await websocket_connect(HTTPRequest(url, headers=server.headers))


async def type_and_time(term: TtydClient, count: int) -> list[float]:
    """Type one byte at a time; time each until its echo arrives."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await term.send(b"a")
        while (await term.read()) != b"a":
            pass
        samples.append(time.perf_counter() - start)
    await term.close()
    return samples


async def cloudtty_keystroke(server: JupyterProcess, count: int) -> list[float]:
    return await type_and_time(await server.terminal(await create_shell(server, commandAction="cat")), count)


async def websocket_floor_keystroke(count: int) -> list[float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    echo = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("ws_echo.py")), str(port)], stdout=subprocess.PIPE
    )
    try:
        echo.stdout.readline()  # "listening"
        term = await TtydClient.connect(f"ws://127.0.0.1:{port}/ws", handshake=False)
        return await type_and_time(term, count)
    finally:
        echo.terminate()
        echo.wait()


async def cloudtty_throughput(server: JupyterProcess, path: Path) -> tuple[int, float]:
    term = await server.terminal(await create_shell(server, commandAction=f"read go; cat {path}"))
    await term.send(b"\r")
    await term.expect(b"\r\n")  # the echo of Enter: timing starts with the cat
    received, start = 0, time.perf_counter()
    while (chunk := await term.read()) is not None:
        received += len(chunk)
    return received, time.perf_counter() - start


async def terminado_throughput(server: JupyterProcess, path: Path) -> tuple[int, float]:
    ws = await open_terminado(server)
    await ws.write_message(json.dumps(["stdin", f"stty -echo; cat {path}; echo __DO''NE__\r"]))
    received, start, tail = 0, time.perf_counter(), ""
    while True:
        message = json.loads(await ws.read_message())
        if message[0] == "stdout":
            received += len(message[1].encode())
            tail = (tail + message[1])[-64:]
            if "__DONE__\r\n" in tail:
                break
    elapsed = time.perf_counter() - start
    ws.close()
    return received, elapsed


async def terminado_keystroke(server: JupyterProcess, count: int) -> list[float]:
    ws = await open_terminado(server)
    # Once cat runs, a line comes back twice (the tty's echo, then cat's copy): then time keystrokes.
    await ws.write_message(json.dumps(["stdin", "exec cat\rready\r"]))
    seen = ""
    while seen.count("ready\r\n") < 2:
        message = json.loads(await ws.read_message())
        seen += message[1] if message[0] == "stdout" else ""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await ws.write_message(json.dumps(["stdin", "a"]))
        while json.loads(await ws.read_message()) != ["stdout", "a"]:
            pass
        samples.append(time.perf_counter() - start)
    ws.close()
    return samples


async def main(size_mb: int, keystrokes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = make_file(root, size_mb)
        async with JupyterProcess("jupyter_server", root, TOKEN) as server:
            rows = []
            for label, samples in [
                ("raw PTY (baseline)", raw_pty_keystroke(keystrokes)),
                ("bare WebSocket echo (floor)", await websocket_floor_keystroke(keystrokes)),
                ("jupyter-cloudtty WebSocket", await cloudtty_keystroke(server, keystrokes)),
                ("JupyterLab terminal (terminado)", await terminado_keystroke(server, keystrokes)),
            ]:
                rows.append((label, *(1000 * v for v in percentiles(samples))))
            print(f"\nKeystroke round trip, {keystrokes} keystrokes (ms)")
            print(f"{'path':34} {'p50':>8} {'p90':>8} {'p99':>8}")
            for label, p50, p90, p99 in rows:
                print(f"{label:34} {p50:8.3f} {p90:8.3f} {p99:8.3f}")
            # What the server adds beyond a WebSocket hop and the PTY themselves.
            overhead = rows[2][1] - rows[1][1] - rows[0][1]
            print(f"{'cloudtty overhead at p50':34} {overhead:8.3f}  (cloudtty - floor - raw PTY)")

            print(f"\nThroughput, cat of a {path.stat().st_size / 1e6:.0f} MB base64 file")
            print(f"{'path':34} {'MB recv':>8} {'seconds':>8} {'MB/s':>8}")
            for label, (received, elapsed) in [
                ("raw PTY (baseline)", raw_pty_throughput(path)),
                ("jupyter-cloudtty WebSocket", await cloudtty_throughput(server, path)),
                ("JupyterLab terminal (terminado)", await terminado_throughput(server, path)),
            ]:
                print(f"{label:34} {received / 1e6:8.1f} {elapsed:8.2f} {received / 1e6 / elapsed:8.1f}")
            await server.stop()  # SIGTERM: the server ends its shells


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100, help="size of the file to cat (default 100)")
    parser.add_argument("--keystrokes", type=int, default=2000, help="keystrokes to time (default 2000)")
    args = parser.parse_args()
    asyncio.run(main(args.size_mb, args.keystrokes))
