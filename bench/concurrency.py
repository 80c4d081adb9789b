"""Many terminals at once: aggregate throughput, the server's CPU and its memory per session.

    python -m bench.concurrency [--sessions 1,10,50,200] [--size-mb 200] [--rounds 2] [--profile DIR] [--json FILE]

For each N, a fresh `jupyter server` (its own process, local backend, c.CloudTTY.max_shells raised)
gets N shells, each ``stty -echo; read go; exec head -c <size/N> FILE`` (FILE: base64 of random
bytes), and our ttyd client, one connection per shell, all in this process's event loop. Once all N
are attached and idle, the server's RSS is read ("idle"); then Enter goes to every shell at once
and all N stream at the same time until each ends; meanwhile the RSS is sampled (its peak: "busy")
and the CPU time of the server and of this client process are read. Each level runs ``--rounds``
times (new shells each time; MB/s: the median). RSS per session is (RSS with N sessions − RSS
before any) / N, of the first round: the server process only, not the shells' own processes.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import psutil

from bench.hotpath import Recording, settled, top
from bench.report import Figure, Table, write_figures
from bench.terminal import make_file
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.servers import JupyterProcess

TOKEN = "bench-token"
CONNECTING = 20  # connections opened at a time
GOAL = 0.7  # N sessions' aggregate ≥ 0.7 × one session's


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def busy_seconds(times) -> float:
    """CPU seconds the whole machine spent on anything (every core, the kernel's PTY work included)."""
    return sum(times) - times.idle - getattr(times, "iowait", 0)


async def run(
    sessions: int, file: Path, total_mb: float, root: Path, rounds: int, profile: Path | None
) -> dict[str, Any]:
    """One level in a fresh server: N shells streaming together, ``rounds`` times; what it took.

    MB/s is the median of the rounds, CPU their mean; RSS and the profile are of the first round.
    """
    size = int(total_mb * 1e6 / sessions)
    command = f"stty -echo; read go; exec head -c {size} {file}"
    args = (f"--CloudTTY.max_shells={sessions * rounds + 8}",)  # ended shells count too
    async with JupyterProcess("jupyter_server", root, TOKEN, args=args) as server:
        assert server.process is not None
        process = psutil.Process(server.process.pid)
        await settled(server.process.pid)
        rss_before = process.memory_info().rss
        recording = Recording(process.pid, profile / f"{sessions}-sessions.txt") if profile else None
        runs = [await stream(server, process, sessions, command, recording if round_ == 0 else None)
                for round_ in range(rounds)]  # fmt: skip
        await server.stop()
    first = runs[0]
    return {
        "sessions": sessions,
        "mb_each": first["received"] / 1e6 / sessions,
        "mbps": statistics.median(r["received"] / 1e6 / r["seconds"] for r in runs),
        "seconds": statistics.mean(r["seconds"] for r in runs),
        **{key: statistics.mean(r[key] for r in runs) for key in ("server_cpu", "client_cpu", "machine_cpu")},
        "idle_kib": (first["rss_idle"] - rss_before) / sessions / 1024,
        "busy_kib": (first["rss_peak"] - rss_before) / sessions / 1024,
        "profile": top(recording, f"Profile of the server, {sessions} sessions streaming") if recording else None,
    }


async def stream(
    server: JupyterProcess, process: psutil.Process, sessions: int, command: str, recording: Recording | None
) -> dict[str, float]:
    """N new shells, each with a client; once all are idle, all stream at once until each has ended."""
    gate = asyncio.Semaphore(CONNECTING)

    async def connect() -> TtydClient:
        async with gate:
            response = await server.fetch("cloudtty/api/shells", "POST", {"spec": {"commandAction": command}})
            return await server.terminal(json.loads(response.body)["name"])

    terms = await asyncio.gather(*[connect() for _ in range(sessions)])
    await settled(process.pid)
    rss_idle = process.memory_info().rss
    peak = rss_idle
    streaming = True

    async def sample() -> None:
        nonlocal peak
        while streaming:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.05)

    async def drain(term: TtydClient) -> int:
        received = 0
        while (chunk := await term.read()) is not None:
            received += len(chunk)
        return received

    sampler = asyncio.ensure_future(sample())
    client = psutil.Process()
    async with recording or nullcontext():
        machine = psutil.cpu_times()
        cpu_server, cpu_client, start = cpu_seconds(process), cpu_seconds(client), time.perf_counter()
        await asyncio.gather(*[term.send(b"\r") for term in terms])
        received = sum(await asyncio.gather(*[drain(term) for term in terms]))
        elapsed = time.perf_counter() - start
    cpu_server, cpu_client = cpu_seconds(process) - cpu_server, cpu_seconds(client) - cpu_client
    machine_busy = busy_seconds(psutil.cpu_times()) - busy_seconds(machine)
    streaming = False
    await sampler
    return {
        "received": received,
        "seconds": elapsed,
        "server_cpu": 100 * cpu_server / elapsed,
        "client_cpu": 100 * cpu_client / elapsed,
        "machine_cpu": 100 * machine_busy / elapsed,
        "rss_idle": rss_idle,
        "rss_peak": peak,
    }


