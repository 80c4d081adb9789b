"""Cluster shells on a real JupyterHub: a user's server owns the user's CloudShells.

One hub (tests/harness/hub.py) with alice's server on the Kubernetes backend, watching a namespace of
an emulated API server (its owner: the hub user, JUPYTERHUB_USER). Everything goes through the
hub's proxy with the hub's auth. That her shells are no one else's (another user's server, a
forged owner label) is an attack of tests/harness/attacks.py; the hub's refusal of another
user's token on her server, tests/integration/test_hub.py.
"""

from __future__ import annotations

import pytest

from tests.harness.hub import Hub, logs_on_failure
from tests.harness.kube import NS, EmulatorThread, ShellPods, write_kubeconfig

pytestmark = pytest.mark.slow  # a real JupyterHub and its users' servers

OWNER = "jupyter-cloudtty.io/owner"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with EmulatorThread() as k8s:
        yield k8s


@pytest.fixture(scope="module")
def hub(tmp_path_factory, cluster):
    root = tmp_path_factory.mktemp("hub-k8s")
    kubeconfig = write_kubeconfig(root / "kubeconfig", cluster.url)
    args = ["--CloudTTY.backend=kubernetes", "--CloudTTY.connect_via=url", f"--CloudTTY.namespace={NS}"]
    with Hub(root, users=("alice",), singleuser_args=args, singleuser_env={"KUBECONFIG": str(kubeconfig)}) as hub:
        hub.start_servers("alice")
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
