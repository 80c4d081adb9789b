"""API requests the operator makes over one shell's lifecycle, on kmock's emulator.

    python bench/operator_requests.py

Creates a NodePort shell, plays the other controllers until it is Ready, keeps it in a steady
state through a few kubelet status reports, completes its Job, and prints the operator's
reads and writes per phase (kopf's own watch streams and discovery are not counted).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from tests.emulator import WRITES, Api  # noqa: E402
from tests.integration.test_operator import NS, Running, cloudshell, ready_endpoint, run_pod, wait_phase  # noqa: E402


def operator_requests(api: Api) -> list[tuple[str, str]]:
    """(method, resource path without names) of the operator's own requests so far."""
    out = []
    for r in api.k8s:
        agent = r.headers.get("User-Agent", "")
        if agent.startswith("kmock/") or r.params.get("watch") == "true":
            continue
        parts = r.url.path.split("/")
        kind = next((p for p in reversed(parts) if p in KINDS), r.url.path)
        out.append((r.method.upper(), kind + ("/status" if r.url.path.endswith("/status") else "")))
    return out


KINDS = {"cloudshells", "jobs", "services", "pods", "endpointslices", "serviceaccounts", "rolebindings", "nodes",
         "events"}  # fmt: skip


async def main() -> None:
    async with Running() as api:
        phases = []
        mark = 0

        def record(label: str) -> None:
            nonlocal mark
            requests = [r for r in operator_requests(api) if r[1] in KINDS or r[1].endswith("/status")][mark:]
            mark += len(requests)
            writes = Counter(f"{m} {k}" for m, k in requests if m in WRITES)
            reads = sum(1 for m, _ in requests if m not in WRITES)
            phases.append((label, reads, sum(writes.values()), ", ".join(f"{n}× {w}" for w, n in writes.items())))

        await api.create(cloudshell())
        await wait_phase(api, "CreatedRouteRule")
        record("create -> CreatedRouteRule")
        service = await api.get("Service", NS, "cloudshell-s1")
        await api.patch(
            "Service", NS, "cloudshell-s1", {"spec": {"ports": [{**service["spec"]["ports"][0], "nodePort": 31234}]}}
        )
        await run_pod(api)
        await ready_endpoint(api)
        await wait_phase(api, "Ready")
        record("pod + endpoint -> Ready")
        for _ in range(3):
            pod = await api.get("Pod", NS, "cloudshell-s1-x7k2p")
            await api.patch("Pod", NS, "cloudshell-s1-x7k2p", {"status": pod["status"]}, "status")
        await asyncio.sleep(1)  # a benchmark may wait: nothing here asserts
        record("3 kubelet reports (steady)")
        await api.patch("Job", NS, "cloudshell-s1", {"status": {"succeeded": 1}}, "status")
        await wait_phase(api, "Complete")
        await asyncio.sleep(0.5)
        record("Job succeeded -> Complete")

    print(f"{'step':30} {'reads':>6} {'writes':>7}  writes")
    for label, reads, writes, detail in phases:
        print(f"{label:30} {reads:6} {writes:7}  {detail}")
    print(f"{'whole lifecycle':30} {sum(p[1] for p in phases):6} {sum(p[2] for p in phases):7}")


if __name__ == "__main__":
    asyncio.run(main())
