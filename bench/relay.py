"""The relay's cost: output throughput and keystroke round trip over the four paths a terminal can take.

    python -m bench.relay [--size-mb 100] [--keystrokes 2000] [--rounds 3] [--paths abcd]
                          [--profile DIR] [--json FILE]

  (a) a local shell (local backend) through the Jupyter server's terminal WebSocket;
  (b) a cluster shell: the Jupyter server relays its terminal WebSocket to the shell's ttyd
      (Kubernetes backend on kmock's emulated API server, the CloudShell's status pointing at the
      upstream below: connect_via=url);
  (c) the same ttyd upstream, directly;
  (d) the same upstream through jupyter-server-proxy (``/proxy/<host>:<port>/ws``) on the same Jupyter
      server as (b): what a user would otherwise reach a pod's ttyd with.
The upstream is the real ttyd 1.7.7 of a shell pod (tests/harness/pods.py: Debian's ttyd in the shell
image's files, a bash per connection; needs root), the file to cat in the pod's home; each Jupyter
server is its own process (tests/harness/servers.py). Every path ends in bash on a PTY, and is measured the
same way with our ttyd client:
  - throughput: ``stty -echo; exec cat FILE`` (base64 of random bytes), bytes received per second
    (ttyd 1.7.7 may drop the last few KiB as cat exits: a rounding error on the figure);
  - keystroke: ``stty -echo -icanon min 1; exec cat``, then one byte at a time until cat sends it back;
  - command: ``echo hi`` and Enter typed at bash's prompt, until the next prompt is back: what a user
    does all day, and a reply that comes as several small frames (the echo, the output, the prompt),
    where a relay that leaves Nagle's algorithm on waits for the client's delayed ACK.
The CPU time of the Jupyter server a path crosses is read for each transfer (CPU seconds per 100 MB:
what the relay costs even when something else sets the pace).
Floors: the same cat on a bare PTY (no socket), and a bare WebSocket echo server (no PTY). The
paths take turns, ``--rounds`` times, so a shared machine's load falls on all of them alike.

Placement (``--no-pin`` to leave it to the scheduler): a shell pod runs on a node of its own, not on
the CPU of the Jupyter server that relays it, nor on the browser's. On a machine with 2 CPUs or more
the pod (ttyd, bash, cat) gets the last CPU to itself; the measuring client and the Jupyter server of
(b) and (d) share the others; the local backend's server (a) takes the pod's place, with its shell,
as it serves a shell the way ttyd does; the bare-PTY floor runs there too. Unpinned, the scheduler
puts ttyd and the relay on one CPU in some rounds and not in others, and one run's figures for (b)
spread from 45 to 120 MB/s: the placement, not the relay, is then what is measured.
With ``--profile DIR``, py-spy samples each Jupyter server while it carries (a), (b) and (d)
(bench/hotpath.py). Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator

import psutil

from bench.hotpath import Recording, settled, top
from bench.report import Figure, Table, command_line, finish, percentiles, run, terminal_options
from bench.terminal import (
    make_file,
    raw_pty_keystroke,
    raw_pty_throughput,
    type_and_time,
    websocket_floor_keystroke,
)
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.kube import EmulatorThread, write_kubeconfig
from tests.harness.pods import HOME, ttyd_pod
from tests.harness.servers import JupyterProcess

TOKEN = "bench-token"
SHELL = ["bash", "--norc", "--noprofile"]
KEYS = "stty -echo -icanon min 1; echo READY; exec cat\r"
PATHS = {
    "a": "(a) local shell, server WebSocket",
    "b": "(b) relay to ttyd (jupyter-cloudtty)",
    "c": "(c) ttyd directly",
    "d": "(d) ttyd via jupyter-server-proxy",
}
PROFILE_MB = 300


async def throughput(term: TtydClient, path: Path, times: int = 1) -> tuple[int, float]:
    """(bytes, seconds) of ``cat path`` (``times`` over) typed into the shell, until the connection ends."""
    await term.send(f"stty -echo; exec cat{f' {path}' * times}\r")
    received, start = 0, time.perf_counter()
    while (chunk := await term.read()) is not None:
        received += len(chunk)
    return received, time.perf_counter() - start


async def keystrokes(term: TtydClient, count: int) -> list[float]:
    """Seconds for each of ``count`` bytes typed into cat to come back."""
    await term.send(KEYS)
    await term.expect(rb"\rREADY\r\n")
    return await type_and_time(term, count)


async def commands(term: TtydClient, count: int) -> list[float]:
    """Seconds for each of ``count`` ``echo hi`` commands, from Enter until bash's next prompt."""
    # bash as users have it: bracketed paste on (5.1+), so the reply is the echo, the mode's escapes,
    # the output and the prompt, in as many writes
    await term.send("PS1='$ '; echo READY\r")
    await term.expect(rb"\rREADY\r\n(\x1b\[\?2004h)?\$ ")
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await term.send("echo hi\r")
        await term.expect(rb"\rhi\r\n(\x1b\[\?2004h)?\$ ")
        samples.append(time.perf_counter() - start)
    await term.close()
    return samples


