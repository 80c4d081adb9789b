"""Cluster shells on a real JupyterHub and the real control plane, set up as docs/administrators.md's
zero-to-jupyterhub recipe says: the operator chart with one ServiceAccount for the single-user
servers (`jupyterServers.serviceAccounts`), every server holding a token of it and the recipe's
``c.CloudTTY`` settings (read from the page: harness/documented.py). Two departures, both because
the tests run outside the cluster (no cluster DNS, no kube-proxy): ``connect_via = "apiserver"``
(with the chart's `jupyterServers.serviceProxy`) instead of ``service``, and the token in a kubeconfig
instead of a mounted ServiceAccount.

Each user's server owns that user's CloudShells: alice's and bob's shells are Jobs of the chart's
operator on the tests' node, their terminals go hub proxy -> their server -> API server -> ttyd,
and neither server lists, opens or deletes the other's. (That bob, holding the same ServiceAccount
in his own notebook, can still reach alice's CloudShells behind his server's back is the
multi-user security issue's, not this file's.)
"""

from __future__ import annotations

import json

import pytest

from tests.harness.documented import z2jh_server_config
from tests.harness.hub import Hub, logs_on_failure
from tests.harness.installed import Installed

pytestmark = pytest.mark.slow  # a real JupyterHub and its users' servers, on the real control plane

OWNER = "jupyter-cloudtty.io/owner"


@pytest.fixture(scope="module")
def shells_namespace(control_plane):
    """The recipe's `shells` (where the chart and the shells live) and `jhub` (the hub's) namespaces."""
    names = "hub-shells", "hub-jhub"
    for name in names:
        control_plane.create_namespace(name)
    yield names[0]
    control_plane.kubectl("delete", "namespace", *names, "--wait=false")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, control_plane, node, shells_namespace):
    root = tmp_path_factory.mktemp("hub-k8s")
    values = {"jupyterServers": {"serviceAccounts": [{"name": "cloudtty-user", "namespace": "hub-jhub"}],
                                 "serviceProxy": True}}  # fmt: skip
    control_plane.kubectl("-n", "hub-jhub", "create", "serviceaccount", "cloudtty-user")
    with Installed(control_plane, shells_namespace, root, values) as release:
        kubeconfig = release.kubeconfig_of("cloudtty-user", "hub-jhub")
        # The recipe's extraFiles entry, under the name it gives, in a directory of Jupyter's config path
        # (the recipe's /usr/local/etc/jupyter is one of the system's).
        name, data = z2jh_server_config()
        data["CloudTTY"] |= {"namespace": shells_namespace, "connect_via": "apiserver"}
        config = root / "etc" / "jupyter"
        config.mkdir(parents=True)
        (config / name).write_text(json.dumps(data))
        env = {"KUBECONFIG": str(kubeconfig), "JUPYTER_CONFIG_PATH": str(config)}
        with Hub(root, users=("alice", "bob"), singleuser_env=env) as hub:
            hub.start_servers("alice", "bob")
            yield hub
        assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


def cloudshell(cluster, namespace: str, name: str) -> dict:
    return json.loads(cluster.kubectl("get", "cloudshell", name, "-n", namespace, "-o", "json"))


@logs_on_failure
async def test_each_user_s_shell_is_a_cloudshell_of_theirs_and_only_their_server_opens_it(
    hub, control_plane, shells_namespace
):
    alice, bob = hub.user("alice"), hub.user("bob")
    status, shell, _ = await alice.api("POST", body={"name": "a-term"})
    assert status == 201, shell
    assert shell["spec"]["ttlSecondsAfterStarted"] == 28800  # the recipe's max_ttl, for a shell asking none
    status, shell, _ = await bob.api("POST", body={"name": "b-term"})
    assert status == 201, shell
    obj = cloudshell(control_plane, shells_namespace, "a-term")
    assert obj["metadata"]["annotations"][OWNER] == "alice" and obj["metadata"]["labels"][OWNER] == "alice"

    # Each terminal: the hub's proxy, the user's server, the API server's service proxy, the pod's ttyd.
    for user, name in ((alice, "a-term"), (bob, "b-term")):
        term = await user.terminal(name)
        await term.send("echo $((6*7)) $(hostname)\r")
        await term.expect(rf"42 cloudshell-{name}-")
        await term.close()

    # Each server knows only its user's shells.
    assert [s["name"] for s in (await alice.api("GET"))[1]] == ["a-term"]
    assert [s["name"] for s in (await bob.api("GET"))[1]] == ["b-term"]
    assert (await bob.api("GET", "a-term"))[0] == 404
    assert (await bob.api("DELETE", "a-term"))[0] == 404
    cloudshell(control_plane, shells_namespace, "a-term")  # still there

    for user, name in ((alice, "a-term"), (bob, "b-term")):
        assert (await user.api("DELETE", name))[0] == 204
    control_plane.kubectl("wait", "--for=delete", "cloudshell/a-term", "cloudshell/b-term", "job/cloudshell-a-term",
                          "job/cloudshell-b-term", "-n", shells_namespace, "--timeout=60s")  # fmt: skip
