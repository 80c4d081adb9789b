"""The Jupyter server's Kubernetes backend on the real control plane, with exactly the rights
docs/administrators.md documents (its Role and RoleBinding, applied as written: harness/documented.py)
and ``connect_via = "apiserver"`` (the tests run outside the cluster: no cluster DNS, no kube-proxy).

The chart's operator runs beside it (harness/installed.py), the tests' node runs the shells' pods.
What a user sees is checked through the server's REST API, its event stream and its terminals, while
the server, then the API server itself, are restarted under it.
"""

from __future__ import annotations

import json

import pytest

from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import answers, events, ready, server, shells

pytestmark = pytest.mark.slow


async def test_the_documented_role_is_all_the_server_needs(control_plane, node, namespace, tmp_path):
    """Create, list, watch, relay through the API server's service proxy, delete: nothing refused."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        info = json.loads((await jupyter.fetch("cloudtty/api/info")).body)
        assert (info["backend"], info["namespace"], info["connectVia"]) == ("kubernetes", namespace, "apiserver")
        async with events(jupyter) as stream:
            assert await stream.next() == ("snapshot", [])
            created = await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "s1", "spec": {"ttl": 600}})
            assert created.code == 201
            await stream.until(lambda e, d: e == "shell" and d["shell"]["status"].get("phase") == "Ready", 90)
        await answers(await jupyter.terminal("s1"))
        assert await shells(jupyter) == {"s1": "Ready"}
        assert (await jupyter.fetch("cloudtty/api/shells/s1", "DELETE")).code == 204
        cluster.kubectl("wait", "--for=delete", "cloudshell/s1", "job/cloudshell-s1", "service/cloudshell-s1",
                        "-n", namespace, "--timeout=60s")  # fmt: skip
        assert await shells(jupyter) == {}
    assert "Forbidden" not in jupyter.log and "Traceback" not in jupyter.log, jupyter.log
    assert "Traceback" not in release.log, release.log[-6000:]


async def test_a_restarted_server_finds_its_user_s_shells_as_they_were(control_plane, node, namespace, tmp_path):
    """A shell outlives the server that made it (an upgrade, the hub's culler): the next server of
    the same user lists it and opens its terminal in the same pod, whose files are still there."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with Installed(cluster, namespace, tmp_path):
        async with server(namespace, kubeconfig, tmp_path / "root") as first:
            created = await first.fetch("cloudtty/api/shells", "POST", {"name": "kept", "spec": {"ttl": 3600}})
            assert created.code == 201
            term = await first.terminal("kept")
            await term.send("echo written-before > ~/note; echo done-$((6*7))\r")
            await term.expect("done-42")
            await term.close()
            assert await first.stop() == 0
        ready(cluster, namespace, "kept")  # the server's going ended no shell

        async with server(namespace, kubeconfig, tmp_path / "root") as second:
            listed = json.loads((await second.fetch("cloudtty/api/shells")).body)
            assert [(s["name"], s["spec"]["ttl"], s["status"]["phase"]) for s in listed] == [("kept", 3600, "Ready")]
            term = await second.terminal("kept")
            await term.send("cat ~/note\r")
            await term.expect("written-before")
            await term.close()


async def test_the_server_and_the_operator_live_through_an_api_server_restart(control_plane, node, namespace, tmp_path):
    """kube-apiserver restarts (an upgrade of the control plane): every watch and proxied terminal
    breaks. Afterwards the server's list follows the cluster again (a shell deleted with kubectl
    goes from it), a new shell reaches Ready (the operator watches again), and terminals open."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        assert (await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "before"})).code == 201
        term = await jupyter.terminal("before")
        await term.send("echo $((6*7))\r")
        await term.expect("42")

        cluster.restart_apiserver()
        # An open terminal ends with a reason the panel shows, not a hang (the browser then reconnects).
        assert await term.wait_closed(30) == (4005, "the connection to the shell's terminal was lost mid-stream "
                                              "(the API server or the shell's ttyd no longer answers)")  # fmt: skip

        async with events(jupyter) as stream:
            assert (await stream.next())[0] == "snapshot"
            cluster.kubectl("delete", "cloudshell", "before", "-n", namespace, "--wait=false")
            await stream.until(
                lambda e, d: e == "shell" and d["type"] == "DELETED" and d["shell"]["name"] == "before", 60
            )
            assert (await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "after"})).code == 201
            await stream.until(lambda e, d: e == "shell" and d["shell"]["status"].get("phase") == "Ready", 90)
        await answers(await jupyter.terminal("after"))
        cluster.kubectl("wait", "--for=delete", "job/cloudshell-before", "-n", namespace, "--timeout=60s")
    assert "Traceback" not in jupyter.log, jupyter.log
    assert "Traceback" not in release.log, release.log[-6000:]
