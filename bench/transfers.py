"""Files through a shell's terminal (trzsz): the transfers route's MB/s against ``cat`` of the same bytes.

    python -m bench.transfers [--size-mb 100] [--rounds 2] [--paths relay,local] [--profile DIR] [--json FILE]

Two shells, each measured the same way, taking turns ``--rounds`` times:
  relay: a cluster shell, as bench/cluster.py starts it: the tests' real control plane and node (the
         pod runs the real ttyd 1.7.7 and the shell image's trz/tsz), the chart's operator, and a
         Jupyter server on the Kubernetes backend with the documented Role, relaying the terminal
         through the API server's service proxy (connect_via=apiserver);
  local: a local shell (local backend), the venv's trz/tsz on its PATH.
For each:
  - upload: ``POST /cloudtty/api/shells/<name>/transfers`` of an N MB file of random bytes in the
    Jupyter root to a folder in the shell, from the request until its ``done`` line;
  - download: the same route for an N MB file of random bytes made in the shell, into the Jupyter root;
  - cat: ``stty -echo; exec cat`` of that file through the same terminal, as bench/relay.py measures
    output: bytes received per second. What the terminal itself carries, the bound of any protocol
    through it.
  - a 1 KB file each way: the seconds a small file takes, which are all setup (trz/tsz typed and
    started, the peer process started, the protocol's handshake).
MB/s are of the file's bytes (10**6). CPU seconds per 100 MB: the Jupyter server's own, its peer's (the
process each transfer starts for trzsz's protocol: server/trzsz_peer.py; the server's finished
children's time), and the shell side's trz or tsz (its bash's finished children's time, the process
found while it runs). With ``--profile DIR``, py-spy samples both trzsz ends during one upload and one
download of each shell first (not counted in the figures). Nothing is pinned: the cluster's node is
this machine, and the two trzsz ends, which work hardest, are processes the scheduler spreads over
the cores. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import psutil

from bench.cluster import NS
from bench.hotpath import RATE, py_spy, settled
from bench.relay import SHELL, TOKEN, throughput
from bench.report import Figure, Table, command_line, finish, load_note, run
from jupyter_cloudtty.cloudshell.crd import crd_yaml
from jupyter_cloudtty.server.transfers import SETTLE_SECONDS
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controlplane import ControlPlane
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.kubelet import Kubelet
from tests.harness.servers import JupyterProcess
from tests.harness.shells_on_cluster import server as cluster_server
from tests.harness.transfers import post_transfer

PATHS = {"relay": "relayed cluster shell (connect_via=apiserver)", "local": "local shell"}
DIRECTIONS = ("upload", "download", "cat")
MB = 1_000_000
SMALL = 1000  # bytes: the small file, each way
PEER = "jupyter_cloudtty.server.trzsz_peer"


async def transfer(server: JupyterProcess, name: str, body: dict) -> dict:
    """``POST .../transfers`` read to its end: the last NDJSON line (``done``), else a RuntimeError."""
    status, events = await post_transfer(f"http://127.0.0.1:{server.port}", server.headers, name, body, 3600)
    if status != 200 or not events or events[-1].get("event") != "done":
        raise RuntimeError(f"transfer {body} did not finish: {status} {events[-1:]!r}")
    return events[-1]


def server_cpu(server: JupyterProcess) -> tuple[float, float]:
    """CPU seconds of the Jupyter server, and of its children that have ended (each transfer's peer)."""
    assert server.process is not None
    times = psutil.Process(server.process.pid).cpu_times()
    return times.user + times.system, times.children_user + times.children_system


def named(name: str) -> Callable[[list[str]], bool]:
    """Whether a command line runs ``name``: a program, a script (``python3 [-I] trz``) or a module (``-m``)."""
    return lambda argv: any(Path(arg).name == name for arg in argv[:3])


async def descendant(match: Callable[[list[str]], bool]) -> psutil.Process:
    """The first process under this one whose command line ``match``es, once it runs (a local shell's and the
    pod's processes are this machine's, under this one: the server and the node are its children)."""
    me = psutil.Process()
    while True:
        for process in me.children(recursive=True):
            try:
                if match(process.cmdline()):
                    return process
            except psutil.Error:
                continue
        await asyncio.sleep(0.02)


class ShellSide:
    """The CPU seconds of the trz or tsz a transfer runs in the shell. Found while it runs; its bash counts
    its time once it has ended (finished children's time), which is read after the transfer."""

    def __init__(self, tool: str):
        self.found: tuple[psutil.Process, psutil.Process, float] | None = None  # (tool, its bash, bash's before)
        self._looking = asyncio.ensure_future(self._look(tool))

    async def _look(self, tool: str) -> None:
        while self.found is None:
            process = await descendant(named(tool))
            try:
                bash = process.parent()
                if bash is not None:
                    times = bash.cpu_times()
                    self.found = (process, bash, times.children_user + times.children_system)
            except psutil.Error:
                continue

    async def seconds(self) -> float | None:
        """Once the transfer is done: the tool's CPU seconds (None if it was never seen)."""
        self._looking.cancel()
        if self.found is None:
            return None
        tool, bash, before = self.found
        await asyncio.to_thread(psutil.wait_procs, [tool], 30)  # it exits as its transfer ends
        times = bash.cpu_times()
        return times.children_user + times.children_system - before


class Spy:
    """py-spy on the first process ``match`` finds, from when it is found until it exits (--nonblocking: a
    paused trzsz end would miss its timeouts). Its samples are its busy ones: py-spy leaves idle threads out."""

    def __init__(self, match: Callable[[list[str]], bool], path: Path):
        self.path = path
        self.spy: asyncio.subprocess.Process | None = None
        self._attaching = asyncio.ensure_future(self._attach(match))

    async def _attach(self, match: Callable[[list[str]], bool]) -> None:
        binary = py_spy()
        if binary is None:
            return
        process = await descendant(match)
        self.spy = await asyncio.create_subprocess_exec(
            binary, "record", "--pid", str(process.pid), "--format", "raw", "--nolineno", "--nonblocking",
            "--rate", str(RATE), "--output", str(self.path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def table(self, title: str, limit: int = 8) -> Table:
        """Its functions with the most samples of their own, once it has exited."""
        self._attaching.cancel()
        if self.spy is not None:
            await self.spy.wait()
        table = Table(title, ["function (file)", "self %"])
        if not self.path.exists():
            why = "py-spy is not installed (pip install -e '.[bench]')" if py_spy() is None else "py-spy saw nothing"
            table.notes.append(f"no profile: {why}")
            return table
        own: Counter[str] = Counter()
        for line in self.path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            own[stack.split(";")[-1]] += int(count)
        busy = sum(own.values())
        for frame, n in own.most_common(limit):
            table.add(frame, f"{100 * n / busy:.1f}")
        table.notes.append(f"{busy} busy samples at {RATE}/s: {busy / RATE:.1f} s of CPU")
        return table


async def profiles(shell: Shell, path: str, directory: Path, size: int) -> list[Table]:
    """py-spy on both trzsz ends (the server's peer, the shell's trz or tsz: the local shell's, the same
    trzsz as the image's) during one upload and one download (not counted in the figures)."""
    tables = []
    for direction, tool in (("upload", "trz"), ("download", "tsz")):
        await settle()
        spies = {"the server's peer": Spy(named(PEER), directory / f"{path}-{direction}-peer.txt")}
        if path == "local":  # in a pod's PID namespace py-spy cannot tell a blocked thread from a busy one
            spies[f"the shell's {tool}"] = Spy(named(tool), directory / f"{path}-{direction}-{tool}.txt")
        start = time.perf_counter()
        await (shell.upload("upload.bin") if direction == "upload" else shell.download(shell.data))
        seconds = time.perf_counter() - start
        for end, spy in spies.items():
            tables.append(await spy.table(f"Profile of {end} during a {size / MB:g} MB {direction} ({PATHS[path]}, "
                                          f"{seconds:.1f} s)"))  # fmt: skip
    return tables


@dataclass
class Shell:
    """A shell to measure: its server, its name, where its files are, and how a fresh ``cat`` reaches it."""

    server: JupyterProcess
    root: Path  # the server's Jupyter root
    name: str
    data: str  # the N MB file in the shell, downloaded and cat-ed
    inbox: str  # the folder in the shell that uploads go to
    cat_terminal: Callable[[], Awaitable[TtydClient]]  # a terminal whose shell `exec cat` may end
    after_cat: Callable[[], Awaitable[None]]
    mbps: dict[str, list[float]] = field(default_factory=lambda: {d: [] for d in DIRECTIONS})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {d: [] for d in DIRECTIONS})
    peer_cpu: dict[str, list[float]] = field(default_factory=lambda: {d: [] for d in DIRECTIONS})
    shell_cpu: dict[str, list[float]] = field(default_factory=lambda: {d: [] for d in DIRECTIONS})
    small: dict[str, list[float]] = field(default_factory=lambda: {"upload": [], "download": []})

    async def upload(self, name: str) -> dict:
        return await transfer(self.server, self.name, {"direction": "upload", "paths": [name], "to": self.inbox})

    async def download(self, remote: str) -> dict:
        done = await transfer(self.server, self.name, {"direction": "download", "remote": [remote],
                                                       "to": "downloads"})  # fmt: skip
        for file in done["files"]:
            os.unlink(self.root / file["path"])
        return done

    async def cat(self) -> int:
        received, _ = await throughput(await self.cat_terminal(), Path(self.data))
        await self.after_cat()
        return received


async def made_in_shell(term: TtydClient, command: str) -> None:
    """Run ``command`` at the shell's prompt and wait until it has."""
    await term.send(f"{command}; echo MA''DE\r")
    await term.expect(rb"\rMADE\r\n", timeout=300)


async def settle() -> None:
    """Untimed: the server starts a transfer no sooner than SETTLE_SECONDS after the last one ended (trz/tsz
    drains its input as it ends). A transfer measured right after another would count that wait."""
    await asyncio.sleep(SETTLE_SECONDS)


async def one_round(shell: Shell) -> None:
    """Each direction once, then the small file each way."""
    for direction in DIRECTIONS:
        await settle()
        cpu, start = server_cpu(shell.server), time.perf_counter()
        side = ShellSide("trz" if direction == "upload" else "tsz") if direction != "cat" else None
        if direction == "upload":
            moved = (await shell.upload("upload.bin"))["bytes"]
        elif direction == "download":
            moved = (await shell.download(shell.data))["bytes"]
        else:
            moved = await shell.cat()
        seconds = time.perf_counter() - start
        shell.mbps[direction].append(moved / MB / seconds)
        (own, children), hundreds = server_cpu(shell.server), moved / 1e8
        shell.cpu[direction].append((own - cpu[0]) / hundreds)
        shell.peer_cpu[direction].append((children - cpu[1]) / hundreds)
        tool = await side.seconds() if side is not None else None
        if tool is not None:
            shell.shell_cpu[direction].append(tool / (moved / 1e8))
    for direction in ("upload", "download"):
        await settle()
        start = time.perf_counter()
        await (shell.upload("small.bin") if direction == "upload" else shell.download(f"{shell.inbox}/small.bin"))
        shell.small[direction].append(time.perf_counter() - start)


@asynccontextmanager
async def relayed(work: Path, root: Path, size: int) -> AsyncIterator[Shell]:
    """A cluster shell behind a Jupyter server's relay, its N MB file made in the pod's /tmp."""
    with ControlPlane(work / "cluster", crds=(crd_yaml(),)) as cluster, Kubelet(cluster, work / "node"):
        cluster.create_namespace(NS, timeout=60)
        with Installed(cluster, NS, work / "release"):
            kubeconfig = grant_documented_role(cluster, NS)
            async with cluster_server(NS, kubeconfig, root, owner="bench") as server:
                assert (await server.fetch("cloudtty/api/shells", "POST", {"name": "files"})).code == 201
                term = await server.terminal("files")  # waits for Ready
                await made_in_shell(term, f"head -c {size} /dev/urandom > /tmp/data; mkdir -p /tmp/inbox")
                await term.close()  # the relay keeps the shell's bash for the next client: the transfers
                assert server.process is not None
                await settled(server.process.pid)

                async def nothing() -> None:
                    return None

                # Each ttyd connection is a bash of its own: `exec cat` ends this one's, the next gets another.
                yield Shell(server, root, "files", "/tmp/data", "/tmp/inbox", lambda: server.terminal("files"),
                            nothing)  # fmt: skip


@asynccontextmanager
async def local(work: Path, root: Path, size: int) -> AsyncIterator[Shell]:
    """A local shell (the venv's trz/tsz), its N MB file in a folder outside the Jupyter root."""
    outside = work / "local-shell"
    (outside / "inbox").mkdir(parents=True)
    random_file(outside / "data", size)
    args = ("--CloudTTY.backend=local", *(f"--CloudTTY.shell_command={arg}" for arg in SHELL))
    async with JupyterProcess("jupyter_server", root, TOKEN, args) as server:
        assert (await server.fetch("cloudtty/api/shells", "POST", {"name": "files"})).code == 201
        assert server.process is not None
        await settled(server.process.pid)
        made: list[str] = []

        async def cat_terminal() -> TtydClient:
            # `exec cat` ends a local shell: each cat gets a shell of its own, deleted after
            response = await server.fetch("cloudtty/api/shells", "POST", {})
            made.append(json.loads(response.body)["name"])
            return await server.terminal(made[-1])

        async def after_cat() -> None:
            await server.fetch(f"cloudtty/api/shells/{made.pop()}", "DELETE")

        yield Shell(server, root, "files", str(outside / "data"), str(outside / "inbox"), cat_terminal, after_cat)


def random_file(path: Path, size: int) -> None:
    """``size`` random bytes: nothing on the way compresses them, and every byte value occurs (trzsz escapes some)."""
    with path.open("wb") as file:
        for _ in range(size // MB):
            file.write(os.urandom(MB))
        file.write(os.urandom(size % MB))


async def main(options: argparse.Namespace) -> None:
    which = [p.strip() for p in options.paths.split(",") if p.strip() in PATHS]
    size = int(options.size_mb * MB)
    shells: dict[str, Shell] = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-transfers-") as tmp:
        work = Path(tmp)
        async with AsyncExitStack() as stack:
            for path in which:
                root = work / f"{path}-root"
                (root / "downloads").mkdir(parents=True)
                random_file(root / "upload.bin", size)
                random_file(root / "small.bin", SMALL)
                start = {"relay": relayed, "local": local}[path]
                shells[path] = await stack.enter_async_context(start(work, root, size))
            profiled = []
            if options.profile:
                Path(options.profile).mkdir(parents=True, exist_ok=True)
                for path, shell in shells.items():
                    profiled += await profiles(shell, path, Path(options.profile), size)
            for _ in range(options.rounds):
                for shell in shells.values():
                    await one_round(shell)

    table = Table(
        f"Files through a shell's terminal: a {size / MB:g} MB file of random bytes, {options.rounds} round(s); "
        "MB/s is the median of the rounds (min–max); ratio: to the same terminal's `cat` of the same bytes",
        ["path", "direction", "MB/s", "MB/s range", "ratio to cat", "server CPU s / 100 MB", "its peer's",
         "trz/tsz's", f"{SMALL / 1000:g} KB file, s"],
    )  # fmt: skip
    figures = []
    for path, shell in shells.items():
        cat = statistics.median(shell.mbps["cat"])
        for direction in DIRECTIONS:
            rates = shell.mbps[direction]
            median = statistics.median(rates)
            what = "cat (terminal output)" if direction == "cat" else f"{direction} (POST .../transfers)"
            tool = f"{statistics.median(shell.shell_cpu[direction]):.2f}" if shell.shell_cpu[direction] else "–"
            small = f"{statistics.median(shell.small[direction]):.2f}" if direction in shell.small else ""
            peer = f"{statistics.median(shell.peer_cpu[direction]):.2f}" if direction != "cat" else "–"
            table.add(PATHS[path], what, median, f"{min(rates):.1f}–{max(rates):.1f}", f"{median / cat:.2f}",
                      f"{statistics.median(shell.cpu[direction]):.2f}", peer, tool, small)  # fmt: skip
            if direction != "cat":
                figures.append(Figure("transfers", f"{path}: {direction} MB/s (ratio to cat)",
                                      f"{median:.1f} ({median / cat:.2f})"))  # fmt: skip
        figures.append(Figure("transfers", f"{path}: cat through the same terminal, MB/s", f"{cat:.1f}"))
        figures.append(Figure("transfers", f"{path}: a {SMALL / 1000:g} KB file up / down, s",
                              " / ".join(f"{statistics.median(shell.small[d]):.2f}" for d in shell.small)))  # fmt: skip
    table.notes.append(f"{load_note(load)}; nothing pinned")
    finish(options.json, figures, table, *profiled)


def parser() -> argparse.ArgumentParser:
    parser = command_line(__doc__)
    # The defaults keep a run near 2 minutes on 2 cores (an upload moves ~11 MB/s; the cluster takes ~25 s).
    parser.add_argument("--size-mb", type=float, default=100, help="MB of each file moved (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="turns each shell takes (default 2)")
    parser.add_argument("--paths", default="relay,local", help="which shells: relay, local (default both)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy both trzsz ends during one upload and one download "
                        "of each shell first (not counted); recordings here")  # fmt: skip
    return parser


if __name__ == "__main__":
    run(main, parser())
