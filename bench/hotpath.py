"""Where a Jupyter server's time goes while a benchmark runs: py-spy samples of its process.

    async with Recording(server_pid, Path("relay-throughput.txt")) as recording:
        ...  # the measured run
    top(recording, "relay throughput").print()

py-spy attaches to the running process (ptrace: root, or kernel.yama.ptrace_scope=0, or
CAP_SYS_PTRACE; without, the table says why there is no profile) and samples it without pausing
it (--nonblocking): its samples in the event loop's epoll wait are counted as idle, the others
are where the CPU went. The recording is py-spy's "raw" format (collapsed stacks, one line per
stack with its count), which https://www.speedscope.app opens too. ``settled`` waits for a
freshly started server to go quiet before anything is measured.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

import psutil

from bench.report import Table

RATE = 200  # samples a second
IDLE = "EpollSelector.select (selectors.py)"  # the event loop waiting


async def settled(pid: int, below: float = 10, timeout: float = 30) -> None:
    """Wait until the process works less than ``below`` % of a core over half a second.

    A Jupyter server keeps busy for seconds after it starts (jupyter_lsp scans entry points on a
    thread): measuring then would charge that to the terminal.
    """
    process = psutil.Process(pid)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        before = sum(process.cpu_times()[:2])
        await asyncio.sleep(0.5)
        if (sum(process.cpu_times()[:2]) - before) / 0.5 * 100 < below:
            return


def py_spy() -> str | None:
    """The py-spy beside this Python (the bench extra installs it), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """py-spy recording ``pid`` into ``path`` for the duration of an ``async with``."""

    def __init__(self, pid: int, path: Path):
        self.pid = pid
        self.path = path
        self.process: asyncio.subprocess.Process | None = None
        self.error = ""
        self.seconds = 0.0
        self.cpu = 0.0  # % of one core the process used meanwhile

    async def __aenter__(self) -> Recording:
        self._start = asyncio.get_running_loop().time()
        self._cpu = sum(psutil.Process(self.pid).cpu_times()[:2])
        binary = py_spy()
        if binary is None:
            self.error = "py-spy is not installed (pip install -e '.[bench]')"
            return self
        argv = [binary, "record", "--pid", str(self.pid), "--format", "raw", "--nolineno", "--nonblocking",
                "--rate", str(RATE), "--output", str(self.path)]  # fmt: skip
        self.process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert self.process.stdout is not None
        # "py-spy> Sampling process 200 times a second. Press Control-C to exit." once attached.
        line = await self.process.stdout.readline()
        if b"Sampling" not in line:
            self.error = (line + await self.process.stdout.read()).decode(errors="replace").strip()
            await self.process.wait()
            self.process = None
        self._start = asyncio.get_running_loop().time()  # sampling from here
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.seconds = asyncio.get_running_loop().time() - self._start
        self.cpu = 100 * (sum(psutil.Process(self.pid).cpu_times()[:2]) - self._cpu) / self.seconds
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            output, _ = await self.process.communicate()
            if not self.path.exists():
                self.error = f"py-spy wrote nothing (exit status {self.process.returncode}): {output.decode().strip()}"


OWNERS = [
    ("jupyter_cloudtty/", "jupyter_cloudtty"),
    ("tornado/", "tornado"),
    ("asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("socket.py", "OS sockets"),
]


def category(frame: str) -> str:
    """Whose code a frame is: ours, tornado's, the event loop's (asyncio), or another's."""
    where = frame[frame.rfind("(") + 1 : -1]
    for prefix, name in OWNERS:
        if where.startswith(prefix):
            return name
    return where.split("/")[0]


def top(recording: Recording, title: str, limit: int = 14) -> Table:
    """The functions with the most samples of their own (self), as shares of the busy samples.

    py-spy's --nonblocking keeps the event loop's wait in epoll among the samples: those are
    counted as idle, not as work.
    """
    if recording.error:
        return Table(title, ["function (file)", "self %", "total %"], notes=[f"no profile: {recording.error}"])
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    busy = idle = 0
    for line in recording.path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        if frames[-1] == IDLE:
            idle += n
            continue
        busy += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    table = Table(title, ["function (file)", "self %", "total %"])
    for frame, n in own.most_common(limit):
        table.add(frame, f"{100 * n / busy:.1f}", f"{100 * total[frame] / busy:.1f}")
    by_whom: Counter[str] = Counter()
    for frame, n in own.items():
        by_whom[category(frame)] += n
    table.notes.append(
        f"{busy} busy samples, {idle} idle in epoll, over {recording.seconds:.1f} s; the server used "
        f"{recording.cpu:.0f}% of a core. Self time by whose code: "
        + ", ".join(f"{name} {100 * n / busy:.0f}%" for name, n in by_whom.most_common(6))
    )
    ours = [(f, n) for f, n in total.most_common() if category(f) == "jupyter_cloudtty"][:6]
    if ours:
        table.notes.append("Ours, with what they call: " + ", ".join(f"{f} {100 * n / busy:.0f}%" for f, n in ours))
    return table