@asynccontextmanager
async def upstream(home: Path, placement: Placement) -> AsyncIterator[str]:
    """A shell pod (the real ttyd) whose home is ``home``, on its CPU; yields its ``host:port``."""
    async with ttyd_pod(SHELL, home=home, name="bench-shell") as pod:
        assert pod.process is not None
        placement.put(pod.process.pid, placement.node)
        yield pod.address


def proxy_installed() -> bool:
    """jupyter-server-proxy enables itself in every Jupyter server of this Python once installed."""
    return importlib.util.find_spec("jupyter_server_proxy") is not None


Connect = Callable[[], Awaitable[TtydClient]]


class Paths:
    """Connections over each path; ``done`` tidies up after one (a shell deleted, say)."""

    def __init__(
        self, address: str, local: JupyterProcess | None, relay: JupyterProcess | None, k8s: EmulatorThread, file: Path
    ):
        self.address, self.local, self.relay, self.k8s = address, local, relay, k8s
        self.file = file  # in the pod's home
        self._shells: dict[TtydClient, tuple[JupyterProcess, str]] = {}

    def file_for(self, path: str) -> str:
        """The file to cat as the path's shell sees it: this machine's for (a), the pod's for the others."""
        return str(self.file) if path == "a" else f"{HOME}/{self.file.name}"

    def connector(self, path: str) -> Connect:
        return {"a": self.local_shell, "b": self.relayed, "c": self.direct, "d": self.proxied}[path]

    async def _shell(self, server: JupyterProcess) -> str:
        response = await server.fetch("cloudtty/api/shells", "POST", {})
        return json.loads(response.body)["name"]

    async def local_shell(self) -> TtydClient:
        assert self.local is not None
        name = await self._shell(self.local)
        term = await self.local.terminal(name)
        self._shells[term] = (self.local, name)
        return term

    async def relayed(self) -> TtydClient:
        assert self.relay is not None
        name = await self._shell(self.relay)
        status = {"phase": "Ready", "accessUrl": self.address}  # what the operator would write
        await self.k8s.api.patch("CloudShell", "team", name, {"status": status}, "status")
        term = await self.relay.terminal(name)
        self._shells[term] = (self.relay, name)
        return term

    async def direct(self) -> TtydClient:
        return await TtydClient.connect(f"ws://{self.address}/ws")

    async def proxied(self) -> TtydClient:
        assert self.relay is not None
        url = f"ws://127.0.0.1:{self.relay.port}/proxy/{self.address}/ws"  # /proxy/<host>:<port>/: the pod's
        return await TtydClient.connect(url, headers=self.relay.headers)

    async def done(self, term: TtydClient) -> None:
        """After a measurement (which read the connection to its end, or closed it)."""
        if term in self._shells:
            server, name = self._shells.pop(term)
            await server.fetch(f"cloudtty/api/shells/{name}", "DELETE")


def server_of(paths: Paths, path: str) -> JupyterProcess | None:
    """The Jupyter server a path goes through (and whose CPU it costs), if any."""
    return {"a": paths.local, "b": paths.relay, "d": paths.relay}.get(path)


