"""The warm pool on the real control plane: a new shell starts in a pod that was already Ready,
holds nothing of the shells before it, and the pool refills within its cap.

The chart's operator (harness/installed.py) under its own RBAC, the real Job controller adopting the
claimed pod, the tests' node (harness/kubelet.py) running the pool pods' agent and then the shell's
real ttyd; alice's Jupyter server relays the terminal where a user's browser would see it.
"""

from __future__ import annotations

import pytest

from tests.harness.controlplane import ControlPlane
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import kubectl_json, ready, server, watch_pods

pytestmark = pytest.mark.slow

POOL = "cloudshell.cloudtty.io/pool"
SHELL = "cloudshell.cloudtty.io/owner-name"


def condition(shell: dict, kind: str) -> dict:
    return next(c for c in shell["status"]["conditions"] if c["type"] == kind)


def pool_ready(pods: dict[str, dict]) -> list[str]:
    """The pool pods not yet anyone's that are Ready."""
    return sorted(
        name for name, pod in pods.items()
        if SHELL not in (pod["metadata"].get("labels") or {}) and not pod["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])
    )  # fmt: skip


def unclaimed(pods: dict[str, dict]) -> list[str]:
    return sorted(name for name, pod in pods.items() if SHELL not in (pod["metadata"].get("labels") or {}))


def pool_values(namespace: str, size: int, cap: int = 20) -> dict:
    return {"pool": {"namespaces": {namespace: size}, "maxPods": cap}}


@pytest.mark.timeout(300)
async def test_a_shell_starts_in_a_pool_pod_with_its_own_token_env_and_rights(control_plane, node, namespace, tmp_path):
    cluster: ControlPlane = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path, pool_values(namespace, 2)) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        warm = pool_ready(watch_pods(cluster, namespace, POOL, lambda pods: len(pool_ready(pods)) == 2))
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
        again = watch_pods(cluster, namespace, POOL, lambda pods: len(pool_ready(pods)) == 2)
        assert pod not in pool_ready(again)
        # The shell's end takes its pod along: it never goes back to the pool.
        assert (await jupyter.fetch("cloudtty/api/shells/warm", "DELETE")).code in (200, 202, 204)
        watch_pods(cluster, namespace, POOL, lambda pods: pod not in pods)
    assert "Traceback" not in release.log, release.log[-6000:]
