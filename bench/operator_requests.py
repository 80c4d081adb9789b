"""The operator's API requests: over one shell's lifecycle, and with many shells settled; how soon it sees Ready.

    python -m bench.operator_requests [--shells 1000] [--samples 50] [--steady-seconds 30] [--json FILE]

On kmock's emulator (tests/harness/emulator.py), with the operator run by kopf as the tests run it
(tests/harness/controllers.py's Running), this script plays the other controllers (the Job
controller's pod, the kubelet's Ready, the EndpointSlice controller, the API server's NodePort):
  1. one NodePort shell from creation to Complete: the operator's reads and writes per phase;
  2. ``--shells`` shells made Ready (``--samples`` of them one at a time, last, timing pod Ready →
     CloudShell Ready with the shell's EndpointSlice already ready: the operator's own reaction,
     seen through a watch), then the operator left alone for ``--steady-seconds`` (settled: no
     writes expected), then restarted (kopf's resume: it lists each kind it indexes again, and every
     shell's daemon makes a pass, from the indexes: what a resync costs).
kopf's watch streams and discovery are not counted; its listings are (reads). Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.report import Figure, Table, percentiles, write_figures
from tests.harness.controllers import NS, Running, cloudshell, ready_endpoint, run_pod, wait_phase
from tests.harness.emulator import WRITES, Api, path

KINDS = {"cloudshells", "jobs", "services", "pods", "endpointslices", "serviceaccounts", "rolebindings", "nodes",
         "events"}  # fmt: skip
KEEP = 24  # requests kmock keeps in its history (see Tally): more than are ever in flight at once


def classify(requests: list[Any]) -> list[tuple[str, str]]:
    """(method, resource path without names) of the operator's own requests among kmock's."""
    out = []
    for r in requests:
        agent = r.headers.get("User-Agent", "")
        if agent.startswith("kmock/") or r.params.get("watch") == "true":
            continue  # this script's own calls, and kopf's watch streams
        parts = r.url.path.split("/")
        kind = next((p for p in reversed(parts) if p in KINDS), r.url.path)
        kind += "/status" if r.url.path.endswith("/status") else ""
        if kind.split("/")[0] in KINDS:
            out.append((r.method.upper(), kind))
    return out


class Tally:
    """The operator's requests, counted as they come, while kmock's own record of them stays short.

    kmock looks each new request up in its whole history before answering it (a linear scan per
    reaction), so the 10^5 requests of a thousand shells would slow every answer to a crawl. Here
    its history (a private list: a benchmark's liberty, never a test's) keeps only the requests
    that may still be in flight, newest first, and each request is counted as it arrives.
    """

    def __init__(self, api: Api):
        self.counted: list[tuple[str, str]] = []
        self.last_request = time.perf_counter()
        api.k8s._requests = _History(self, api.k8s._requests)

    def so_far(self) -> list[tuple[str, str]]:
        return list(self.counted)

    async def quiet(self, since: float, seconds: float = 2, timeout: float = 1800, expect: bool = True) -> float:
        """Wait until the operator, having sent something after ``since`` (unless not ``expect``ed),
        has sent nothing for ``seconds``. Returns when its last request came."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            began = self.last_request > since or not expect
            if began and time.perf_counter() - max(self.last_request, since) >= seconds:
                break
            await asyncio.sleep(0.2)
        return self.last_request


class _History(list):
    def __init__(self, tally: Tally, requests: list[Any]):
        super().__init__(requests[-KEEP:])
        self.tally = tally
        tally.counted += classify(requests)

    def append(self, request: Any) -> None:
        mine = classify([request])
        if mine:
            self.tally.counted += mine
            self.tally.last_request = time.perf_counter()
        super().append(request)
        del self[:-KEEP]

    def __iter__(self):  # the newest first: kmock looks for the request it has just received
        return super().__reversed__()


def reads_writes(requests: list[tuple[str, str]]) -> tuple[int, int, Counter[str]]:
    writes = Counter(f"{m} {k}" for m, k in requests if m in WRITES)
    return len(requests) - sum(writes.values()), sum(writes.values()), writes