@dataclass
class Placement:
    """CPUs for the parts of a run (see the module's docstring); empty sets: the scheduler decides."""

    node: set[int]
    rest: set[int]

    @classmethod
    def make(cls, pin: bool) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        if not pin or len(cpus) < 2:
            return cls(set(), set())
        return cls({cpus[-1]}, set(cpus[:-1]))

    def describe(self, on_node: str, on_rest: str) -> str:
        """A table's note: what runs on the pod's CPU and what on the others, in a benchmark's words."""
        if not self.node:
            return "placement: left to the scheduler"
        return f"placement: {on_node} on CPU {_cpus(self.node)}; {on_rest} on CPU {_cpus(self.rest)}"

    def put(self, pid: int, cpus: set[int]) -> None:
        """``pid`` and every process under it (those it starts later inherit it)."""
        if not cpus:
            return
        process = psutil.Process(pid)
        for each in [process, *process.children(recursive=True)]:
            each.cpu_affinity(sorted(cpus))

    @contextmanager
    def on_node(self) -> Iterator[None]:
        """This process (and what it forks meanwhile) on the pod's CPU."""
        if not self.node:
            yield
            return
        os.sched_setaffinity(0, self.node)
        try:
            yield
        finally:
            os.sched_setaffinity(0, self.rest)


