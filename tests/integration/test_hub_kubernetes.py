"""Cluster shells on a real JupyterHub: each user's server owns the user's CloudShells, and no other's.

One hub (tests/hub.py) with alice's and bob's servers on the Kubernetes backend, both watching
the same namespace of one emulated API server (their owner: the hub user, JUPYTERHUB_USER).
Everything goes through the hub's proxy with the hub's auth.
"""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient
from tests.hub import Hub, logs_on_failure
from tests.kube import NS, EmulatorThread, ShellPods, write_kubeconfig
from tests.sse import EventStream

OWNER = "jupyter-cloudtty.io/owner"
FORBIDDEN = {"message": "Forbidden", "reason": None}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with EmulatorThread() as k8s:
        yield k8s


@pytest.fixture(scope="module")
def hub(tmp_path_factory, cluster):
    root = tmp_path_factory.mktemp("hub-k8s")
    kubeconfig = write_kubeconfig(root / "kubeconfig", cluster.url)
    args = ["--CloudTTY.backend=kubernetes", "--CloudTTY.connect_via=url", f"--CloudTTY.namespace={NS}"]
    with Hub(root, users=("alice", "bob"), singleuser_args=args, singleuser_env={"KUBECONFIG": str(kubeconfig)}) as hub:
        hub.start_servers("alice", "bob")
        yield hub


@pytest.fixture
def pods(cluster, tmp_path, jp_asyncio_loop):
    pods = ShellPods(cluster.api, tmp_path)
    yield pods
    jp_asyncio_loop.run_until_complete(pods.stop())


@logs_on_failure
async def test_alices_shell_is_a_cloudshell_of_hers_and_her_terminal_goes_through_the_proxy(hub, cluster, pods):
    alice = hub.user("alice")
    status, shell, _ = await alice.api("POST", body={"name": "a-term"})
    assert status == 201, shell
    obj = await cluster.api.get("CloudShell", NS, "a-term")
    assert obj["metadata"]["annotations"][OWNER] == "alice" and obj["metadata"]["labels"][OWNER] == "alice"

    await pods.ready("a-term")
    term = await alice.terminal("a-term")
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    term.connection.close()
    assert (await alice.api("DELETE", "a-term"))[0] == 204


@logs_on_failure
async def test_bob_cannot_list_open_or_delete_alices_shells(hub, cluster, pods):
    alice, bob = hub.user("alice"), hub.user("bob")
    async with EventStream(bob.url("cloudtty", "api", "events"), bob.headers) as bobs_events:
        assert (await bobs_events.next())[0] == "snapshot"
        assert (await alice.api("POST", body={"name": "a-kept"}))[0] == 201
        await pods.ready("a-kept")
        alices = await alice.terminal("a-kept")
        await alices.send("echo PID=$$\r")
        pid = (await alices.expect(rb"\rPID=(\d+)\r\n")).group(1)

        # Bob's own server does not know her shell: not in his list, 404 by name, on every route.
        assert (await bob.api("POST", body={"name": "b-own"}))[0] == 201
        # The watch delivers in order: had her shell leaked, its events would come before his.
        _, first = await bobs_events.until(lambda event, data: event == "shell")
        assert first["shell"]["name"] == "b-own", first
        assert [s["name"] for s in (await bob.api("GET"))[1]] == ["b-own"]
        for method in ("GET", "DELETE"):
            assert (await bob.api(method, "a-kept"))[:2] == (404, {"message": "shell 'a-kept' not found"})
        with pytest.raises(HTTPClientError) as error:
            await bob.terminal("a-kept")
        assert error.value.code == 404

    # Bob's token on alice's server: the hub's auth refuses it, before our extension sees it.
    for method, path in [("GET", ()), ("POST", ()), ("GET", ("a-kept",)), ("DELETE", ("a-kept",))]:
        status, data, _ = await alice.api(method, *path, body={"name": "x"} if method == "POST" else None,
                                          headers=bob.headers)  # fmt: skip
        assert (status, data) == (403, FORBIDDEN), (method, path)
    with pytest.raises(HTTPClientError) as error:
        await TtydClient.connect(alice.url("cloudtty", "api", "shells", "a-kept", "terminal", scheme="ws"),
                                 headers=bob.headers)  # fmt: skip
    assert error.value.code == 403

    # Her shell and its process are untouched.
    await alices.send("echo PID=$$\r")
    assert (await alices.expect(rb"\rPID=(\d+)\r\n")).group(1) == pid
    assert sorted(o["metadata"]["name"] for o in await cluster.api.list("CloudShell", NS)) == ["a-kept", "b-own"]
    alices.connection.close()
