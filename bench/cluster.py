"""The operator and the relay on the real control plane: what the API server counts, and what a user waits for.

    python -m bench.cluster [--shells 200] [--samples 50] [--steady-seconds 30] [--size-mb 50]
                            [--keystrokes 1000] [--rounds 3] [--starts 50] [--json FILE]

Starts what the tests start (tests/harness/controlplane.py: etcd, kube-apiserver, kube-controller-
manager built from Go modules; tests/harness/kubelet.py: the node, running each pod's ttyd 1.7.7 in the
shell image's files), installs the Helm chart and runs its operator with the chart's ServiceAccount
(tests/harness/installed.py). Then:
  1. one NodePort shell from creation to deletion: the operator's reads and writes, as the API
     server's audit log records them (a warm operator: its watches already run);
  2. ``--shells`` shells applied at once with kubectl: seconds until all are Ready; pod Ready ->
     CloudShell Ready p50/p99 (both seen through watches: the operator's reaction plus the API
     server's round trips);
  3. ``--steady-seconds`` with nothing to do: the operator's requests (expected: none);
  4. the operator restarted: its requests until it is quiet again, and how long that takes;
  5. a shell's terminal three ways, taking turns ``--rounds`` times: ttyd at the pod's address
     directly, the API server's service proxy (as the admin), and a Jupyter server's relay
     (connect_via=apiserver: Jupyter server -> API server -> ttyd) with exactly the Role
     docs/administrators.md documents: ``cat`` of ``--size-mb`` MB (MB/s) and keystrokes into
     ``cat`` (round trip p50/p99);
  6. ``--starts`` shells started one after another, cold: ``POST /cloudtty/api/shells`` to the first
     byte of the prompt through the Jupyter server's relay (split at the CloudShell's Ready), and
     ``kubectl apply`` to Ready; p50/p95;
  7. the same from a warm pool of ``--burst`` pods (a release of its own), then ``--burst`` shells
     applied at once: all Ready, the pool refilled, the most pool pods at one time, against as many
     cold shells applied at once in a namespace without a pool.
Needs root (the node's pod addresses) and the control plane's binary (`python -m tests.harness.controlplane`
builds it). Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.relay import KEYS, throughput
from bench.report import Figure, Table, command_line, percentiles, run, terminal_options, write_figures
from bench.terminal import echo_times
from jupyter_cloudtty.cloudshell.crd import crd_yaml
from jupyter_cloudtty.cloudshell.names import POOL_LABEL, SHELL_LABEL
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controlplane import ControlPlane
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.kubelet import Api, Kubelet
from tests.harness.shells_on_cluster import pool_ready, token, unclaimed, watch_pods
from tests.harness.shells_on_cluster import server as jupyter_server
from tests.harness.shells_on_cluster import shell_terminal as proxied_terminal

NS = "bench"
READS, WRITES = {"get", "list"}, {"create", "update", "patch", "delete"}


async def keystrokes(term: TtydClient, count: int) -> list[float]:
    """Seconds for each of ``count`` bytes typed into ``cat`` to come back; then ``cat`` is ended.

    Through the relay a client's leaving only detaches it (the shell's process waits for it to come
    back), so the next measurement would meet this ``cat`` instead of a prompt: Ctrl-C ends it.
    """
    await term.send(KEYS)
    await term.expect(rb"\rREADY\r\n")
    samples = await echo_times(term, count)
    await term.send(b"\x03")
    await term.wait_closed(30)
    return samples


def shell(name: str, **spec: object) -> dict:
    return {"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
            "spec": {"exposureMode": "ClusterIP", **spec}}  # fmt: skip


def apply(cluster: ControlPlane, *shells: dict, namespace: str = NS) -> None:
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(shells)}),
    )  # fmt: skip


def requests(cluster: ControlPlane, user: str, since: int) -> tuple[int, int, Counter[str], int]:
    """(reads, writes, writes by verb and resource, the log's new end) of ``user`` since byte ``since``."""
    events, mark = cluster.audit(since)
    mine = [e for e in events if e["user"]["username"] == user and e["stage"] == "ResponseComplete"]
    writes = Counter(f"{e['verb']} {e['objectRef']['resource']}" for e in mine if e["verb"] in WRITES)
    return sum(e["verb"] in READS for e in mine), sum(writes.values()), writes, mark


class Seen:
    """When each pod first turned Ready and each CloudShell first reached Ready, seen through two watches."""

    def __init__(self, kubeconfig: Path, namespace: str = NS):
        self.namespace = namespace
        self.pod_ready: dict[str, float] = {}  # by shell name (the pod's job-name label, less "cloudshell-")
        self.shell_ready: dict[str, float] = {}
        self.failed: dict[str, str] = {}  # name -> why
        self.changed = threading.Condition()
        self._stopping = threading.Event()
        self._apis = [Api(kubeconfig), Api(kubeconfig)]
        self._threads = [
            threading.Thread(target=self._pods, daemon=True),
            threading.Thread(target=self._shells, daemon=True),
        ]

    def _record(self, into: dict[str, float], name: str) -> None:
        with self.changed:
            into.setdefault(name, time.perf_counter())
            self.changed.notify_all()

    def _pods(self) -> None:
        for event in self._apis[0].watch(f"/api/v1/namespaces/{self.namespace}/pods", {}, self._stopping):
            pod = event["object"]
            job = pod["metadata"].get("labels", {}).get("job-name", "")
            conditions = (pod.get("status") or {}).get("conditions") or []
            if job and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                self._record(self.pod_ready, job.removeprefix("cloudshell-"))

    def _shells(self) -> None:
        path = f"/apis/cloudshell.cloudtty.io/v1alpha1/namespaces/{self.namespace}/cloudshells"
        for event in self._apis[1].watch(path, {}, self._stopping):
            obj = event["object"]
            status = obj.get("status") or {}
            if status.get("phase") == "Ready":
                self._record(self.shell_ready, obj["metadata"]["name"])
            elif status.get("phase") == "Failed":  # a benchmark of shells that never come is no benchmark
                conditions = status.get("conditions") or [{}]
                self.failed.setdefault(obj["metadata"]["name"], conditions[-1].get("message", ""))
                with self.changed:
                    self.changed.notify_all()

    def wait_ready(self, names: list[str], timeout: float) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.failed or all(n in self.shell_ready for n in names), timeout):
                missing = [n for n in names if n not in self.shell_ready]
                raise TimeoutError(f"{len(missing)} shells not Ready within {timeout:g}s, e.g. {missing[:5]}")
            if self.failed:
                raise RuntimeError(f"{len(self.failed)} shells Failed, e.g. {next(iter(self.failed.items()))}")

    def __enter__(self) -> Seen:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        for api in self._apis:
            api.interrupt()


