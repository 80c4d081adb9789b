"""Every benchmark, one after the other, then one summary table against the issue's goals.

    python -m bench                      # the full suite (a few minutes on 2 cores)
    python -m bench --quick              # a smoke run: tiny sizes, all at once, meaningless figures
    python -m bench --only paths,magics  # some of: paths (alias throughput, latency), terminal,
                                         # newshell, pageload, concurrency, operator, magics, transfers, recorder
    python -m bench --profile [DIR]      # py-spy the Jupyter servers too (bench/hotpath.py)

Each benchmark runs as its own process (its module in bench/, which runs alone too: ``python -m
bench.relay``, from the repository's root); its tables are printed as it ends, its headline figures
go into the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import Figure, Table, read_figures

ROOT = Path(__file__).resolve().parents[1]  # `python -m bench.<module>` runs from here
ALIASES = {"throughput": "paths", "latency": "paths", "magic": "magics", "kubectl": "magics", "files": "transfers"}


@dataclass
class Benchmark:
    name: str
    module: str  # bench.<module>
    what: str


BENCHMARKS = [
    Benchmark("paths", "relay", "throughput and keystroke latency: (a) local, (b) relay, (c) direct, (d) proxy"),
    Benchmark("terminal", "terminal", "a local shell next to a raw PTY and JupyterLab's terminado"),
    Benchmark("newshell", "newshell", "a new shell's first prompt in Chromium: a local shell vs JupyterLab's terminal"),
    Benchmark("pageload", "pageload", "what the JupyterLab extension adds to the page's load and its first terminal"),
    Benchmark("concurrency", "concurrency", "N shells streaming at once, local and relayed: MB/s, CPU, RSS"),
    Benchmark(
        "operator",
        "cluster",
        "on the real control plane: the operator's API requests, shells to Ready, terminals through the API server",
    ),  # fmt: skip
    Benchmark("magics", "kubectl_get", "%kubectl get pods vs the kubectl binary"),
    Benchmark("transfers", "transfers", "files through a relayed and a local shell's terminal (trzsz) vs `cat`"),
    Benchmark("recorder", "recorder", "a recorded shell's pod: ttyd behind the recorder vs ttyd directly"),
]


def arguments(name: str, options: argparse.Namespace, profile: Path | None) -> list[str]:
    """The script's command line for this run."""
    quick = options.quick
    size = str(options.size_mb or (2 if quick else 100))
    keys = str(options.keystrokes or (100 if quick else 2000))
    if name == "paths":
        args = ["--size-mb", size, "--keystrokes", keys, "--rounds", str(options.rounds or (1 if quick else 3))]
        return args + (["--profile", str(profile / "paths")] if profile else [])
    if name == "terminal":
        return ["--size-mb", size, "--keystrokes", keys]
    if name in ("newshell", "pageload"):
        return ["--runs", str(options.rounds or (1 if quick else 5))]
    if name == "concurrency":
        sessions = options.sessions or ("1,10" if quick else "1,10,50,200")
        args = ["--sessions", sessions, "--size-mb", str(options.size_mb or (4 if quick else 200))]
        args += ["--rounds", str(options.rounds or (1 if quick else 2))]
        return args + (["--profile", str(profile / "concurrency")] if profile else [])
    if name == "operator":
        shells = options.shells if options.shells is not None else (5 if quick else 200)
        if quick:
            return ["--shells", str(shells), "--samples", "0", "--steady-seconds", "1", "--size-mb", "1",
                    "--keystrokes", "20", "--rounds", "1", "--starts", "2", "--burst", "3"]  # fmt: skip
        return ["--shells", str(shells), "--size-mb", str(options.size_mb or 50), "--keystrokes", keys,
                "--rounds", str(options.rounds or 3)]  # fmt: skip
    if name == "magics":
        return ["--runs", "2" if quick else "30"]
    if name == "transfers":
        size, rounds = options.size_mb or (2 if quick else 100), options.rounds or (1 if quick else 2)
        args = ["--size-mb", str(size), "--rounds", str(rounds)]
        return args + (["--profile", str(profile / "transfers")] if profile else [])
    if name == "recorder":
        return ["--size-mb", size, "--keystrokes", keys, "--rounds", str(options.rounds or (1 if quick else 3))]
    raise ValueError(name)