async def main(options: argparse.Namespace) -> None:
    levels = [int(n) for n in options.sessions.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        file = make_file(root, options.size_mb)
        profile = Path(options.profile) if options.profile else None
        if profile:
            profile.mkdir(parents=True, exist_ok=True)
        results = [await run(n, file, options.size_mb, root, options.rounds, profile) for n in levels]

    table = Table(
        f"Concurrency: N local shells streaming at once, {options.size_mb:g} MB in all per level, "
        f"median of {options.rounds} round(s) "
        "(server: its own process; clients: one asyncio loop in the bench process)",
        ["sessions", "MB each", "aggregate MB/s", "vs first", "seconds", "server CPU %", "client CPU %",
         "machine CPU %", "RSS / idle session KiB", "RSS / busy session KiB"],
    )  # fmt: skip
    first = results[0]["mbps"]
    for r in results:
        cpu = [f"{r[k]:.0f}" for k in ("server_cpu", "client_cpu", "machine_cpu")]
        table.add(r["sessions"], r["mb_each"], r["mbps"], f"{r['mbps'] / first:.2f}", r["seconds"], *cpu,
                  f"{r['idle_kib']:.0f}", f"{r['busy_kib']:.0f}")  # fmt: skip
    busiest = max(results, key=lambda r: r["client_cpu"])
    table.notes.append(
        f"CPU % is of one core; the machine has {psutil.cpu_count()} (machine CPU: all processes, the kernel's "
        f"PTY work and other users included). The client process peaked at {busiest['client_cpu']:.0f}% with "
        f"{busiest['sessions']} sessions" + (": it is a bottleneck there too." if busiest["client_cpu"] > 85 else ".")
    )
    table.print()
    for r in results:
        if r["profile"]:
            r["profile"].print()
    last = results[-1]
    ratio = last["mbps"] / first
    figures = [
        Figure("concurrency", f"aggregate MB/s with {r['sessions']} session(s)",
               f"{r['mbps']:.1f} (server CPU {r['server_cpu']:.0f}%, client {r['client_cpu']:.0f}%)")
        for r in results
    ]  # fmt: skip
    if len(results) > 1:
        figures.append(Figure("concurrency", f"{last['sessions']} sessions' aggregate / {results[0]['sessions']}'s",
                              f"{ratio:.2f}", f"≥ {GOAL}", ratio >= GOAL))  # fmt: skip
    figures.append(Figure("concurrency", f"server RSS per session, idle / busy ({last['sessions']} sessions)",
                          f"{last['idle_kib']:.0f} / {last['busy_kib']:.0f} KiB"))  # fmt: skip
    write_figures(options.json, figures)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,10,50,200", help="levels of N, comma-separated (default 1,10,50,200)")
    parser.add_argument("--size-mb", type=float, default=200, help="output of each level, split among N (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each level in its server (default 2)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the server while each level streams; recordings here")
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    return parser


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
