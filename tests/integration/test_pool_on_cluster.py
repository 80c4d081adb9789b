"""The warm pool on the real control plane: a new shell starts in a pod that was already Ready,
holds nothing of the shells before it, and the pool refills within its cap.

The chart's operator (harness/installed.py) under its own RBAC, the real Job controller adopting the
claimed pod, the tests' node (harness/kubelet.py) running the pool pods' agent and then the shell's
real ttyd; alice's Jupyter server relays the terminal where a user's browser would see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from jupyter_cloudtty.cloudshell.names import POOL_LABEL, SHELL_LABEL
from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.controlplane import ControlPlane
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import (
    answers,
    kubectl_json,
    pool_ready,
    ready,
    server,
    shell_terminal,
    unclaimed,
    watch_pods,
)  # fmt: skip

pytestmark = pytest.mark.slow


def condition(shell: dict, kind: str) -> dict:
    return next(c for c in shell["status"]["conditions"] if c["type"] == kind)


def pool_values(namespace: str, size: int, cap: int = 20, via: str = "direct") -> dict:
    return {"pool": {"namespaces": {namespace: size}, "maxPods": cap, "connectVia": via}}


@pytest.mark.timeout(300)
async def test_a_shell_starts_in_a_pool_pod_with_its_own_token_env_and_rights(control_plane, node, namespace, tmp_path):
    cluster: ControlPlane = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        # Handed over through the API server (pods/proxy), as an operator outside the cluster's network
        # must; the other tests hand over at the pod's IP, the chart's default.
        Installed(cluster, namespace, tmp_path, pool_values(namespace, 2, via="apiserver")) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        warm = pool_ready(watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 2))
        body = {"name": "warm", "spec": {"ttl": 600, "env": [{"name": "GREETING", "value": "hello 'pool'"}]}}
        assert (await jupyter.fetch("cloudtty/api/shells", "POST", body)).code == 201
        term = await jupyter.terminal("warm")
        await term.send(
            'echo "[$GREETING]" $((6*7)); kubectl get pod "$POD_NAME" -o name; kubectl auth can-i create pods\r'
        )
        await term.expect(r"\[hello 'pool'\] 42")
        await term.expect(r"pod/cloudshell-pool-\w+")  # the shell's role (view) in its namespace
        await term.expect(r"\bno\b")
        await term.close()
        shell = ready(cluster, namespace, "warm")
        assert shell["status"]["start"] == "Pool"
        started = condition(shell, "WarmStart")
        pod = shell["status"]["podName"]
        assert pod in warm and (started["status"], started["reason"]) == ("True", "PoolHit"), started
        assert started["message"] == f"it started in {pod}, a ready pod of the pool"
        # The Job adopted the pool pod: it holds the pod's TTL, its restarts, its end.
        owners = kubectl_json(cluster, "get", "pod", pod, "-n", namespace)["metadata"]["ownerReferences"]
        assert [(o["kind"], o["name"], o.get("controller")) for o in owners if o.get("controller")] == [
            ("Job", "cloudshell-warm", True)]  # fmt: skip
        # The pool makes a pod for the one claimed: two ready again, the claimed one not among them.
        again = watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 2)
        assert pod not in pool_ready(again)
        # The shell's end takes its pod along: it never goes back to the pool.
        assert (await jupyter.fetch("cloudtty/api/shells/warm", "DELETE")).code in (200, 202, 204)
        watch_pods(cluster, namespace, POOL_LABEL, lambda pods: pod not in pods)
    assert "Traceback" not in release.log, release.log[-6000:]


def apply(cluster: ControlPlane, namespace: str, *shells: tuple[str, dict]) -> None:
    items = [{"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": name},
              "spec": spec} for name, spec in shells]  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                          "items": items}))  # fmt: skip


@pytest.mark.timeout(400)
async def test_nothing_of_one_user_is_seen_by_the_next_twenty(control_plane, node, namespace, tmp_path):
    """A file in /tmp and in the home, an env value, a process left running: none of them in any of
    the next 20 shells, each started in a pool pod."""
    cluster: ControlPlane = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path, pool_values(namespace, 3)) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):

        async def started(name: str, spec: dict) -> TtydClient:
            watch_pods(cluster, namespace, POOL_LABEL, lambda pods: bool(pool_ready(pods)))  # a pool pod to claim
            assert (await jupyter.fetch("cloudtty/api/shells", "POST", {"name": name, "spec": spec})).code == 201
            term = await jupyter.terminal(name)
            assert ready(cluster, namespace, name)["status"]["start"] == "Pool"
            return term

        term = await started("alice", {"ttl": 600, "env": [{"name": "SECRET_VALUE", "value": "alice-s3cret"}]})
        await term.send("echo left > /tmp/left-behind; echo left > ~/left-behind; "
                        "(exec -a left-behind-sleeper sleep 1000 &); echo DO''NE\r")  # fmt: skip
        await term.expect("DONE")
        await term.close()
        assert (await jupyter.fetch("cloudtty/api/shells/alice", "DELETE")).code in (200, 202, 204)
        pods = []
        for i in range(20):
            term = await started(f"next-{i}", {"ttl": 600})
            await term.send("echo GONE-$(ls /tmp/left-behind ~/left-behind 2>&1 | grep -c 'No such') "
                            "\"[${SECRET_VALUE:-unset}]\"; pgrep -f left-behind-sleeper || echo NO''NE\r")  # fmt: skip
            await term.expect(r"GONE-2 \[unset\]")
            await term.expect("NONE")
            await term.close()
            pods.append(ready(cluster, namespace, f"next-{i}")["status"]["podName"])
            assert (await jupyter.fetch(f"cloudtty/api/shells/next-{i}", "DELETE")).code in (200, 202, 204)
        assert len(set(pods)) == 20  # every one a pod of its own
    assert "Traceback" not in release.log, release.log[-6000:]


@pytest.mark.timeout(300)
async def test_a_burst_of_claims_gets_distinct_pods_and_the_pool_refills_within_its_cap(
    control_plane, node, namespace, tmp_path
):
    """Six pods wanted, four allowed in all: four are made. Four shells at once each claim one of them
    (never one pod twice); the pool makes four more, and never more than four are not anyone's."""
    cluster: ControlPlane = control_plane
    async with Installed(cluster, namespace, tmp_path, pool_values(namespace, 6, cap=4)) as release:
        first = pool_ready(watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 4))
        most = 0

        def refilled(pods: dict[str, dict]) -> bool:
            nonlocal most
            most = max(most, len(unclaimed(pods)))
            claimed = [
                name for name in pods if name in first and SHELL_LABEL in pods[name]["metadata"].get("labels", {})
            ]
            return len(claimed) == 4 and len(pool_ready(pods)) == 4

        listed = threading.Event()
        watching = asyncio.create_task(
            asyncio.to_thread(watch_pods, cluster, namespace, POOL_LABEL, refilled, 120, listed)
        )
        await asyncio.to_thread(listed.wait, 60)  # the watch's listing first: then every change comes after it
        began = time.monotonic()
        apply(cluster, namespace, *((f"burst-{i}", {"ttlSecondsAfterStarted": 600}) for i in range(4)))
        after = await watching
        refill = time.monotonic() - began
        shells = [ready(cluster, namespace, f"burst-{i}") for i in range(4)]
        assert [s["status"]["start"] for s in shells] == ["Pool"] * 4
        assert sorted(s["status"]["podName"] for s in shells) == sorted(first)  # one pod each, none twice
        assert most <= 4, most
        assert len(unclaimed(after)) == 4 and not set(pool_ready(after)) & set(first)
        print(f"refilled 4 pool pods {refill:.1f} s after the burst")
    assert "Traceback" not in release.log, release.log[-6000:]


