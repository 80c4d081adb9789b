"""A cluster shell's life on the real control plane: a TTL changed while it runs, a lost pod replaced,
the idle rule in the pod, a change a running shell cannot take refused.

The chart's operator (harness/installed.py) under its own RBAC and admission policy, the real Job
controller (kube-controller-manager) and the tests' node (harness/kubelet.py) running the pods with
the real ttyd; alice's Jupyter server relays the terminal where a user's browser would see it.
"""

from __future__ import annotations

import json

import pytest

from tests.harness.controlplane import ControlPlane, KubectlError
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import apply, folder_pv, in_new_shell, kubectl_json, ready, server, shell_terminal

pytestmark = pytest.mark.slow


def patch(cluster: ControlPlane, namespace: str, name: str, spec: dict, **kwargs: object) -> None:
    cluster.kubectl("patch", "cloudshell", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}),
                    **kwargs)  # fmt: skip


def wait_for(cluster: ControlPlane, namespace: str, what: str, jsonpath: str, timeout: int = 90) -> None:
    cluster.kubectl("wait", f"--for=jsonpath={jsonpath}", what, "-n", namespace, f"--timeout={timeout}s")


def condition(shell: dict, kind: str) -> dict:
    return next(c for c in shell["status"]["conditions"] if c["type"] == kind)


async def test_a_ttl_extended_while_the_shell_runs_moves_its_job_s_deadline(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path) as release:
        apply(cluster, namespace, "longer", ttlSecondsAfterStarted=8)
        ready(cluster, namespace, "longer")
        assert kubectl_json(cluster, "get", "job", "cloudshell-longer", "-n", namespace)["spec"][
            "activeDeadlineSeconds"] == 8  # fmt: skip
        patch(cluster, namespace, "longer", {"ttlSecondsAfterStarted": 600})
        wait_for(cluster, namespace, "job/cloudshell-longer", "{.spec.activeDeadlineSeconds}=600")
        wait_for(cluster, namespace, "cloudshell/longer", "{.status.accessUrl}", 30)
        assert ready(cluster, namespace, "longer")["status"]["accessUrl"].endswith("?ttl=600")
        term = await shell_terminal(cluster, namespace, "longer")
        await term.send("sleep 9; echo STILL-$((6*7))\r")  # past the TTL it was made with
        await term.expect("STILL-42")
        await term.close()
        assert ready(cluster, namespace, "longer")["status"]["phase"] == "Ready"
        # Shortened below its age: the Job's deadline passes, and the shell ends Expired, as any TTL's end.
        patch(cluster, namespace, "longer", {"ttlSecondsAfterStarted": 1})
        ended = ready(cluster, namespace, "longer", "Complete")
        assert condition(ended, "Ready")["reason"] == "Expired"
    assert "Traceback" not in release.log and "Forbidden" not in release.log, release.log[-6000:]


async def test_a_running_shell_refuses_every_other_change(control_plane, node, namespace, tmp_path):
    """At admission for a user; in its status for an administrator, whom admission lets through."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path):
        user = grant_documented_role(cluster, namespace)  # what a Jupyter server may do with CloudShells
        apply(cluster, namespace, "fixed", ttlSecondsAfterStarted=600, commandAction="bash")
        ready(cluster, namespace, "fixed")
        with pytest.raises(KubectlError) as refused:
            patch(cluster, namespace, "fixed", {"commandAction": "bash -x"}, kubeconfig=user)
        assert ("spec.commandAction: cannot change on a running shell (only spec.ttlSecondsAfterStarted can): "
                "delete it and create a new one") in refused.value.stderr  # fmt: skip
        patch(cluster, namespace, "fixed", {"ttlSecondsAfterStarted": 900}, kubeconfig=user)  # the TTL may
        patch(cluster, namespace, "fixed", {"commandAction": "bash -x", "once": True})  # the admin, past admission
        wait_for(cluster, namespace, "cloudshell/fixed", "{.status.conditions[1].type}=SpecChangeRefused")
        shell = ready(cluster, namespace, "fixed")
        refusal = condition(shell, "SpecChangeRefused")
        assert (refusal["status"], refusal["reason"]) == ("True", "Immutable")
        assert refusal["message"].startswith("spec.commandAction, spec.once changed on a running shell and were "
                                             "not applied")  # fmt: skip
        assert "-x" not in json.dumps(kubectl_json(cluster, "get", "job", "cloudshell-fixed", "-n", namespace)["spec"])


@pytest.mark.timeout(240)
async def test_a_deleted_pod_is_replaced_and_the_terminal_goes_on_in_the_new_one(
    control_plane, node, namespace, tmp_path
):
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        assert (
            await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "phoenix", "spec": {"ttl": 600}})
        ).code == 201
        term = await jupyter.terminal("phoenix")  # waits for Ready
        await term.send("echo before > /tmp/mark; echo FIRST-$((6*7))\r")
        await term.expect("FIRST-42")
        first = ready(cluster, namespace, "phoenix")["status"]["podName"]
        cluster.kubectl("delete", "pod", first, "-n", namespace, "--wait=false")
        # The browser's terminal stays open: told the pod is gone, then that a new one runs.
        await term.expect(r"\[the shell's pod is gone; waiting for a new one\]")
        # The Job controller makes the new pod after its backoff (10 s for a first failure).
        await term.expect(
            r"\[a new pod \(its pod cloudshell-phoenix-\w+ was lost \(.*\); cloudshell-phoenix-\w+ replaced it", 120
        )
        await term.send("cat /tmp/mark 2>&1; echo AGAIN-$((6*7))\r")
        await term.expect("No such file or directory")  # a new process, in a new pod's files
        await term.expect("AGAIN-42")
        shell = ready(cluster, namespace, "phoenix")
        assert shell["status"]["podName"] != first and shell["status"]["restarts"] == 1
        restarted = condition(shell, "Restarted")
        assert restarted["status"] == "True" and restarted["message"].startswith(f"its pod {first} was lost")
        # Stopped from outside, not crashed: not counted against the shell's restartLimit.
        assert "failed" not in kubectl_json(cluster, "get", "job", "cloudshell-phoenix", "-n", namespace)["status"]
        assert term.close_code is None
        await term.close()
    assert "Traceback" not in release.log and "Traceback" not in jupyter.log, jupyter.log[-4000:]


async def test_an_evicted_pod_is_replaced_uncounted(control_plane, node, namespace, tmp_path):
    """An eviction (a node's drain) marks the pod DisruptionTarget: the Job replaces it without counting
    it against the shell's restart limit, which is 0 here."""
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path, {"shell": {"restartLimit": 0}}):
        apply(cluster, namespace, "drained", ttlSecondsAfterStarted=600)
        first = ready(cluster, namespace, "drained")["status"]["podName"]
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first, "namespace": namespace}}
        cluster.kubectl("create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{first}/eviction", "-f", "-",
                        input=json.dumps(eviction))  # fmt: skip
        wait_for(cluster, namespace, "cloudshell/drained", "{.status.restarts}=1", 120)
        shell = ready(cluster, namespace, "drained")
        assert condition(shell, "Restarted")["reason"] == "EvictionByEvictionAPI"
        assert shell["status"]["podName"] != first