@dataclass
class Run:
    benchmark: Benchmark
    status: int
    seconds: float
    output: str
    errors: str
    figures: list[Figure]


async def run(benchmark: Benchmark, args: list[str], work: Path) -> Run:
    figures = work / f"{benchmark.name}.json"
    argv = [sys.executable, "-m", f"bench.{benchmark.module}", *args, "--json", str(figures)]
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    output, errors = await process.communicate()
    assert process.returncode is not None
    return Run(benchmark, process.returncode, time.perf_counter() - start, output.decode(), errors.decode(),
               read_figures(figures))  # fmt: skip


def show(result: Run) -> None:
    b = result.benchmark
    print(f"\n## {b.name}: {b.what} (`python -m bench.{b.module}`, {result.seconds:.0f} s)", flush=True)
    print(result.output.rstrip(), flush=True)
    if result.status != 0:
        print(f"\n{b.name} FAILED (exit status {result.status}):\n" + "\n".join(result.errors.splitlines()[-25:]))


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


async def main(options: argparse.Namespace) -> int:
    names = [ALIASES.get(n.strip(), n.strip()) for n in options.only.split(",")] if options.only else None
    unknown = set(names or ()) - {b.name for b in BENCHMARKS}
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from "
              f"{', '.join(b.name for b in BENCHMARKS)} (or throughput, latency)", file=sys.stderr)  # fmt: skip
        return 2
    chosen = [b for b in BENCHMARKS if names is None or b.name in names]
    profile = None
    if options.profile is not None:
        profile = Path(options.profile or tempfile.mkdtemp(prefix="bench-profiles-"))
    print(f"# jupyter-cloudtty benchmarks{' (--quick: smoke sizes, figures mean nothing)' if options.quick else ''}")
    print(f"machine at the start: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        jobs = [run(b, arguments(b.name, options, profile), work) for b in chosen]
        if options.quick:  # all at once: a smoke run's figures mean nothing anyway
            results = await asyncio.gather(*jobs)
            for result in results:
                show(result)
        else:
            results = []
            for job in jobs:
                results.append(await job)
                show(results[-1])

    summary = Table("# Summary", ["benchmark", "figure", "value", "goal", ""])
    for result in results:
        for figure in result.figures:
            summary.add(figure.benchmark, figure.figure, figure.value, figure.goal, figure.verdict)
        if result.status != 0:
            summary.add(result.benchmark.name, "FAILED", f"exit status {result.status}", "", "")
    summary.notes.append(f"machine at the end: {machine()}; {sum(r.seconds for r in results):.0f} s of benchmarks")
    if profile:
        summary.notes.append(f"py-spy recordings (collapsed stacks; speedscope.app opens them): {profile}")
    summary.print()
    return 1 if any(r.status != 0 for r in results) else 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, benchmarks run at once")
    parser.add_argument("--only", help="comma-separated: paths (or throughput, latency), terminal, newshell, "
                        "concurrency, operator, magics, transfers (or files), recorder")  # fmt: skip
    parser.add_argument("--size-mb", type=float, help="MB of output per transfer (paths, terminal, recorder), per "
                        "concurrency level (default 100; 200 for concurrency) and per file (transfers)")  # fmt: skip
    parser.add_argument("--keystrokes", type=int, help="keystrokes timed per path and round (default 2000)")
    parser.add_argument("--rounds", type=int, help="turns each path takes (default 3; 2 for transfers), runs of "
                        "each concurrency level (default 2), new terminals of each kind (default 5)")  # fmt: skip
    parser.add_argument("--sessions", help="concurrency levels (default 1,10,50,200)")
    parser.add_argument("--shells", type=int, help="CloudShells for the operator's steady state (default 200)")
    parser.add_argument("--profile", nargs="?", const="", metavar="DIR",
                        help="py-spy the Jupyter servers of the paths and concurrency runs (and both trzsz ends of "
                        "the transfers run); recordings go to DIR "
                        "(default: a new temporary directory)")  # fmt: skip
    return parser


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parser().parse_args())))