@pytest.mark.timeout(300)
async def test_a_shell_that_cannot_use_the_pool_starts_cold_and_says_why(control_plane, node, namespace, tmp_path):
    cluster: ControlPlane = control_plane
    async with Installed(cluster, namespace, tmp_path, pool_values(namespace, 1)) as release:
        watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 1)
        apply(cluster, namespace, ("own-user", {"runAsUser": "1000", "ttlSecondsAfterStarted": 600}))
        cold = ready(cluster, namespace, "own-user")
        said = condition(cold, "WarmStart")
        assert cold["status"]["start"] == "Cold" and (said["status"], said["reason"]) == ("False", "RunAsUser")
        assert said["message"] == "it runs as a user of its own (spec.runAsUser), which a running pod cannot change"
        assert cold["status"]["podName"].startswith("cloudshell-own-user-")  # its Job's own pod
        await answers(await shell_terminal(cluster, namespace, "own-user"))
        apply(cluster, namespace, ("fits", {"ttlSecondsAfterStarted": 600}))
        assert ready(cluster, namespace, "fits")["status"]["start"] == "Pool"
        await answers(await shell_terminal(cluster, namespace, "fits"))
        watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 1)  # made again
        metrics = release.metrics()
        assert metrics[f'cloudtty_pool_claims_total{{namespace="{namespace}"}}'] == 1
        assert metrics[f'cloudtty_pool_misses_total{{namespace="{namespace}",reason="RunAsUser"}}'] == 1
        assert metrics['cloudtty_shell_ready_seconds_count{start="Pool"}'] == 1
        assert metrics['cloudtty_shell_ready_seconds_count{start="Cold"}'] == 1
    assert "Traceback" not in release.log, release.log[-6000:]


