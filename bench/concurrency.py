"""Many terminals at once: aggregate throughput, the server's CPU and its memory per session.

    python -m bench.concurrency [--backend local|relay|direct|all] [--pods one|each] [--sessions 1,10,50,200]
                                [--size-mb 200] [--rounds 2] [--no-pin] [--profile DIR] [--json FILE]

For each N, and for each backend, a fresh `jupyter server` (its own process, c.CloudTTY.max_shells
raised) gets N shells, and our ttyd client opens one connection per shell, all in this process's
event loop. Each shell runs ``stty -echo; read go; exec head -c <size/N> FILE`` (FILE: base64 of
random bytes):
  - local: the local backend; the command is each shell's own (its spec's commandAction);
  - relay: a cluster shell relayed by the server, as bench/relay.py's path (b) does it: the
    Kubernetes backend on kmock's emulated API server (in a thread of this process), each
    CloudShell's status pointed at one shell pod, the real ttyd, which starts a bash per connection:
    N sessions are N relayed connections to it, N bashes; the command (and an ``echo`` that says it
    waits) is typed at each bash's prompt, FILE in the pod's home. ttyd 1.7.7 drops what is still in
    the PTY when its command exits (a few KiB, the same straight to ttyd): "MB each" shows it;
  - direct: the same N connections straight to the pod's ttyd, no Jupyter server: what the one pod
    can give N sessions at all, so that "relayed / direct" tells the relay's share from ttyd's.
With ``--pods each``, every relayed or direct session has a pod of its own (as in a cluster: a pod per
CloudShell), all on the pods' CPU; by default they share one pod.
Once all N are attached and idle, the server's RSS is read ("idle"); then Enter goes to every shell
at once and all N stream at the same time until each ends; meanwhile the RSS is sampled (its peak:
"busy") and the CPU time of the server and of this client process are read. Each level runs
``--rounds`` times (new shells each time; MB/s: the median). RSS per session is (RSS with N sessions
− RSS before any) / N, of the first round: the server process only, not the shells' own processes.
Placement as in bench/relay.py (its docstring says why; ``--no-pin`` leaves it to the scheduler):
the pod, or the local backend's server with its shells, on the last CPU; this process and the
relaying server on the others. The CPU time of the last CPU is read too (the pod's, when pinned: is
ttyd what sets the pace?), and the servers' logs above INFO are printed. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import itertools
import json
import os
import re
import statistics
import tempfile
import time
from contextlib import AsyncExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import psutil

from bench.hotpath import Recording, settled, top
from bench.relay import Paths, Placement, busy_seconds, upstream
from bench.report import Figure, Table, write_figures
from bench.terminal import make_file
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.kube import EmulatorThread, server_args, write_kubeconfig
from tests.harness.pods import HOME
from tests.harness.servers import JupyterProcess

TOKEN = "bench-token"
CONNECTING = 20  # connections opened at a time
GOAL = 0.7  # local: N sessions' aggregate ≥ 0.7 × one session's
RELAY_GOAL = 0.8  # relayed (issue 18): N sessions' aggregate ≥ 0.8 × one session's
GOALS = {"local": GOAL, "relay": RELAY_GOAL}  # for N sessions' aggregate / one's
RSS_GOAL_KIB = 1024  # relayed (issue 18): the server's RSS per idle session
BACKENDS = {"local": ["local"], "relay": ["relay"], "direct": ["direct"], "all": ["local", "relay", "direct"]}
LOG_LINES = 100_000  # of each server's log kept (DEBUG: a few lines per request)
CPUS = ("server_cpu", "client_cpu", "machine_cpu", "node_cpu")  # % of one core, over a level's rounds
WHAT = {"local": "local", "relay": "relayed to one pod's ttyd", "direct": "straight to that ttyd"}
# of the summary's figures (the local ones' names are older)
PREFIX = {"local": "", "relay": "relayed: ", "direct": "direct to ttyd: "}


@dataclass
class Setup:
    """What every level shares."""

    root: Path  # the Jupyter servers'
    file: Path  # in the pod's home, which the local shells read too
    addresses: list[str]  # the pods' ttyds, host:port (none without the relay and direct backends)
    placement: Placement
    rounds: int
    profile: Path | None


Open = Callable[[], Awaitable[TtydClient]]  # a new session, attached, idle until Enter


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def busy_seconds_of(cpus: set[int]) -> float:
    """busy_seconds of these CPUs alone."""
    return sum(busy_seconds(times) for cpu, times in enumerate(psutil.cpu_times(percpu=True)) if cpu in cpus)


def complaints(log: Iterable[str]) -> list[str]:
    """A server's log above INFO, timestamps dropped: Jupyter's [W], [E] and [C] records, and the bare lines that
    loggers without a handler of their own (ours, asyncio's) print through Python's last resort."""
    kept, level = [], ""
    for line in log:
        if not line.strip():
            continue
        if not line[0].isspace():  # a record's first line (an indented one goes on the record before)
            level = line[1] if re.match(r"\[\w ", line) else "bare"
        if level not in ("D", "I"):
            kept.append(re.sub(r"^\[(\w) [\d-]+ [\d:.]+ ", r"[\1 ", line.rstrip()))
    return kept


async def open_local(server: JupyterProcess, command: str) -> TtydClient:
    response = await server.fetch("cloudtty/api/shells", "POST", {"spec": {"commandAction": command}})
    return await server.terminal(json.loads(response.body)["name"])


def opener(setup: Setup, server: JupyterProcess | None, k8s: EmulatorThread | None, command: str) -> Open:
    """New sessions on the pods in turn (one pod: all on it): relayed by ``server``, or straight to ttyd."""
    pods = itertools.cycle(setup.addresses)

    def open_() -> Awaitable[TtydClient]:
        paths = Paths(next(pods), None, server, k8s, setup.file)  # type: ignore[arg-type]
        return open_relayed(paths, command, direct=server is None)

    return open_


async def open_relayed(paths: Paths, command: str, direct: bool = False) -> TtydClient:
    # bash echoes the line as it is typed: the marker's quotes keep that echo from matching
    term = await (paths.direct() if direct else paths.relayed())
    await term.send(f"stty -echo; echo RE''ADY; {command}\r")
    await term.expect(rb"READY\r\n", timeout=60)  # read waits: nothing more comes until Enter
    return term


async def run(backend: str, sessions: int, setup: Setup, total_mb: float) -> dict[str, Any]:
    """One level in a fresh server: N shells streaming together, ``rounds`` times; what it took.

    MB/s is the median of the rounds, CPU their mean; RSS and the profile are of the first round.
    """
    size = int(total_mb * 1e6 / sessions)
    args = (f"--CloudTTY.max_shells={sessions * setup.rounds + 8}",)  # ended shells count too
    placement = setup.placement
    in_pod = f"read go; exec head -c {size} {HOME}/{setup.file.name}"  # typed at a pod's bash (open_relayed)
    if backend == "direct":
        runs = [await stream(opener(setup, None, None, in_pod), psutil.Process(), sessions, placement.node, None)
                for _ in range(setup.rounds)]  # fmt: skip
        return summary(backend, sessions, runs, None, [], None)
    with EmulatorThread() if backend == "relay" else nullcontext() as k8s:
        if k8s is None:
            args += ("--CloudTTY.backend=local",)
        else:
            args += server_args(write_kubeconfig(setup.root / "kubeconfig", k8s.url))
        server = JupyterProcess("jupyter_server", setup.root, TOKEN, args=args)
        server.log_tail = collections.deque(maxlen=LOG_LINES)  # all of it: a level logs some lines per request
        async with server:
            assert server.process is not None
            placement.put(server.process.pid, placement.node if k8s is None else placement.rest)
            process = psutil.Process(server.process.pid)
            await settled(server.process.pid)
            rss_before = process.memory_info().rss
            if k8s is None:
                command = f"stty -echo; read go; exec head -c {size} {setup.file}"
                open_ = functools.partial(open_local, server, command)
            else:
                open_ = opener(setup, server, k8s, in_pod)
            recording = None
            if setup.profile:
                recording = Recording(process.pid, setup.profile / f"{backend}-{sessions}-sessions.txt")
            runs = [await stream(open_, process, sessions, placement.node, recording if round_ == 0 else None)
                    for round_ in range(setup.rounds)]  # fmt: skip
            await server.stop()
    profiled = recording and top(recording, f"Profile of the {backend} server, {sessions} sessions streaming")
    return summary(backend, sessions, runs, rss_before, complaints(server.log_tail), profiled)


def summary(
    backend: str, sessions: int, runs: list[dict[str, float]], rss_before: int | None, said: list[str], profile: Any
) -> dict[str, Any]:
    """A level's row; without a server (direct), no server CPU nor RSS."""
    first = runs[0]
    return {
        "backend": backend,
        "sessions": sessions,
        "mb_each": first["received"] / 1e6 / sessions,
        "mbps": statistics.median(r["received"] / 1e6 / r["seconds"] for r in runs),
        "seconds": statistics.mean(r["seconds"] for r in runs),
        **{key: statistics.mean(r[key] for r in runs) for key in CPUS},
        "idle_kib": None if rss_before is None else (first["rss_idle"] - rss_before) / sessions / 1024,
        "busy_kib": None if rss_before is None else (first["rss_peak"] - rss_before) / sessions / 1024,
        "complaints": said,
        "profile": profile,
    }


async def stream(
    open_: Open, process: psutil.Process, sessions: int, node: set[int], recording: Recording | None
) -> dict[str, float]:
    """N new sessions; once all are idle, all stream at once until each has ended."""
    gate = asyncio.Semaphore(CONNECTING)

    async def connect() -> TtydClient:
        async with gate:
            return await open_()

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
        machine, node_before = psutil.cpu_times(), busy_seconds_of(node)
        cpu_server, cpu_client, start = cpu_seconds(process), cpu_seconds(client), time.perf_counter()
        await asyncio.gather(*[term.send(b"\r") for term in terms])
        received = sum(await asyncio.gather(*[drain(term) for term in terms]))
        elapsed = time.perf_counter() - start
    cpu_server, cpu_client = cpu_seconds(process) - cpu_server, cpu_seconds(client) - cpu_client
    machine_busy = busy_seconds(psutil.cpu_times()) - busy_seconds(machine)
    node_busy = busy_seconds_of(node) - node_before
    streaming = False
    await sampler
    return {
        "received": received,
        "seconds": elapsed,
        "server_cpu": 100 * cpu_server / elapsed,
        "client_cpu": 100 * cpu_client / elapsed,
        "machine_cpu": 100 * machine_busy / elapsed,
        "node_cpu": 100 * node_busy / elapsed,
        "rss_idle": rss_idle,
        "rss_peak": peak,
    }


def figures_of(backend: str, results: list[dict[str, Any]]) -> list[Figure]:
    """The summary's lines for one backend's levels."""
    prefix, first, last = PREFIX[backend], results[0], results[-1]
    figures = []
    for r in results:
        cpu = f"client {r['client_cpu']:.0f}%"
        if backend != "direct":  # straight to ttyd there is no server: what stream() measured is the client
            cpu = f"server CPU {r['server_cpu']:.0f}%, {cpu}"
        figures.append(Figure("concurrency", f"{prefix}aggregate MB/s with {r['sessions']} session(s)",
                              f"{r['mbps']:.1f} ({cpu})"))  # fmt: skip
    if len(results) > 1:
        ratio, goal = last["mbps"] / first["mbps"], GOALS.get(backend)
        figure = f"{prefix}{last['sessions']} sessions' aggregate / {first['sessions']}'s"
        if goal is None:  # straight to ttyd: the baseline the relay is held against, no goal of its own
            figures.append(Figure("concurrency", figure, f"{ratio:.2f}"))
        else:
            figures.append(Figure("concurrency", figure, f"{ratio:.2f}", f"≥ {goal}", ratio >= goal))
    if backend == "local":
        figures.append(Figure("concurrency", f"server RSS per session, idle / busy ({last['sessions']} sessions)",
                              f"{last['idle_kib']:.0f} / {last['busy_kib']:.0f} KiB"))  # fmt: skip
    elif backend == "relay":
        figures.append(Figure("concurrency", f"{prefix}server RSS per idle session",
                              f"{last['idle_kib']:.0f} KiB ({last['sessions']} sessions; busy {last['busy_kib']:.0f})",
                              f"≤ {RSS_GOAL_KIB} KiB", last["idle_kib"] <= RSS_GOAL_KIB))  # fmt: skip
    return figures


async def main(options: argparse.Namespace) -> None:
    levels = [int(n) for n in options.sessions.split(",")]
    backends = BACKENDS[options.backend]
    placement = Placement.make(options.pin)
    if placement.rest:
        os.sched_setaffinity(0, placement.rest)  # the measuring client
    profile = Path(options.profile) if options.profile else None
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"  # the pod's
        home.mkdir()
        file = make_file(home, options.size_mb)
        async with AsyncExitStack() as stack:
            pod = {"relay", "direct"} & set(backends)
            count = (max(levels) if options.pods == "each" else 1) if pod else 0
            addresses = [await stack.enter_async_context(upstream(home, placement)) for _ in range(count)]
            setup = Setup(root, file, addresses, placement, options.rounds, profile)
            # the backends take turns at each level, so a shared machine's load falls on both alike
            results = [await run(b, n, setup, options.size_mb) for n in levels for b in backends]

    table = Table(
        f"Concurrency: N shells streaming at once, {' and '.join(WHAT[b] for b in backends)}, {options.size_mb:g} MB "
        f"in all per level, median of {options.rounds} round(s) "
        "(server: its own process; clients: one asyncio loop in the bench process)",
        ["backend", "sessions", "MB each", "aggregate MB/s", "vs N=1", "seconds", "server CPU %", "client CPU %",
         "machine CPU %", "RSS / idle session KiB", "RSS / busy session KiB"],
    )  # fmt: skip
    by_backend = {b: [r for r in results if r["backend"] == b] for b in backends}
    for rows in by_backend.values():
        for r in rows:
            direct = r["backend"] == "direct"  # no server: this process is the client
            cpu = ["–" if direct else f"{r['server_cpu']:.0f}"] + [f"{r[k]:.0f}" for k in ("client_cpu", "machine_cpu")]
            rss = ["–", "–"] if direct else [f"{r['idle_kib']:.0f}", f"{r['busy_kib']:.0f}"]
            table.add(r["backend"], r["sessions"], r["mb_each"], r["mbps"], f"{r['mbps'] / rows[0]['mbps']:.2f}",
                      r["seconds"], *cpu, *rss)  # fmt: skip
    busiest = max(results, key=lambda r: r["client_cpu"])
    table.notes.append(
        f"CPU % is of one core; the machine has {psutil.cpu_count()} (machine CPU: all processes, the kernel's "
        f"PTY work and other users included). The client process peaked at {busiest['client_cpu']:.0f}% with "
        f"{busiest['sessions']} {busiest['backend']} session(s)"
        + (": it is a bottleneck there too." if busiest["client_cpu"] > 85 else ".")
    )
    table.notes.append(placement.describe(
        "the pods (ttyd, its bashes, head), and the local backend's server with its shells",
        "this process (the clients, the emulated API server) and the relaying server"))  # fmt: skip
    if placement.node and {"relay", "direct"} & set(backends):  # the pod has it to itself: is ttyd the pace?
        table.notes.append("The pod's CPU was busy (% of it) with " + ", ".join(
            f"{r['sessions']} {r['backend']} sessions: {r['node_cpu']:.0f}"
            for r in results if r["backend"] != "local") + ".")  # fmt: skip
    said = collections.Counter(line for r in results for line in r["complaints"])
    table.notes.append(f"The servers' logs above INFO, over {len(results)} servers: "
                       + ("; ".join(f"{n}× {line}" for line, n in said.most_common(12)) or "nothing"))  # fmt: skip
    figures = [f for b, rows in by_backend.items() for f in figures_of(b, rows)]
    if "relay" in by_backend and "direct" in by_backend:  # the relay's share of what one pod gives N sessions
        for relayed, direct in zip(by_backend["relay"], by_backend["direct"], strict=True):
            figures.append(Figure("concurrency", f"relayed / direct to ttyd, {relayed['sessions']} session(s)",
                                  f"{relayed['mbps'] / direct['mbps']:.2f}"))  # fmt: skip
    table.notes += [f.figure + ": " + f.value for f in figures if f.figure.startswith("relayed / direct")]
    table.print()
    for r in results:
        if r["profile"]:
            r["profile"].print()
    write_figures(options.json, figures)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=list(BACKENDS), default="all",
                        help="local shells, relayed, straight to ttyd, or all at each level (default all)")  # fmt: skip
    parser.add_argument("--pods", choices=("one", "each"), default="one",
                        help="relayed and direct: all sessions on one pod, or a pod each (default one)")  # fmt: skip
    parser.add_argument("--sessions", default="1,10,50,200", help="levels of N, comma-separated (default 1,10,50,200)")
    parser.add_argument("--size-mb", type=float, default=200, help="output of each level, split among N (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each level in its server (default 2)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="leave placement to the scheduler (see bench/relay.py's docstring)")  # fmt: skip
    parser.add_argument("--profile", metavar="DIR", help="py-spy the server while each level streams; recordings here")
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    return parser


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