async def test_the_idle_rule_in_the_pod_waits_for_a_silent_job_then_ends_the_shell(
    control_plane, node, namespace, tmp_path
):
    cluster = control_plane
    async with Installed(cluster, namespace, tmp_path) as release:
        apply(cluster, namespace, "dozy", ttlSecondsAfterStarted=600, idleTimeoutSeconds=2)
        ready(cluster, namespace, "dozy")
        term = await shell_terminal(cluster, namespace, "dozy")
        await term.send("sleep 6; echo WOKE-$((6*7))\r")  # silent for three idle timeouts: a job, not idle
        await term.expect("WOKE-42")
        ended = ready(cluster, namespace, "dozy", "Complete")  # then idle at the prompt
        ready_condition = condition(ended, "Ready")
        assert (ready_condition["reason"], ready_condition["message"]) == ("IdleTimeout", "no input or output for 2s")
        await term.close()
    assert "Traceback" not in release.log, release.log[-6000:]


async def test_a_user_s_home_outlives_their_shells(control_plane, node, namespace, tmp_path):
    """With the chart's shell.home: alice's first shell writes into her home, is deleted; her next shell,
    a new pod, finds it (and the shell's history file), through her Jupyter server, as she would."""
    cluster = control_plane
    folder = tmp_path / "home-volume"
    folder.mkdir(mode=0o755)  # root's: the shell's user writes there through the home's fsGroup
    # An administrator's storage: a local PersistentVolume on the node, of the class the chart names.
    volume = f"{namespace}-homes"
    folder_pv(cluster, volume, folder, node.name, "ReadWriteOnce")
    values = {"shell": {"home": {"enabled": True, "storageClassName": volume, "retentionDays": 30}}}
    kubeconfig = grant_documented_role(cluster, namespace)
    try:
        async with (
            Installed(cluster, namespace, tmp_path, values) as release,
            server(namespace, kubeconfig, tmp_path / "root") as jupyter,
        ):
            saved = "echo from-the-first-shell > ~/notes.txt; history -a; echo SAVED-$((6*7))"
            await in_new_shell(jupyter, "first", saved, "SAVED-42")
            cluster.kubectl("wait", "--for=delete", "job/cloudshell-first", "-n", namespace, "--timeout=60s")

            claim = kubectl_json(cluster, "get", "pvc", "cloudshell-home-alice", "-n", namespace)
            assert claim["status"]["phase"] == "Bound" and "ownerReferences" not in claim["metadata"]
            assert claim["metadata"]["labels"]["jupyter-cloudtty.io/owner"] == "alice"
            found = "cat ~/notes.txt; grep -c from-the-first ~/.bash_history; echo $POD_NAME"
            await in_new_shell(jupyter, "second", found, r"from-the-first-shell\r\n1\r\ncloudshell-second-")
            cluster.kubectl("wait", "--for=delete", "job/cloudshell-second", "-n", namespace, "--timeout=60s")

            # Unused for longer than retentionDays (as if 40 days had passed): the operator removes it.
            cluster.kubectl("annotate", "pvc", "cloudshell-home-alice", "-n", namespace, "--overwrite",
                            "jupyter-cloudtty.io/last-used=2026-01-01T00:00:00Z")  # fmt: skip
            release.stop_operator()
            release.start_operator()  # its sweep runs soon after it starts, then hourly
            cluster.kubectl("wait", "--for=delete", "pvc/cloudshell-home-alice", "-n", namespace, "--timeout=60s")
            said = kubectl_json(cluster, "get", "events", "-n", namespace,
                                "--field-selector", "reason=HomeRemoved")["items"]  # fmt: skip
            assert [e["message"] for e in said] == ["unused for over 30 days (home.retentionDays)"]
        assert "Traceback" not in release.log and "Forbidden" not in release.log, release.log[-6000:]
        assert (folder / "notes.txt").read_text() == "from-the-first-shell\n"  # on the administrator's storage
    finally:
        cluster.kubectl("delete", "pvc", "--all", "-n", namespace, "--wait=false")
        cluster.kubectl("delete", "pv", volume, "--wait=false")