def agent_process(pod: dict) -> int:
    """The pid of a pool pod's agent (its ttyd serving under the agent path), as the tests' node runs it."""
    address = pod["status"]["podIP"]
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if argv[:1] == [b"ttyd"] and address.encode() in argv and any(b"/cloudtty-pool/" in a for a in argv):
            return int(entry.name)
    raise AssertionError(f"no agent of {pod['metadata']['name']} at {address}")


@pytest.mark.timeout(300)
async def test_a_pool_pod_whose_agent_does_not_answer_is_dropped_and_the_shell_starts_cold(
    control_plane, node, namespace, tmp_path
):
    """A fault a real pod can have: its agent hangs (SIGSTOP here) while the kernel still accepts
    connections on its port, so the probe keeps it Ready. The claim succeeds, the handover does not."""
    cluster: ControlPlane = control_plane
    async with Installed(cluster, namespace, tmp_path, pool_values(namespace, 1)) as release:
        (hung,) = watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 1).values()
        agent = agent_process(hung)
        os.kill(agent, signal.SIGSTOP)
        try:
            apply(cluster, namespace, ("unlucky", {"ttlSecondsAfterStarted": 600}))
            shell = ready(cluster, namespace, "unlucky")
        finally:
            with contextlib.suppress(ProcessLookupError):  # gone with its pod, as it should
                os.kill(agent, signal.SIGCONT)
        said = condition(shell, "WarmStart")
        assert shell["status"]["start"] == "Cold" and said["reason"] == "HandoverFailed", said
        assert said["message"].startswith(f"pool pod {hung['metadata']['name']}: its agent did not take the assignment")
        assert shell["status"]["podName"].startswith("cloudshell-unlucky-")
        await answers(await shell_terminal(cluster, namespace, "unlucky"))
        watch_pods(
            cluster, namespace, POOL_LABEL, lambda pods: hung["metadata"]["name"] not in pods
        )  # never used again
    assert "Traceback" not in release.log, release.log[-6000:]


@pytest.mark.timeout(300)
async def test_pool_pods_of_an_earlier_run_are_replaced_not_used(control_plane, node, namespace, tmp_path):
    """Their agent tokens went with the operator that made them."""
    cluster: ControlPlane = control_plane
    async with Installed(cluster, namespace, tmp_path, pool_values(namespace, 2)) as release:
        earlier = set(pool_ready(watch_pods(cluster, namespace, POOL_LABEL, lambda pods: len(pool_ready(pods)) == 2)))
        release.stop_operator()
        release.start_operator()
        watch_pods(cluster, namespace, POOL_LABEL,
                   lambda pods: not earlier & set(pods) and len(pool_ready(pods)) == 2)  # fmt: skip
        apply(cluster, namespace, ("after", {"ttlSecondsAfterStarted": 600}))
        shell = ready(cluster, namespace, "after")
        assert shell["status"]["start"] == "Pool" and shell["status"]["podName"] not in earlier
    assert "Traceback" not in release.log, release.log[-6000:]