def _cpus(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def busy_seconds(times) -> float:
    """CPU seconds spent on anything in ``times`` (psutil's cpu_times, of the machine or of one CPU):
    every process's, the kernel's PTY and network work included."""
    # A guest's time is in user's already; iowait is idle.
    return sum(times) - times.idle - times.iowait - times.guest - times.guest_nice


def machine_cpu_seconds() -> float:
    """What every process of the machine has used since boot: a path's whole cost, ttyd's, bash's, the
    kernel's and the measuring client's included, where they share the cores."""
    return busy_seconds(psutil.cpu_times())


def cpu_seconds(server: JupyterProcess | None) -> float:
    if server is None or server.process is None:
        return 0.0
    times = psutil.Process(server.process.pid).cpu_times()
    return times.user + times.system


async def measure(paths: Paths, which: str, count: int, rounds: int):
    """Per path: MB/s per round, the server's CPU seconds per 100 MB, keystroke and command samples (s)."""
    mbps: dict[str, list[float]] = {p: [] for p in which}
    cpu: dict[str, list[float]] = {p: [] for p in which}
    machine: dict[str, list[float]] = {p: [] for p in which}
    keys: dict[str, list[float]] = {p: [] for p in which}
    lines: dict[str, list[float]] = {p: [] for p in which}
    for _ in range(rounds):
        for p in which:
            connect = paths.connector(p)
            term = await connect()
            before, machine_before = cpu_seconds(server_of(paths, p)), machine_cpu_seconds()
            received, elapsed = await throughput(term, paths.file_for(p))
            cpu[p].append((cpu_seconds(server_of(paths, p)) - before) / (received / 1e8))
            machine[p].append((machine_cpu_seconds() - machine_before) / (received / 1e8))
            await paths.done(term)
            mbps[p].append(received / 1e6 / elapsed)
            term = await connect()
            keys[p] += await keystrokes(term, count)
            await paths.done(term)
            term = await connect()
            lines[p] += await commands(term, max(1, count // 10))
            await paths.done(term)
    return mbps, cpu, machine, keys, lines


async def profiles(paths: Paths, which: str, count: int, directory: Path) -> list[Table]:
    """py-spy on the Jupyter server of (a), (b) and (d) during a run of each (not counted in the figures).

    Long enough for a few thousand samples: ~300 MB of output, 5 rounds' keystrokes.
    """
    tables = []
    times = max(1, round(PROFILE_MB / (paths.file.stat().st_size / 1e6)))
    for p in which:
        server = server_of(paths, p)
        if server is None or server.process is None:
            continue
        connect = paths.connector(p)
        for what in ("throughput", "keystrokes"):
            term = await connect()
            async with Recording(server.process.pid, directory / f"{p}-{what}.txt") as recording:
                if what == "throughput":
                    await throughput(term, paths.file_for(p), times)
                else:
                    await keystrokes(term, 5 * count)
            await paths.done(term)
            tables.append(top(recording, f"Profile of the Jupyter server during {PATHS[p]}: {what}"))
    return tables


async def main(options: argparse.Namespace) -> None:
    which = "".join(p for p in options.paths if p in PATHS)
    if "d" in which and not proxy_installed():
        print("(d) left out: jupyter-server-proxy is not installed (pip install -e '.[bench]')")
        which = which.replace("d", "")
    profile = Path(options.profile) if options.profile else None
    placement = Placement.make(options.pin)
    if placement.rest:
        os.sched_setaffinity(0, placement.rest)  # the measuring client
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, EmulatorThread() as k8s:
        root = Path(tmp)
        home = root / "home"  # the pod's
        home.mkdir()
        file = make_file(home, options.size_mb)
        megabytes = file.stat().st_size / 1e6
        kubeconfig = write_kubeconfig(root / "kubeconfig", k8s.url)
        cluster = ("--CloudTTY.backend=kubernetes", f"--CloudTTY.kubeconfig={kubeconfig}", "--CloudTTY.connect_via=url")
        local = ("--CloudTTY.backend=local", *(f"--CloudTTY.shell_command={arg}" for arg in SHELL))
        async with AsyncExitStack() as stack:
            address = await stack.enter_async_context(upstream(home, placement)) if set(which) & set("bcd") else ""
            if "d" in which:  # jupyter-server-proxy reaches 127.0.0.1 alone unless told
                cluster += (f"--ServerProxy.host_allowlist=['{address.rsplit(':', 1)[0]}']",)
            servers = {}
            for p, args in [("a", local), ("b", cluster)]:
                if p in which or (p == "b" and "d" in which):  # (d) goes through the relay's server
                    servers[p] = await stack.enter_async_context(JupyterProcess("jupyter_server", root, TOKEN, args))
            for p, server in servers.items():
                placement.put(server.process.pid, placement.node if p == "a" else placement.rest)
                await settled(server.process.pid)
            paths = Paths(address, servers.get("a"), servers.get("b"), k8s, file)
            profiled = await profiles(paths, which, options.keystrokes, profile) if profile else []
            mbps, cpu, machine, keys, lines = await measure(paths, which, options.keystrokes, options.rounds)
            for server in servers.values():
                await server.stop()
        with placement.on_node():  # cat and its reader where the pod's ttyd and cat were
            floor_mbps = [received / 1e6 / elapsed for received, elapsed in
                          (raw_pty_throughput(file) for _ in range(options.rounds))]  # fmt: skip
        floor_pty = raw_pty_keystroke(options.keystrokes * options.rounds, cat_echoes=True)
        floor_ws = await websocket_floor_keystroke(options.keystrokes * options.rounds)

    table = Table(
        f"Four paths: `cat` of a {megabytes:.0f} MB file, {options.keystrokes} keystrokes into `cat`, "
        f"{options.rounds} round(s), and a tenth as many `echo hi` commands at bash's prompt; MB/s is the "
        "median of the rounds (min–max)",
        [
            "path",
            "MB/s",
            "MB/s range",
            "server CPU s / 100 MB",
            "machine CPU s / 100 MB",
            "keystroke p50 ms",
            "p90",
            "p99",
            "command p50 ms",
            "p99",
        ],  # fmt: skip
    )
    med = {p: statistics.median(v) for p, v in mbps.items()}
    p50, line_p50 = {}, {}
    for p in which:
        ms = [1000 * v for v in percentiles(keys[p])]
        line_ms = [1000 * v for v in percentiles(lines[p])]
        p50[p], line_p50[p] = ms[0], line_ms[0]
        server_cpu = f"{statistics.median(cpu[p]):.2f}" if server_of(paths, p) else "–"
        table.add(PATHS[p], med[p], f"{min(mbps[p]):.1f}–{max(mbps[p]):.1f}", server_cpu,
                  f"{statistics.median(machine[p]):.2f}", *ms,
                  line_ms[0], line_ms[2])  # fmt: skip
    raw = [1000 * v for v in percentiles(floor_pty)]
    ws = [1000 * v for v in percentiles(floor_ws)]
    table.add("floor: cat on a bare PTY, no socket", statistics.median(floor_mbps),
              f"{min(floor_mbps):.1f}–{max(floor_mbps):.1f}", "", "", *raw, "", "")  # fmt: skip
    table.add("floor: bare WebSocket echo, no PTY", "", "", "", "", *ws, "", "")

    figures = []
    for p in which:
        figures.append(Figure("paths", f"{PATHS[p]}: MB/s; keystroke p50", f"{med[p]:.1f} MB/s; {p50[p]:.3f} ms"))
    p99 = {p: 1000 * percentiles(keys[p])[2] for p in which}
    line_p99 = {p: 1000 * percentiles(lines[p])[2] for p in which}
    if "b" in which and "c" in which:
        ratio, added, added99 = med["b"] / med["c"], p50["b"] - p50["c"], p99["b"] - p99["c"]
        figures.append(Figure("paths", "throughput b/c (relay / direct)", f"{ratio:.2f}", "≥ 0.9", ratio >= 0.9))
        figures.append(Figure("paths", "keystroke p50 overhead b−c", f"{added:.3f} ms", "≤ 0.2 ms", added <= 0.2))
        figures.append(Figure("paths", "keystroke p99 overhead b−c", f"{added99:.3f} ms", "≤ 1 ms", added99 <= 1))
    if "b" in which:
        b_cpu = statistics.median(cpu["b"])
        figures.append(Figure("paths", "Jupyter server CPU per 100 MB relayed (b)", f"{b_cpu:.2f} s", "≤ 0.5 s",
                              b_cpu <= 0.5))  # fmt: skip
    for p in "ab":
        if p in which:
            figures.append(Figure("paths", f"command at the prompt p99 ({p})", f"{line_p99[p]:.3f} ms", "≤ 1 ms",
                                  line_p99[p] <= 1))  # fmt: skip
    if "a" in which and "c" in which:
        ratio = med["a"] / med["c"]
        figures.append(Figure("paths", "throughput a/c (local shell / direct ttyd)", f"{ratio:.2f}", "≥ 0.9",
                              ratio >= 0.9))  # fmt: skip
    if "b" in which and "d" in which:
        ratio = med["b"] / med["d"]
        figures.append(Figure("paths", "throughput b/d (relay / jupyter-server-proxy)", f"{ratio:.2f}", "≥ 2",
                              ratio >= 2))  # fmt: skip
        figures.append(Figure("paths", "keystroke p50 b vs d", f"{p50['b']:.3f} vs {p50['d']:.3f} ms"))
        figures.append(Figure("paths", "command at a prompt p50 b vs d (d / b)",
                              f"{line_p50['b']:.3f} vs {line_p50['d']:.3f} ms "
                              f"({line_p50['d'] / line_p50['b']:.0f}×)"))  # fmt: skip
        b_cpu, d_cpu = statistics.median(cpu["b"]), statistics.median(cpu["d"])
        ratio_text = f"{d_cpu / b_cpu:.2f}" if b_cpu else "–"  # CPU time comes in 10 ms ticks: a tiny run reads 0
        figures.append(Figure("paths", "Jupyter server CPU per MB relayed, d / b",
                              f"{ratio_text} ({d_cpu:.2f} vs {b_cpu:.2f} s per 100 MB)"))  # fmt: skip
    if "a" in which:
        floor = ws[0] + raw[0]
        figures.append(Figure("paths", "keystroke p50 overhead a−floor (bare WebSocket + bare PTY)",
                              f"{p50['a'] - floor:.3f} ms"))  # fmt: skip
        figures.append(Figure("paths", "throughput a / bare PTY", f"{med['a'] / statistics.median(floor_mbps):.2f}"))
    table.notes.append(
        placement.describe(
            "the pod (ttyd, bash, cat), the local backend's server (a) and its shell",
            "the measuring client and the relaying server (b, d)",
        )
    )
    table.notes += [f.note for f in figures]
    finish(options.json, figures, table, *profiled)


def parser() -> argparse.ArgumentParser:
    parser = command_line(__doc__)
    terminal_options(parser, size_mb=100, keystrokes=2000, rounds=3)
    parser.add_argument("--paths", default="abcd", help="which of the paths a, b, c, d (default abcd)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the servers during (a), (b), (d); recordings here")
    return parser


if __name__ == "__main__":
    run(main, parser(), pin=True)
