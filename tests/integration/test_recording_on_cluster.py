"""The operator's recordings (shell.recording) on the real control plane: shells made with and without a
Jupyter server recorded in their pod, onto the administrator's claim, out of the user's reach, and a
shell that cannot be recorded refused.

The chart's operator under its own RBAC and admission policy, the real Job controller and the tests'
node (harness/kubelet.py) running the recorder as a native sidecar next to the real ttyd, on the shell
image's python3 and websockets; the claims are bound to folders of this machine (local and hostPath
PersistentVolumes), where the test reads what the recorder wrote.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from jupyter_cloudtty.cloudshell.recording import read
from jupyter_cloudtty.ttyd.client import TtydClosed
from tests.harness.controlplane import ControlPlane, KubectlError
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import apply, folder_pv, in_new_shell, kubectl_json, ready, server, shell_terminal

pytestmark = pytest.mark.slow
CLAIM = "cloudshell-recordings"


def claim_on(cluster: ControlPlane, namespace: str, folder: Path, node: str | None) -> None:
    """The administrator's claim, bound to ``folder``: a ``local`` PV on the node or, with no node, a
    ``hostPath`` one (harness/shells_on_cluster.py's folder_pv)."""
    name = f"{namespace}-recordings"
    folder_pv(cluster, name, folder, node, "ReadWriteMany")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": CLAIM, "namespace": namespace},
             "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": name, "volumeName": name,
                      "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=json.dumps(claim))


def casts(folder: Path, shell: str) -> list[tuple[dict, list]]:
    return [read(path) for path in sorted(folder.glob(f"{shell}-*.cast"))]


def output(events: list) -> str:
    return "".join(data for _, code, data in events if code == "o")


async def test_every_shell_is_recorded_in_its_pod_onto_the_administrator_s_claim(
    control_plane, node, namespace, tmp_path
):
    cluster = control_plane
    folder = tmp_path / "recordings"
    folder.mkdir(mode=0o755)  # root's: the recorder writes there through the pod's fsGroup
    claim_on(cluster, namespace, folder, node.name)
    kubeconfig = grant_documented_role(cluster, namespace)
    values = {"shell": {"recording": {"mode": "required"}}}
    try:
        async with Installed(cluster, namespace, tmp_path, values) as release:
            # Made without any Jupyter server (kubectl), reached through the API server's service proxy.
            apply(cluster, namespace, "bare", commandAction="bash")
            pod = ready(cluster, namespace, "bare")["status"]["podName"]
            term = await shell_terminal(cluster, namespace, "bare")
            await term.send("echo WO''KE $((6*7)); ls /recordings; echo CLAIM-$?\r")
            await term.expect(r"WOKE 42\r\n")
            # The shell's container has no recordings to see, change or delete.
            await term.expect(r"No such file or directory\r\nCLAIM-2")
            await term.close()
            spec = kubectl_json(cluster, "get", "pod", pod, "-n", namespace)["spec"]
            assert [c["name"] for c in spec["initContainers"]] == ["recorder"]
            assert "ports" not in spec["containers"][0]  # ttyd: a socket, no port
            # Alice, with her own server's credentials, cannot reach the claim or the recorder either.
            for attempt in (
                [
                    "run",
                    "peek",
                    "--image=x",
                    "--restart=Never",
                    "--overrides",
                    json.dumps({"spec": {"volumes": [{"name": "r", "persistentVolumeClaim": {"claimName": CLAIM}}]}}),
                ],  # fmt: skip
                ["exec", pod, "-c", "recorder", "--", "rm", "-rf", "/recordings"],
                ["delete", "pvc", CLAIM],
            ):
                with pytest.raises(KubectlError) as refused:
                    cluster.kubectl(*attempt, "-n", namespace, kubeconfig=kubeconfig)
                assert "forbidden" in refused.value.stderr.lower(), (attempt, refused.value.stderr)

            # Made through alice's Jupyter server (which records nothing itself here): recorded the same.
            async with server(namespace, kubeconfig, tmp_path / "root") as jupyter:
                await in_new_shell(jupyter, "relayed", "echo THROUGH-$((6*7))", "THROUGH-42")
            cluster.kubectl("delete", "cloudshell", "bare", "-n", namespace)
            for shell in ("bare", "relayed"):
                cluster.kubectl("wait", "--for=delete", f"job/cloudshell-{shell}", "-n", namespace, "--timeout=60s")
        assert "Traceback" not in release.log and "Forbidden" not in release.log, release.log[-6000:]
    finally:
        cluster.kubectl("delete", "pvc", CLAIM, "-n", namespace, "--wait=false")
        cluster.kubectl("delete", "pv", f"{namespace}-recordings", "--wait=false")
    recordings = folder / namespace
    # The namespace's folder and files: the recorders' group's (the pod's fsGroup), setgid; not the world's.
    assert (oct(recordings.stat().st_mode & 0o7777), recordings.stat().st_gid) == ("0o2770", 1000)
    assert {oct(p.stat().st_mode & 0o777) for p in recordings.glob("*.cast")} == {"0o640"}
    ((header, events),) = casts(recordings, "bare")
    assert header["cloudtty"]["shell"] == "bare" and header["cloudtty"]["spec"]["commandAction"] == "bash"
    assert "WOKE 42" in output(events) and not [e for e in events if e[1] == "i"]
    ((header, events),) = casts(recordings, "relayed")
    assert header["cloudtty"]["owner"] == "alice" and "THROUGH-42" in output(events)


async def test_a_shell_that_cannot_be_recorded_does_not_run(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    values = {"shell": {"recording": {"mode": "required"}}}
    kubeconfig = grant_documented_role(cluster, namespace)
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o755)  # root's, on a hostPath volume (no fsGroup): the recorder's user may not write
    try:
        async with Installed(cluster, namespace, tmp_path, values) as release:
            # No claim in the namespace: failed before any pod is made, saying so.
            apply(cluster, namespace, "nowhere")
            failed = ready(cluster, namespace, "nowhere", "Failed")["status"]["conditions"][-1]
            assert (failed["reason"], failed["message"]) == ("NotRecorded", (
                f"no PersistentVolumeClaim '{CLAIM}' in namespace {namespace} to write its recording to"
                " (an administrator makes it: recording.claimName)"))  # fmt: skip
            assert kubectl_json(cluster, "get", "jobs", "-n", namespace)["items"] == []

            # A claim the recorder cannot write: its words, from its termination message, and no shell.
            claim_on(cluster, namespace, folder, None)
            async with server(namespace, kubeconfig, tmp_path / "root") as jupyter:
                assert (await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "unwritable"})).code == 201
                failed = ready(cluster, namespace, "unwritable", "Failed")["status"]["conditions"][-1]
                words = f"not recorded: cannot write recordings in /recordings/{namespace}: Permission denied"
                assert (failed["reason"], failed["message"]) == ("NotRecorded", words)
                # The tab says so, as final (close code 4007), instead of a terminal that is not recorded.
                term = await jupyter.terminal("unwritable")
                with pytest.raises(TtydClosed) as closed:
                    await term.expect("never")
                assert (closed.value.code, closed.value.reason) == (4007, words)
        assert "Traceback" not in release.log, release.log[-6000:]
    finally:
        cluster.kubectl("delete", "pvc", CLAIM, "-n", namespace, "--wait=false")
        cluster.kubectl("delete", "pv", f"{namespace}-recordings", "--wait=false")
    assert list(folder.iterdir()) == []


