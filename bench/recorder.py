"""The recorder's cost: a recorded shell's terminal (ttyd behind the recorder) next to ttyd's own.

    python -m bench.recorder [--size-mb 100] [--keystrokes 2000] [--rounds 3] [--no-pin] [--json FILE]

A recorded shell's pod runs ttyd on a UNIX socket and the recorder (jupyter_cloudtty/operator/recorder.py)
in front of it, on the pod's ttyd port, writing every frame to an asciicast file. Two pods of
tests/harness/pods.py (the real ttyd 1.7.7, a bash per connection), the file to cat in their home:
  (a) ttyd directly, on its pod's address and port (an unrecorded shell's pod);
  (b) ttyd on a UNIX socket in its pod's home, the recorder in front on that pod's address and port. The
      recorder runs on this machine's Python (as tests/integration/test_recorder.py runs it; in a pod it
      runs on the image's python3) and records to a temporary folder on this machine's disk;
  (b2) the same, the recorder moved to the measuring client's CPU (pinned runs only: see below).
Each is measured as bench/relay.py measures its paths, with our ttyd client:
  - throughput: ``stty -echo; exec cat FILE`` (base64 of random bytes), bytes received per second;
  - keystroke: ``stty -echo -icanon min 1; exec cat``, then one byte at a time until cat sends it back.
CPU seconds per 100 MB of output: the pod's (ttyd, and its bash and cat once reaped; the recorder for
(b)), and the recorder's alone; the recorder's CPU per keystroke; the recording's size per MB of output
(each recording is deleted once measured). The paths take turns, ``--rounds`` times, so a shared
machine's load falls on all of them alike.

Placement (``--no-pin`` to leave it to the scheduler), as bench/relay.py's: on a machine with 2 CPUs or
more the pods (ttyd, bash, cat) get the last CPU, and the recorder of (b) with them: a container of the
pod, on the pod's node. The measuring client (the Jupyter server's relay, or a browser) has the others.
On a node with cores to spare the recorder would have a core of its own: (b2) gives it the client's, to
tell what the recorder's CPU takes from ttyd's (b) from what its extra hop costs (b2). Prints a table;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import psutil

from bench.relay import SHELL, Placement, keystrokes, throughput
from bench.report import Figure, Table, command_line, finish, load_note, percentiles, run, terminal_options
from bench.terminal import ROOT, make_file
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.pods import HOME, PORT, SOCKET, Pod, socket_pod, ttyd_pod
from tests.harness.waiting import eventually

LABELS = {
    "a": "(a) ttyd directly",
    "b": "(b) ttyd behind the recorder (on the pod's CPU)",
    "b2": "(b2) the same, the recorder on the client's CPU",
}
KEYSTROKE_GOAL_MS = 0.5  # a keystroke through us costs under 0.5 ms more than direct ttyd
THROUGHPUT_GOAL = 0.9  # output flows at the direct link's MB/s (as bench/relay.py holds its relay)


@asynccontextmanager
async def recorder(pod: Pod, folder: Path, work: Path) -> AsyncIterator[psutil.Process]:
    """``python -m jupyter_cloudtty.operator.recorder`` on the pod's address and port, in front of its socket."""
    argv = [
        sys.executable, "-m", "jupyter_cloudtty.operator.recorder", "--listen", pod.address_ip,
        "--port", str(PORT), "--ttyd-socket", str(pod.home / SOCKET), "--folder", str(folder),
        "--shell", "bench", "--owner", "bench", "--termination-log", str(work / "termination-log"),
    ]  # fmt: skip
    with (work / "recorder.log").open("w") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    assert process.stdout is not None
    try:
        line = await asyncio.to_thread(process.stdout.readline)  # its first line says it listens
        if not line.startswith("recorder: "):
            raise RuntimeError(f"the recorder did not start:\n{(work / 'recorder.log').read_text()[-3000:]}")
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


def cpu_seconds(process: psutil.Process, children: bool = False) -> float:
    """User + system time of ``process``, and of its children that it has waited for if ``children``."""
    times = process.cpu_times()
    return times.user + times.system + (times.children_user + times.children_system if children else 0)


@dataclass
class Link:
    """One way to the shell, and the processes whose CPU it costs in the pod."""

    label: str
    url: str
    ttyd: psutil.Process  # its bash (cat, once exec'd) counts once ttyd has reaped it
    recorder: psutil.Process | None = None
    recorder_cpus: set[int] = field(default_factory=set)  # where the recorder runs for this path
    mbps: list[float] = field(default_factory=list)
    pod_cpu: list[float] = field(default_factory=list)  # CPU s per 100 MB: ttyd, bash, cat, the recorder
    keys: list[float] = field(default_factory=list)  # seconds
    recorder_cpu: list[float] = field(default_factory=list)  # the recorder's CPU s per 100 MB
    per_key: list[float] = field(default_factory=list)  # the recorder's CPU ms per keystroke
    size: list[float] = field(default_factory=list)  # recording bytes per byte of output

    def cpu(self) -> tuple[float, float]:
        """(the pod's CPU seconds so far, the recorder's)."""
        recorder = cpu_seconds(self.recorder) if self.recorder else 0.0
        return cpu_seconds(self.ttyd, children=True) + recorder, recorder

    async def idle(self) -> None:
        """Until ttyd has reaped the last connection's shell: its CPU time is then ttyd's children's."""

        async def reaped() -> bool:
            return not self.ttyd.children()

        await eventually(reaped, timeout=30, what="the shell's end")


def recordings(folder: Path) -> int:
    """Bytes of the recordings made since the last call; they are deleted (a round writes about its output)."""
    size = 0
    for cast in folder.glob("*.cast"):
        size += cast.stat().st_size
        cast.unlink()
    return size