class Phases:
    """Every CloudShell's phase, from a watch; when each phase was first seen."""

    def __init__(self, url: str):
        self.url = url
        self.seen: dict[tuple[str, str], float] = {}
        self._waiting: dict[tuple[str, str], asyncio.Future[float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            while True:  # again if the emulator ends the stream
                async with session.get(self.url + path("CloudShell", NS), params={"watch": "true"}) as response:
                    async for line in response.content:
                        shell = json.loads(line)["object"]
                        phase = (shell.get("status") or {}).get("phase")
                        key = (shell["metadata"]["name"], phase)
                        if phase and key not in self.seen:
                            self.seen[key] = time.perf_counter()
                            waiter = self._waiting.pop(key, None)
                            if waiter is not None and not waiter.done():
                                waiter.set_result(self.seen[key])

    async def reached(self, name: str, phase: str, timeout: float = 120) -> float:
        """When ``name`` was first seen in ``phase`` (waiting for it if need be)."""
        if (name, phase) in self.seen:
            return self.seen[(name, phase)]
        waiter = self._waiting.setdefault((name, phase), asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(waiter), timeout)

    async def __aenter__(self) -> Phases:
        self._task = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


# --- 1. one shell's lifecycle -------------------------------------------------------------------


async def lifecycle(api: Api, tally: Tally) -> Table:
    table = Table("Operator requests over one NodePort shell's lifecycle", ["step", "reads", "writes", "which writes"])
    await tally.quiet(time.perf_counter(), seconds=1, expect=False)  # kopf's first listings (its indexes) done
    mark, since = len(tally.counted), time.perf_counter()

    async def record(label: str, expect: bool = True) -> None:
        nonlocal mark, since
        await tally.quiet(since, seconds=1, expect=expect)  # kopf's own patches come after the handler's
        requests = tally.so_far()[mark:]
        mark, since = mark + len(requests), time.perf_counter()
        reads, count, writes = reads_writes(requests)
        table.add(label, reads, count, ", ".join(f"{n}× {w}" for w, n in writes.items()))

    await api.create(cloudshell())
    await wait_phase(api, "CreatedRouteRule")
    await record("create -> CreatedRouteRule")
    await allocate_node_port(api, "s1")
    await run_pod(api)
    await ready_endpoint(api)
    await wait_phase(api, "Ready")
    await record("pod + endpoint -> Ready")
    for _ in range(3):
        pod = await api.get("Pod", NS, "cloudshell-s1-x7k2p")
        await api.patch("Pod", NS, "cloudshell-s1-x7k2p", {"status": pod["status"]}, "status")
    await record("3 kubelet reports (steady)", expect=False)  # the operator may well send nothing
    await api.patch("Job", NS, "cloudshell-s1", {"status": {"succeeded": 1}}, "status")
    await wait_phase(api, "Complete")
    await record("Job succeeded -> Complete")
    table.add("whole lifecycle", sum(r[1] for r in table.rows), sum(r[2] for r in table.rows), "")
    since = time.perf_counter()
    await api.delete("CloudShell", NS, "s1")  # out of the way of what follows
    await tally.quiet(since, seconds=1, expect=False)
    return table


async def allocate_node_port(api: Api, name: str) -> None:
    """Play the API server: the NodePort Service gets its port."""
    service = await api.get("Service", NS, f"cloudshell-{name}")
    ports = [{**service["spec"]["ports"][0], "nodePort": 31234}]
    await api.patch("Service", NS, f"cloudshell-{name}", {"spec": {"ports": ports}})


# --- 2. many shells ---------------------------------------------------------------------------------


async def start(api: Api, phases: Phases, name: str, timed: bool = False) -> float | None:
    """Create a shell and play every other controller until it is Ready; with ``timed``, pod Ready → Ready."""
    await api.create(cloudshell(name))
    await phases.reached(name, "CreatedRouteRule")
    await allocate_node_port(api, name)
    await ready_endpoint(api, name)
    if not timed:
        await run_pod(api, name)
        await phases.reached(name, "Ready")
        return None
    await run_pod(api, name, ready=False)
    pod = f"cloudshell-{name}-x7k2p"
    start = time.perf_counter()
    await api.patch("Pod", NS, pod, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, "status")
    return await phases.reached(name, "Ready") - start


async def at_scale(
    api: Api, tally: Tally, shells: int, samples: int, steady: float, at_once: int
) -> tuple[Table, list[Figure]]:
    samples = min(samples, shells)
    table = Table(
        f"The operator with {shells} CloudShells on the emulator (kopf in a thread of the emulator's process)",
        ["phase", "seconds", "reads", "writes", "which writes"],
    )
    figures = []
    async with Phases(str(api.k8s.url)) as phases:
        mark = len(tally.counted)

        def record(label: str, seconds: float) -> tuple[int, int]:
            nonlocal mark
            requests = tally.counted[mark:]
            mark = len(tally.counted)
            reads, count, writes = reads_writes(requests)
            table.add(label, seconds, reads, count, ", ".join(f"{n}× {w}" for w, n in writes.most_common(4)))
            return reads, count

        begin = time.perf_counter()
        gate = asyncio.Semaphore(at_once)

        async def ramp(i: int) -> None:
            async with gate:
                await start(api, phases, f"m{i}")

        await asyncio.gather(*[ramp(i) for i in range(shells - samples)])
        latencies = [await start(api, phases, f"m{i}", timed=True) for i in range(shells - samples, shells)]
        ramped = await tally.quiet(begin) - begin
        reads, writes = record(f"{shells} shells created and made Ready ({at_once} at a time)", ramped)
        table.notes.append(f"per shell: {reads / shells:.1f} reads, {writes / shells:.1f} writes")

        begin = time.perf_counter()
        await asyncio.sleep(steady)
        reads, writes = record(f"settled, left alone for {steady:g} s", time.perf_counter() - begin)
        per_minute = 60 / steady
        figures.append(Figure("operator", f"steady state, {shells} shells: reads / writes per minute",
                              f"{reads * per_minute:.0f} / {writes * per_minute:.0f}", "~0 writes",
                              writes == 0))  # fmt: skip

        begin = time.perf_counter()
        assert api.operator is not None
        await api.operator.stop()
        await api.operator.start()
        resync = await tally.quiet(begin) - begin
        reads, writes = record("operator restarted (resume: every shell reconciled)", resync)
        figures.append(Figure("operator", f"a resync (operator restart), {shells} shells: reads / writes",
                              f"{reads} / {writes} in {resync:.1f} s", "~0 writes", writes == 0))  # fmt: skip
    if latencies:
        ms = [1000 * v for v in percentiles([v for v in latencies if v is not None])]
        table.notes.append(
            f"pod Ready → CloudShell Ready, {len(latencies)} shells one at a time among the others: "
            f"p50 {ms[0]:.0f} ms, p90 {ms[1]:.0f} ms, p99 {ms[2]:.0f} ms, max {1000 * max(latencies):.0f} ms"
        )
        figures.append(Figure("operator", f"pod Ready → CloudShell Ready, p50 / p99 ({len(latencies)} shells)",
                              f"{ms[0]:.0f} / {ms[2]:.0f} ms"))  # fmt: skip
    figures.insert(0, Figure("operator", f"{shells} shells made Ready on the emulator", f"{ramped:.0f} s"))
    return table, figures


async def main(options: argparse.Namespace) -> None:
    async with Running() as api:
        tally = Tally(api)
        one = await lifecycle(api, tally)
        one.print()
        total = one.rows[-1]
        lifecycle_figure = Figure("operator", "requests over one shell's lifecycle: reads / writes",
                                  f"{total[1]} / {total[2]}")  # fmt: skip
        figures = [lifecycle_figure]
        if options.shells:
            many, more = await at_scale(api, tally, options.shells, options.samples, options.steady_seconds,
                                        options.at_once)  # fmt: skip
            many.print()
            figures += more
    write_figures(options.json, figures)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shells", type=int, default=1000, help="shells for the steady state (default 1000; 0: none)")
    parser.add_argument("--samples", type=int, default=50, help="shells timed from pod Ready to Ready (default 50)")
    parser.add_argument("--steady-seconds", type=float, default=30, help="settled window (default 30)")
    parser.add_argument("--at-once", type=int, default=20, help="shells started at a time (default 20)")
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    return parser


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
