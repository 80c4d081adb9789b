"""State lives in the cluster: a restarted Jupyter server lists and reaches the user's shells again."""

from __future__ import annotations

import json

import pytest

from tests.harness.kube import NS, EmulatorThread, ShellPods, write_kubeconfig
from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow  # Jupyter server processes, one restarted


async def test_a_restarted_server_lists_and_reaches_the_shells_again(tmp_path):
    with EmulatorThread() as k8s:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s.url)
        args = ("--CloudTTY.backend=kubernetes", f"--CloudTTY.kubeconfig={kubeconfig}", "--CloudTTY.owner=alice",
                "--CloudTTY.connect_via=url")  # fmt: skip
        (tmp_path / "root").mkdir()
        pods = ShellPods(k8s.api, tmp_path)
        try:
            async with JupyterProcess("jupyter_server", tmp_path / "root", args=args) as first:
                created = await first.fetch("cloudtty/api/shells", "POST", {"name": "kept", "spec": {"ttl": 3600}})
                assert created.code == 201
                await first.stop()
            await pods.ready("kept")

            async with JupyterProcess("jupyter_server", tmp_path / "root", args=args) as second:
                listed = json.loads((await second.fetch("cloudtty/api/shells")).body)
                assert [(s["name"], s["spec"]["ttl"], s["status"]["phase"]) for s in listed] == [
                    ("kept", 3600, "Ready")
                ]
                term = await second.terminal("kept")
                await term.send("echo $((6*7))\r")
                await term.expect(rb"\r42\r\n")
                await term.close()
                await second.stop()
            assert [o["metadata"]["name"] for o in await k8s.api.list("CloudShell", NS)] == ["kept"]
        finally:
            await pods.stop()
