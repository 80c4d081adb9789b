"""`python -m bench --quick` runs every benchmark end to end and prints the summary table.

A smoke test of the suite's plumbing (servers, the real control plane, jupyter-server-proxy, kubectl,
the JSON figures); the figures themselves are never asserted (they depend on the machine). Each benchmark
also runs alone, as a module (``python -m bench.relay``), as docs/performance.md says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS

pytestmark = pytest.mark.slow  # every benchmark, end to end (about a minute)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module", [b.module for b in BENCHMARKS])
def test_each_benchmark_runs_alone_as_a_module(module):
    run = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("usage: "), run.stdout
    assert "--json" in run.stdout  # what `python -m bench` hands every one


@pytest.mark.timeout(300)  # every benchmark, two of them in a browser: ~105 s on the 2-core machine
def test_quick_run_prints_every_benchmark_and_the_summary():
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=280
    )
    failed = run.stdout.find("FAILED (exit status")  # a benchmark's own error output follows it
    assert run.returncode == 0, run.stdout[max(failed - 500, 0) : failed + 4000] + run.stderr[-3000:]
    tables, _, summary = run.stdout.partition("# Summary")
    for section in ("## paths", "## terminal", "## concurrency", "## operator", "## magics"):
        assert section in tables
    rows = [line.split("|")[1:-1] for line in summary.splitlines() if line.startswith("| ")]
    figures = {(cells[0].strip(), cells[1].strip()) for cells in rows}
    for benchmark, figure in [
        ("paths", "(a) local shell, server WebSocket: MB/s; keystroke p50"),
        ("paths", "(b) relay to ttyd (jupyter-cloudtty): MB/s; keystroke p50"),
        ("paths", "(c) ttyd directly: MB/s; keystroke p50"),
        ("paths", "(d) ttyd via jupyter-server-proxy: MB/s; keystroke p50"),
        ("paths", "throughput b/c (relay / direct)"),
        ("paths", "throughput b/d (relay / jupyter-server-proxy)"),
        ("paths", "keystroke p50 overhead b−c"),
        ("paths", "command at a prompt p50 b vs d (d / b)"),
        ("concurrency", "aggregate MB/s with 10 session(s)"),
        ("concurrency", "10 sessions' aggregate / 1's"),
        ("concurrency", "relayed: 10 sessions' aggregate / 1's"),
        ("concurrency", "relayed: server RSS per idle session"),
        ("operator", "requests over one shell's lifecycle: reads / writes"),
        ("operator", "steady state, 5 shells: reads / writes"),
        ("operator", "terminal, Jupyter server relay (connect_via=apiserver): MB/s; keystroke p50"),
        ("operator", "cold start: POST -> first prompt byte p50 / p95"),
        ("operator", "cold start: kubectl apply -> Ready p50 / p95"),
        ("operator", "pool hit: POST -> first prompt byte p50 / p95"),
        ("operator", "pool hit: kubectl apply -> Ready p50 / p95"),
        ("operator", "pool refill after 3 claims / 3 cold pods started"),
        ("operator", "pool pods not anyone's at most / maxPods"),
        ("magics", "`%kubectl get pods` vs the kubectl binary, p50 (20 pods)"),
        ("pageload", "the extension's bytes at JupyterLab's page load"),
        ("pageload", "the first terminal's bytes and time to prompt"),
    ]:
        assert (benchmark, figure) in figures, f"no {figure!r} in the summary:\n{summary}"
    assert "FAILED" not in summary
