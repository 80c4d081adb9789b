"""Keystroke round trip and output throughput of a local shell through the server.

    python -m bench.terminal [--size-mb 100] [--keystrokes 2000] [--json FILE]

Starts a real `jupyter server` on 127.0.0.1 and measures, with our ttyd client:
  - keystroke: one byte typed, until its echo comes back (the tty echoes it);
  - throughput: `cat` of a file of base64 text, bytes of output received per second.
Baselines on the same machine: the raw PTY (no server, no WebSocket), a bare WebSocket echo
server (bench/ws_echo.py: the floor of any relay, the role a direct ttyd plays), and
JupyterLab's own terminal (terminado's JSON protocol on /terminals/websocket). Here a keystroke's
echo is the tty's own (cat in canonical mode); bench/relay.py times the four paths of the issue with
cat echoing instead. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from bench.report import Figure, Table, percentiles, write_figures
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.servers import JupyterProcess  # the same server runner the tests use

ROOT = Path(__file__).resolve().parents[1]  # where `python -m bench.…` finds the package
TOKEN = "bench-token"


def make_file(directory: Path, size_mb: float) -> Path:
    """About ``size_mb`` MB of base64 text (random bytes: nothing compresses it on the way)."""
    path = directory / f"random-{size_mb}mb.b64"
    raw = int(size_mb * 1_000_000) * 3 // 4  # base64 grows by 4/3 (plus newlines)
    subprocess.run(f"head -c {raw} /dev/urandom | base64 > {path}", shell=True, check=True)
    return path


# --- baselines: the PTY alone -----------------------------------------------------------


def raw_pty_keystroke(count: int, cat_echoes: bool = False) -> list[float]:
    """One byte written to a PTY until it comes back: the tty's echo, or (``cat_echoes``) cat's copy."""
    pid, fd = pty.fork()
    if pid == 0:
        if cat_echoes:  # as bench/relay.py types into every path
            os.execvp("sh", ["sh", "-c", "stty -echo -icanon min 1; echo READY; exec cat"])
        os.execvp("cat", ["cat"])
    samples = []
    try:
        seen = b""
        while cat_echoes and b"READY\r\n" not in seen:
            seen += os.read(fd, 1024)
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


async def echo_times(term: TtydClient, count: int) -> list[float]:
    """Type one byte at a time; time each until its echo arrives. The terminal stays open."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await term.send(b"a")
        while (await term.read()) != b"a":
            pass
        samples.append(time.perf_counter() - start)
    return samples


async def type_and_time(term: TtydClient, count: int) -> list[float]:
    """``echo_times``, then the client leaves."""
    samples = await echo_times(term, count)
    await term.close()
    return samples


async def cloudtty_keystroke(server: JupyterProcess, count: int) -> list[float]:
    return await type_and_time(await server.terminal(await create_shell(server, commandAction="cat")), count)


async def websocket_floor_keystroke(count: int) -> list[float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    echo = subprocess.Popen([sys.executable, "-m", "bench.ws_echo", str(port)], stdout=subprocess.PIPE, cwd=ROOT)
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


async def main(size_mb: float, keystrokes: int, json_path: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = make_file(root, size_mb)
        async with JupyterProcess("jupyter_server", root, TOKEN) as server:
            keys = Table(f"Keystroke round trip, {keystrokes} keystrokes (ms)", ["path", "p50", "p90", "p99"])
            p50 = {}
            for label, samples in [
                ("raw PTY (baseline)", raw_pty_keystroke(keystrokes)),
                ("bare WebSocket echo (floor)", await websocket_floor_keystroke(keystrokes)),
                ("jupyter-cloudtty WebSocket", await cloudtty_keystroke(server, keystrokes)),
                ("JupyterLab terminal (terminado)", await terminado_keystroke(server, keystrokes)),
            ]:
                ms = [1000 * v for v in percentiles(samples)]
                keys.add(label, *ms)
                p50[label] = ms[0]
            # What the server adds beyond a WebSocket hop and the PTY themselves.
            floor = p50["bare WebSocket echo (floor)"] + p50["raw PTY (baseline)"]
            overhead = p50["jupyter-cloudtty WebSocket"] - floor
            keys.notes.append(f"cloudtty overhead at p50: {overhead:.3f} ms (cloudtty - floor - raw PTY)")

            cat = Table(f"Throughput, cat of a {path.stat().st_size / 1e6:.0f} MB base64 file",
                        ["path", "MB recv", "seconds", "MB/s"])  # fmt: skip
            mbps = {}
            for label, (received, elapsed) in [
                ("raw PTY (baseline)", raw_pty_throughput(path)),
                ("jupyter-cloudtty WebSocket", await cloudtty_throughput(server, path)),
                ("JupyterLab terminal (terminado)", await terminado_throughput(server, path)),
            ]:
                mbps[label] = received / 1e6 / elapsed
                cat.add(label, received / 1e6, elapsed, mbps[label])
            await server.stop()  # SIGTERM: the server ends its shells
    keys.print()
    cat.print()
    ours, terminado = mbps["jupyter-cloudtty WebSocket"], mbps["JupyterLab terminal (terminado)"]
    write_figures(json_path, [
        Figure("terminal", "local shell vs JupyterLab's terminado: MB/s", f"{ours:.1f} vs {terminado:.1f} "
               f"({ours / terminado:.1f}×)"),
        Figure("terminal", "local shell vs terminado: keystroke p50 (tty echo)",
               f"{p50['jupyter-cloudtty WebSocket']:.3f} vs {p50['JupyterLab terminal (terminado)']:.3f} ms"),
    ])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=100, help="size of the file to cat (default 100)")
    parser.add_argument("--keystrokes", type=int, default=2000, help="keystrokes to time (default 2000)")
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    args = parser.parse_args()
    asyncio.run(main(args.size_mb, args.keystrokes, args.json))