def lifecycle(cluster: ControlPlane, release: Installed, seen: Seen) -> tuple[Table, list[Figure]]:
    apply(cluster, shell("warm"))
    seen.wait_ready(["warm"], 120)
    _, _, _, mark = requests(cluster, release.operator_user, 0)
    apply(cluster, shell("one", exposureMode="NodePort", commandAction="bash", ttlSecondsAfterStarted=600))
    seen.wait_ready(["one"], 120)
    cluster.kubectl("delete", "cloudshell", "one", "-n", NS, "--timeout=120s")
    cluster.kubectl("wait", "--for=delete", "job/cloudshell-one", "service/cloudshell-one", "-n", NS, "--timeout=120s")
    reads, writes, by_kind, _ = requests(cluster, release.operator_user, mark)
    table = Table("One NodePort shell, created to deleted: the operator's requests (the API server's audit log)",
                  ["reads", "writes", "writes by verb and resource"])  # fmt: skip
    table.add(reads, writes, ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    return table, [Figure("operator", "requests over one shell's lifecycle: reads / writes", f"{reads} / {writes}",
                          "0 reads", reads == 0)]  # fmt: skip


def at_scale(
    cluster: ControlPlane, release: Installed, seen: Seen, options: argparse.Namespace
) -> tuple[Table, list[Figure]]:
    names = [f"s{i:04d}" for i in range(options.shells)]
    start = time.perf_counter()
    for i in range(0, len(names), 100):
        apply(cluster, *(shell(n) for n in names[i : i + 100]))
    seen.wait_ready(names, max(300, options.shells * 2))
    to_ready = time.perf_counter() - start
    delays = [seen.shell_ready[n] - seen.pod_ready[n] for n in names if n in seen.pod_ready]
    sample = delays[-options.samples :] if options.samples else delays
    p50, _, p99 = percentiles(sample)

    _, _, _, mark = requests(cluster, release.operator_user, 0)
    time.sleep(options.steady_seconds)  # the window itself is what is measured
    steady_reads, steady_writes, _, mark = requests(cluster, release.operator_user, mark)

    release.stop_operator()
    restart = datetime.datetime.now(datetime.timezone.utc)
    release.start_operator()
    last = (-1, -1)
    while True:  # until two seconds pass without a new request of the operator's
        time.sleep(2)
        reads, writes, _, _ = requests(cluster, release.operator_user, mark)
        if (reads, writes) == last and reads > 0:
            break
        last = (reads, writes)
    # From the restart to the new operator's last request, as the API server timed it.
    events, _ = cluster.audit(mark)
    ends = [e["stageTimestamp"] for e in events if e["user"]["username"] == release.operator_user]
    resync = (datetime.datetime.fromisoformat(max(ends).replace("Z", "+00:00")) - restart).total_seconds()

    table = Table(f"{options.shells} shells on the real control plane", ["figure", "value"])
    table.add("all Ready after kubectl apply", f"{to_ready:.1f} s")
    table.add(
        f"pod Ready -> CloudShell Ready p50 / p99 ({len(sample)} shells)", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms"
    )
    table.add(f"steady state, {options.steady_seconds:g} s: reads / writes", f"{steady_reads} / {steady_writes}")
    table.add(
        "operator restart: reads / writes until quiet",
        f"{last[0]} / {last[1]} (its last {resync:.1f} s after the restart)",
    )
    n = options.shells
    figures = [
        Figure("operator", f"{n} shells applied at once, all Ready", f"{to_ready:.1f} s"),
        Figure("operator", "pod Ready -> CloudShell Ready p50 / p99", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms"),
        Figure(
            "operator",
            f"steady state, {n} shells: reads / writes",
            f"{steady_reads} / {steady_writes}",
            "0 / 0",
            steady_reads == steady_writes == 0,
        ),  # fmt: skip
        Figure(
            "operator",
            f"operator restart, {n} shells: reads / writes",
            f"{last[0]} / {last[1]}",
            "0 writes",
            last[1] == 0,
        ),  # fmt: skip
    ]
    return table, figures


async def terminals(
    cluster: ControlPlane, kubeconfig: Path, options: argparse.Namespace, work: Path
) -> tuple[Table, list[Figure]]:
    """ttyd directly, through the API server's service proxy, and through a Jupyter server's relay
    (as ``kubeconfig``: the documented Role)."""
    async with jupyter_server(NS, kubeconfig, work / "jupyter", owner="bench") as server:
        assert (await server.fetch("cloudtty/api/shells", "POST", {"name": "relayed"})).code == 201
        first = await server.terminal("relayed")  # waits for Ready; the file to cat, in the pod's /tmp
        await first.send(f"head -c {int(options.size_mb * 750_000)} /dev/urandom | base64 > /tmp/data; echo MADE\r")
        await first.expect(r"\rMADE\r\n", timeout=120)
        await first.close()
        pod = json.loads(cluster.kubectl("get", "pods", "-n", NS, "-l", "job-name=cloudshell-relayed", "-o", "json"))
        direct = f"ws://{pod['items'][0]['status']['podIP']}:7681/{token(cluster, NS, 'relayed')}/ws"

        paths = {
            "ttyd at the pod's address, directly": lambda: TtydClient.connect(direct),
            "the API server's service proxy": lambda: proxied_terminal(cluster, NS, "relayed"),
            "Jupyter server relay (connect_via=apiserver)": lambda: server.terminal("relayed"),
        }
        rates: dict[str, list[float]] = {p: [] for p in paths}
        keys: dict[str, list[float]] = {p: [] for p in paths}
        for _ in range(options.rounds):
            for path, connect in paths.items():
                size, seconds = await throughput(await connect(), Path("/tmp/data"))
                rates[path].append(size / seconds / 1e6)
                keys[path] += await keystrokes(await connect(), options.keystrokes)
        await server.fetch("cloudtty/api/shells/relayed", "DELETE")

    table = Table(f"A shell's terminal three ways ({options.size_mb:g} MB cat, {options.keystrokes} keystrokes, "
                  f"{options.rounds} rounds)", ["path", "MB/s (best)", "keystroke p50", "keystroke p99"])  # fmt: skip
    figures = []
    for path in paths:
        p50, _, p99 = percentiles(keys[path])
        table.add(path, f"{max(rates[path]):.1f}", f"{p50 * 1000:.3f} ms", f"{p99 * 1000:.3f} ms")
        figures.append(Figure("operator", f"terminal, {path}: MB/s; keystroke p50",
                              f"{max(rates[path]):.1f}; {p50 * 1000:.3f} ms"))  # fmt: skip
    proxy, relay = (percentiles(keys[p])[0] for p in list(paths)[1:])  # what the Jupyter server's hop adds
    extra = relay - proxy
    figures.append(Figure("operator", "relay's keystroke p50 over the service proxy's", f"{extra * 1000:.3f} ms",
                          "<= 0.5 ms", extra <= 0.0005))  # fmt: skip
    return table, figures


async def startup(
    cluster: ControlPlane, seen: Seen, kubeconfig: Path, options: argparse.Namespace, work: Path
) -> tuple[Table, list[Figure]]:
    """What a user waits for, one shell after another (each deleted before the next): ``POST
    /cloudtty/api/shells`` to the first byte of the prompt in the terminal the Jupyter server relays
    (split at the CloudShell's Ready, seen through a watch), and ``kubectl apply`` to Ready."""
    posted, applied = [], []
    async with jupyter_server(NS, kubeconfig, work / "jupyter-startup", owner="bench") as server:
        for i in range(options.starts):
            name = f"start-{i}"
            start = time.perf_counter()
            assert (await server.fetch("cloudtty/api/shells", "POST", {"name": name})).code == 201
            term = await server.terminal(name)  # waits for Ready, then ttyd spawns the shell
            await term.expect(rb"\S", timeout=120)  # the prompt's first byte
            prompt = time.perf_counter()
            await term.close()
            posted.append((seen.shell_ready[name] - start, prompt - seen.shell_ready[name], prompt - start))
            await server.fetch(f"cloudtty/api/shells/{name}", "DELETE")
    for i in range(options.starts):
        name = f"applied-{i}"
        start = time.perf_counter()
        apply(cluster, shell(name))
        seen.wait_ready([name], 120)
        applied.append(seen.shell_ready[name] - start)
        cluster.kubectl("delete", "cloudshell", name, "-n", NS, "--wait=false")
    table = Table(f"A new shell, cold (a Job, a pod, ttyd's start): {options.starts} one after another",
                  ["from", "to", "p50", "p95", "max"])  # fmt: skip
    for what, to, samples in (
        ("POST /cloudtty/api/shells", "CloudShell Ready", [p[0] for p in posted]),
        ("CloudShell Ready", "the prompt's first byte, relayed", [p[1] for p in posted]),
        ("POST /cloudtty/api/shells", "the prompt's first byte, relayed", [p[2] for p in posted]),
        ("kubectl apply", "CloudShell Ready", applied),
    ):
        p50, p95 = _quantile(samples, 0.5), _quantile(samples, 0.95)
        table.add(what, to, f"{p50:.2f} s", f"{p95:.2f} s", f"{max(samples):.2f} s")
    total = [p[2] for p in posted]
    figures = [
        Figure(
            "operator",
            "cold start: POST -> first prompt byte p50 / p95",
            f"{_quantile(total, 0.5):.2f} / {_quantile(total, 0.95):.2f} s",
        ),  # fmt: skip
        Figure(
            "operator",
            "cold start: kubectl apply -> Ready p50 / p95",
            f"{_quantile(applied, 0.5):.2f} / {_quantile(applied, 0.95):.2f} s",
        ),  # fmt: skip
    ]
    return table, figures


POOLED, COLD = "benchpool", "benchcold"


async def warm_starts(
    cluster: ControlPlane, options: argparse.Namespace, work: Path
) -> tuple[list[Table], list[Figure]]:
    """The warm pool (a release of its own, so the figures above are a pool-less operator's): ``--starts``
    shells one after another through a Jupyter server and with kubectl, each once a pool pod is Ready
    (untimed), as above; then ``--burst`` shells applied at once in the pool's namespace (all Ready,
    and the pool refilled) and in a namespace without a pool (all Ready: the time it takes to start
    that many pods)."""
    size = max(3, options.burst)
    for namespace in (POOLED, COLD):
        cluster.create_namespace(namespace, timeout=60)
    kubeconfig = grant_documented_role(cluster, POOLED)
    values = {"namespaces": [COLD], "pool": {"namespaces": {POOLED: size}, "maxPods": size}}

    def full(pods: dict[str, dict]) -> bool:
        return len(pool_ready(pods)) == size

    with Installed(cluster, POOLED, work / "pool", values) as release, Seen(cluster.admin, POOLED) as seen:
        watch_pods(cluster, POOLED, POOL_LABEL, full, 300)
        posted, applied, hits = [], [], Counter()
        async with jupyter_server(POOLED, kubeconfig, work / "jupyter-pool", owner="bench") as server:
            for i in range(options.starts):
                name = f"warm-{i}"
                watch_pods(cluster, POOLED, POOL_LABEL, lambda pods: bool(pool_ready(pods)), 120)
                start = time.perf_counter()
                assert (await server.fetch("cloudtty/api/shells", "POST", {"name": name})).code == 201
                term = await server.terminal(name)
                await term.expect(rb"\S", timeout=120)
                prompt = time.perf_counter()
                await term.close()
                seen.wait_ready([name], 120)
                posted.append((seen.shell_ready[name] - start, prompt - seen.shell_ready[name], prompt - start))
                hits[_start_of(cluster, POOLED, name)] += 1
                await server.fetch(f"cloudtty/api/shells/{name}", "DELETE")
        for i in range(options.starts):
            name = f"warm-applied-{i}"
            watch_pods(cluster, POOLED, POOL_LABEL, lambda pods: bool(pool_ready(pods)), 120)
            start = time.perf_counter()
            apply(cluster, shell(name), namespace=POOLED)
            seen.wait_ready([name], 120)
            applied.append(seen.shell_ready[name] - start)
            hits[_start_of(cluster, POOLED, name)] += 1
            cluster.kubectl("delete", "cloudshell", name, "-n", POOLED, "--wait=false")
        burst, refill, most = await _burst(cluster, seen, options.burst, full)
        metrics = release.metrics()
    with Installed(cluster, COLD, work / "cold", {}), Seen(cluster.admin, COLD) as cold_seen:
        names = [f"cold-burst-{i}" for i in range(options.burst)]
        start = time.perf_counter()
        apply(cluster, *(shell(n) for n in names), namespace=COLD)
        cold_seen.wait_ready(names, 300)
        cold_burst = time.perf_counter() - start

    n = options.starts
    title = (f"A new shell from the warm pool ({size} pods): {n} one after another, each once a pool pod is Ready; "
             f"{hits['Pool']} of {2 * n} started in the pool")  # fmt: skip
    table = Table(title, ["from", "to", "p50", "p95", "max"])
    total = [p[2] for p in posted]
    for what, to, samples in (
        ("POST /cloudtty/api/shells", "CloudShell Ready", [p[0] for p in posted]),
        ("CloudShell Ready", "the prompt's first byte, relayed", [p[1] for p in posted]),
        ("POST /cloudtty/api/shells", "the prompt's first byte, relayed", total),
        ("kubectl apply", "CloudShell Ready", applied),
    ):
        table.add(what, to, f"{_quantile(samples, 0.5):.2f} s", f"{_quantile(samples, 0.95):.2f} s",
                  f"{max(samples):.2f} s")  # fmt: skip
    bursts = Table(f"{options.burst} shells applied at once", ["figure", "value"])
    bursts.add("in the pool's namespace: all Ready", f"{burst:.1f} s")
    bursts.add(f"the pool back to {size} Ready pods", f"{refill:.1f} s after the apply")
    bursts.add("most pool pods not anyone's at one time (maxPods)", f"{most} ({size})")
    bursts.add("in a namespace without a pool: all Ready (cold)", f"{cold_burst:.1f} s")
    claims = sum(v for k, v in metrics.items() if k.startswith("cloudtty_pool_claims_total"))
    misses = {k.split('reason="')[1].rstrip('"}'): v for k, v in metrics.items()
              if k.startswith("cloudtty_pool_misses_total")}  # fmt: skip
    bursts.add("the operator's metrics: claims, misses by reason", f"{claims:.0f}, {misses or 'none'}")
    p50, p95 = _quantile(total, 0.5), _quantile(total, 0.95)
    figures = [
        Figure(
            "operator",
            "pool hit: POST -> first prompt byte p50 / p95",
            f"{p50:.2f} / {p95:.2f} s",
            "<= 1 / 2 s",
            p50 <= 1 and p95 <= 2,
        ),  # fmt: skip
        Figure(
            "operator",
            "pool hit: kubectl apply -> Ready p50 / p95",
            f"{_quantile(applied, 0.5):.2f} / {_quantile(applied, 0.95):.2f} s",
        ),  # fmt: skip
        Figure(
            "operator",
            f"pool refill after {options.burst} claims / {options.burst} cold pods started",
            f"{refill:.1f} / {cold_burst:.1f} s",
            "refill <= cold",
            refill <= cold_burst,
        ),  # fmt: skip
        Figure(
            "operator", "pool pods not anyone's at most / maxPods", f"{most} / {size}", "<= maxPods", most <= size
        ),  # fmt: skip
    ]
    return [table, bursts], figures


def _start_of(cluster: ControlPlane, namespace: str, name: str) -> str:
    """Pool or Cold, as the shell's status says."""
    found = json.loads(cluster.kubectl("get", "cloudshell", name, "-n", namespace, "-o", "json"))
    return (found.get("status") or {}).get("start", "Cold")


async def _burst(cluster: ControlPlane, seen: Seen, count: int, full) -> tuple[float, float, int]:
    """``count`` shells applied at once in the pool's namespace: (all Ready, the pool full again, both
    seconds after the apply; the most pool pods not anyone's seen at one time)."""
    watch_pods(cluster, POOLED, POOL_LABEL, full, 300)
    most, began, refilled = 0, 0.0, 0.0
    names = [f"burst-{i}" for i in range(count)]

    def back(pods: dict[str, dict]) -> bool:
        nonlocal most, refilled
        most = max(most, len(unclaimed(pods)))
        owners = [(p["metadata"].get("labels") or {}).get(SHELL_LABEL) for p in pods.values()]
        claimed = sum(owner in names for owner in owners)
        done = claimed == count and full(pods)
        if done:
            refilled = time.perf_counter() - began
        return done

    listed = threading.Event()
    watching = asyncio.create_task(asyncio.to_thread(watch_pods, cluster, POOLED, POOL_LABEL, back, 300, listed))
    await asyncio.to_thread(listed.wait, 60)  # the watch's own listing first: every change after it is seen
    began = time.perf_counter()
    apply(cluster, *(shell(n) for n in names), namespace=POOLED)
    seen.wait_ready(names, 300)
    ready = time.perf_counter() - began
    await watching
    return ready, refilled, most


def _quantile(samples: list[float], q: float) -> float:
    """The ``q`` quantile, nearest rank (p95 of 50 samples: the 48th)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        work = Path(tmp)
        with ControlPlane(work / "cluster", crds=(crd_yaml(),)) as cluster, Kubelet(cluster, work / "node"):
            cluster.create_namespace(NS, timeout=60)
            # NodePort: the lifecycle's shell is CloudTTY's default kind (the chart allows ClusterIP only).
            values = {"policy": {"exposureModes": ["ClusterIP", "NodePort"]}}
            with Installed(cluster, NS, work, values) as release, Seen(cluster.admin) as seen:
                table, figures = lifecycle(cluster, release, seen)
                table.print()
                if options.shells:
                    table, more = at_scale(cluster, release, seen, options)
                    table.print()
                    figures += more
                kubeconfig = grant_documented_role(cluster, NS)  # a Jupyter server's rights
                table, more = await terminals(cluster, kubeconfig, options, work)
                table.print()
                figures += more
                if options.starts:
                    table, more = await startup(cluster, seen, kubeconfig, options, work)
                    table.print()
                    figures += more
            if options.starts and options.burst:
                tables, more = await warm_starts(cluster, options, work)
                for table in tables:
                    table.print()
                figures += more
    write_figures(options.json, figures)


def parser() -> argparse.ArgumentParser:
    parser = command_line(__doc__)
    parser.add_argument("--shells", type=int, default=200, help="shells made Ready at once (default 200; 0: none)")
    parser.add_argument("--samples", type=int, default=50, help="of them, the last N timed pod Ready -> Ready (0: all)")
    parser.add_argument("--steady-seconds", type=float, default=30, help="settled window (default 30)")
    terminal_options(parser, size_mb=50, keystrokes=1000, rounds=3)
    parser.add_argument("--starts", type=int, default=50, help="shells started one after another, timed "
                        "(default 50; 0: none)")  # fmt: skip
    parser.add_argument("--burst", type=int, default=20, help="shells applied at once to drain the warm pool, "
                        "which holds as many (default 20; 0: no warm pool)")  # fmt: skip
    return parser


if __name__ == "__main__":
    run(main, parser())