def recorder_pid(shell: str) -> int:
    """The process of ``shell``'s recorder on this machine (the tests' node runs containers as processes)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            words[:2] == [b"python3", b"-I"]
            and b"--shell" in words
            and words[words.index(b"--shell") + 1] == shell.encode()
        ):
            return int(cmdline.parent.name)
    raise AssertionError(f"no recorder of {shell} runs")


async def test_a_recorder_that_dies_ends_its_shell(control_plane, node, namespace, tmp_path):
    """Killed (out of memory, say), a recorder leaves the pod's port free until it is back, for a process of
    the shell to take: the shell does not go on."""
    cluster = control_plane
    folder = tmp_path / "recordings"
    folder.mkdir(mode=0o755)
    claim_on(cluster, namespace, folder, node.name)
    try:
        async with Installed(cluster, namespace, tmp_path, {"shell": {"recording": {"mode": "required"}}}) as release:
            apply(cluster, namespace, "watched")
            ready(cluster, namespace, "watched")
            os.kill(recorder_pid("watched"), signal.SIGKILL)
            failed = ready(cluster, namespace, "watched", "Failed")["status"]["conditions"][-1]
            assert failed["reason"] == "NotRecorded"
            assert failed["message"].startswith("not recorded: its recorder stopped (exit code 137")
            cluster.kubectl("wait", "--for=delete", "job/cloudshell-watched", "-n", namespace, "--timeout=60s")
        assert "Traceback" not in release.log, release.log[-6000:]
    finally:
        cluster.kubectl("delete", "pvc", CLAIM, "-n", namespace, "--wait=false")
        cluster.kubectl("delete", "pv", f"{namespace}-recordings", "--wait=false")