async def measure(links: list[Link], file: Path, folder: Path, placement: Placement, count: int,
                  rounds: int) -> None:  # fmt: skip
    """Each path's throughput, then its keystrokes, taking turns ``rounds`` times."""
    for _ in range(rounds):
        for link in links:
            if link.recorder is not None:
                placement.put(link.recorder.pid, link.recorder_cpus)
            await link.idle()
            term = await TtydClient.connect(link.url)
            pod, recorder = link.cpu()
            received, elapsed = await throughput(term, file)
            await link.idle()
            hundreds = received / 1e8
            link.mbps.append(received / 1e6 / elapsed)
            pod_after, recorder_after = link.cpu()
            link.pod_cpu.append((pod_after - pod) / hundreds)
            if link.recorder is not None:  # the recording is closed before the client hears the end
                link.recorder_cpu.append((recorder_after - recorder) / hundreds)
                link.size.append(recordings(folder) / received)
            term = await TtydClient.connect(link.url)
            recorder = link.cpu()[1]
            link.keys += await keystrokes(term, count)
            if link.recorder is not None:
                link.per_key.append(1000 * (link.cpu()[1] - recorder) / count)
                recordings(folder)


async def main(options: argparse.Namespace) -> None:
    placement = Placement.make(options.pin)
    if placement.rest:
        os.sched_setaffinity(0, placement.rest)  # the measuring client
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        work = Path(tmp)
        home, folder = work / "home", work / "recordings"
        home.mkdir()
        file = make_file(home, options.size_mb)
        megabytes = file.stat().st_size / 1e6
        async with (
            ttyd_pod(SHELL, home=home, name="bench-direct") as direct,
            socket_pod(home, name="bench-recorded") as recorded,
        ):
            async with recorder(recorded, folder, work) as process:
                for pod in (direct, recorded):
                    assert pod.process is not None
                    placement.put(pod.process.pid, placement.node)
                behind = psutil.Process(recorded.ttyd_pid())
                links = [
                    Link(LABELS["a"], direct.url, psutil.Process(direct.ttyd_pid())),
                    Link(LABELS["b"], recorded.url, behind, process, placement.node),
                ]
                if placement.node:  # the same recorder, moved between measurements
                    links.append(Link(LABELS["b2"], recorded.url, behind, process, placement.rest))
                await measure(links, Path(HOME) / file.name, folder, placement, options.keystrokes, options.rounds)

    table = Table(
        f"ttyd directly and behind the recorder: `cat` of a {megabytes:.0f} MB file, {options.keystrokes} "
        f"keystrokes into `cat`, {options.rounds} round(s); MB/s is the median of the rounds (min–max)",
        ["path", "MB/s", "MB/s range", "pod CPU s / 100 MB", "keystroke p50 ms", "p90", "p99",
         "recorder CPU s / 100 MB", "recorder CPU ms / keystroke", "recording MB / MB of output"],
    )  # fmt: skip
    for link in links:
        own = [f"{statistics.median(v):.3f}" if v else "–" for v in (link.recorder_cpu, link.per_key, link.size)]
        table.add(link.label, statistics.median(link.mbps), f"{min(link.mbps):.1f}–{max(link.mbps):.1f}",
                  f"{statistics.median(link.pod_cpu):.2f}", *(1000 * v for v in percentiles(link.keys)),
                  *own)  # fmt: skip

    direct, recorded = links[0], links[1]
    mbps = {p.label: statistics.median(p.mbps) for p in links}
    p50 = {p.label: 1000 * percentiles(p.keys)[0] for p in links}
    p99 = {p.label: 1000 * percentiles(p.keys)[2] for p in links}
    a, b = direct.label, recorded.label
    ratio, added, added99 = mbps[b] / mbps[a], p50[b] - p50[a], p99[b] - p99[a]
    figures = [Figure("recorder", f"{p.label}: MB/s; keystroke p50", f"{mbps[p.label]:.1f} MB/s; {p50[p.label]:.3f} ms")
               for p in links]  # fmt: skip
    figures += [
        Figure("recorder", "keystroke p50 overhead b−a", f"{added:.3f} ms", f"< {KEYSTROKE_GOAL_MS} ms",
               added < KEYSTROKE_GOAL_MS),
        Figure("recorder", "keystroke p99 overhead b−a", f"{added99:.3f} ms"),
        Figure("recorder", "throughput b/a (recorded / direct)", f"{ratio:.2f}", f"≥ {THROUGHPUT_GOAL}",
               ratio >= THROUGHPUT_GOAL),
    ]  # fmt: skip
    if len(links) > 2:
        figures.append(Figure("recorder", "throughput b2/a (the recorder on the client's CPU)",
                              f"{mbps[links[2].label] / mbps[a]:.2f}"))  # fmt: skip
    figures += [
        Figure("recorder", "recorder CPU per 100 MB of output; per keystroke",
               f"{statistics.median(recorded.recorder_cpu):.2f} s; "
               f"{statistics.median(recorded.per_key):.3f} ms"),
        Figure("recorder", "recording size per MB of output", f"{statistics.median(recorded.size):.3f} MB"),
    ]  # fmt: skip
    table.notes.append(placement.describe("the pods (ttyd, bash, cat) and the recorder of (b)",
                                          "the measuring client and the recorder of (b2)"))  # fmt: skip
    table.notes.append(f"{load_note(load)}; recordings in {tempfile.gettempdir()}")
    table.notes += [f.note for f in figures]
    finish(options.json, figures, table)


def parser() -> argparse.ArgumentParser:
    parser = command_line(__doc__)
    terminal_options(parser, size_mb=100, keystrokes=2000, rounds=3)
    return parser


if __name__ == "__main__":
    run(main, parser(), pin=True)
