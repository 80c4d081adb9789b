"""Cluster shells on a real JupyterHub and the real control plane, set up as docs/administrators.md's
secure multi-user recipe says ("Use with JupyterHub"): the operator chart cluster-wide with
`jupyterServers.userNamespaces`, a namespace per user labelled with the page's
`user_namespace_labels` (as KubeSpawner makes it when the user's server starts: the owner, and Pod
Security "restricted"), each user's server holding a token of its own namespace's `default`
ServiceAccount and the page's config file (read from the page: harness/documented.py), with no
`namespace` setting: it makes its shells in its own namespace.

Departures, all because the tests run outside the cluster (no cluster DNS, no kube-proxy, no pods
for the servers): ``connect_via = "apiserver"`` (with the chart's `jupyterServers.serviceProxy`)
instead of ``service``; the token in a kubeconfig instead of a mounted ServiceAccount, whose
context names the account's namespace as the pod's mounted ``namespace`` file would
(`service_account_kubeconfig` leaves it at ``default``); namespaces `hub-<user>` instead of
`jupyter-<user>`, one control plane serving every test module.

Each user's server owns that user's CloudShells: alice's and bob's shells are CloudShells in their
own namespaces, run by the chart's operator on the tests' node (their pods admitted under
"restricted"), their terminals go hub proxy -> their server -> API server -> ttyd (under the token in
the shell's Secret), and neither server lists, opens or deletes the other's. Nor can bob reach
alice's shells behind his server's back: the credentials his server holds (so his notebook too) are
refused in her namespace; tests/security/test_attacks_on_cluster.py tries every such attack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_cloudtty.operator.namespaces import BINDING
from tests.harness.controlplane import KubectlError
from tests.harness.documented import z2jh_server_config, z2jh_user_namespace_labels
from tests.harness.hub import Hub, logs_on_failure
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import kubectl_json, ready

pytestmark = pytest.mark.slow  # a real JupyterHub and its users' servers, on the real control plane

OWNER = "jupyter-cloudtty.io/owner"
RELEASE = "hub-cloudtty"  # the chart's namespace (and release name)
USERS = ("alice", "bob")
# The page's `helm install` flags, but the images: the tests' node runs no images.
VALUES = {
    "clusterWide": True,
    "jupyterServers": {"userNamespaces": {"enabled": True}, "serviceProxy": True},
    "policy": {"maxTtlSeconds": 28800},
}


def namespace_of(user: str) -> str:
    return f"hub-{user}"  # the page's user_namespace_template is jupyter-{username}


@pytest.fixture(scope="module")
def release(tmp_path_factory, control_plane, node):
    """The chart, installed as the page's `helm install` says, its operator running."""
    control_plane.create_namespace(RELEASE)
    with Installed(control_plane, RELEASE, tmp_path_factory.mktemp("hub-release"), VALUES) as release:
        yield release
    control_plane.kubectl("delete", "namespace", RELEASE, *map(namespace_of, USERS), "--wait=false",
                          "--ignore-not-found")  # fmt: skip
    assert "Forbidden" not in release.log and "Traceback" not in release.log, release.log[-6000:]


@pytest.fixture(scope="module")
def kubeconfigs(control_plane, release) -> dict[str, Path]:
    """Each user's namespace, made after the operator as KubeSpawner makes it at the user's first start
    (labels and all at once), and the credentials of the user's server there (user -> kubeconfig)."""
    found = {}
    for user in USERS:
        namespace = namespace_of(user)
        manifest = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": z2jh_user_namespace_labels(user)}}  # fmt: skip
        control_plane.kubectl("create", "-f", "-", input=json.dumps(manifest))
        # The operator's grant of the chart's Jupyter role to the namespace's `default`.
        control_plane.kubectl("wait", "--for=create", f"rolebinding/{BINDING}", "serviceaccount/default",
                              "-n", namespace, "--timeout=60s")  # fmt: skip
        found[user] = control_plane.service_account_kubeconfig(namespace, "default")
        # What the pod's mounted `namespace` file would tell the server: its default namespace.
        control_plane.kubectl("config", "set-context", "--current", f"--namespace={namespace}",
                              kubeconfig=found[user])  # fmt: skip
    return found


@pytest.fixture(scope="module")
def hub(tmp_path_factory, kubeconfigs):
    root = tmp_path_factory.mktemp("hub-k8s")
    # The recipe's extraFiles entry, under the name it gives, in a directory of Jupyter's config path
    # (the recipe's /usr/local/etc/jupyter is one of the system's): the same file for every user.
    name, data = z2jh_server_config()
    data["CloudTTY"] |= {"connect_via": "apiserver"}
    config = root / "etc" / "jupyter"
    config.mkdir(parents=True)
    (config / name).write_text(json.dumps(data))
    user_env = {user: {"KUBECONFIG": str(kubeconfig)} for user, kubeconfig in kubeconfigs.items()}
    with Hub(root, users=USERS, singleuser_env={"JUPYTER_CONFIG_PATH": str(config)}, user_env=user_env) as hub:
        hub.start_servers(*USERS)
        yield hub


def cloudshell(cluster, namespace: str, name: str) -> dict:
    return kubectl_json(cluster, "get", "cloudshell", name, "-n", namespace)


@logs_on_failure
async def test_each_user_s_shell_is_a_cloudshell_of_theirs_and_only_their_server_opens_it(
    hub, control_plane, kubeconfigs
):
    alice, bob = hub.user("alice"), hub.user("bob")
    status, shell, _ = await alice.api("POST", body={"name": "a-term"})
    assert status == 201, shell
    assert shell["spec"]["ttlSecondsAfterStarted"] == 28800  # the recipe's max_ttl, for a shell asking none
    status, shell, _ = await bob.api("POST", body={"name": "b-term"})
    assert status == 201, shell
    # Each user's shell lives in that user's namespace, the one their server runs as.
    for user, name in (("alice", "a-term"), ("bob", "b-term")):
        obj = cloudshell(control_plane, namespace_of(user), name)
        assert obj["metadata"]["annotations"][OWNER] == user and obj["metadata"]["labels"][OWNER] == user
        # Its pod passed Pod Security "restricted" (the namespace's label): else no pod, never Ready.
        ready(control_plane, namespace_of(user), name, timeout=60)  # within pytest's 120 s, fixtures included

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
    cloudshell(control_plane, namespace_of("alice"), "a-term")  # still there
    # Nor do the credentials bob's server holds (his notebook's, too) reach alice's shells.
    with pytest.raises(KubectlError) as refused:
        control_plane.kubectl("get", "cloudshells", "-n", namespace_of("alice"), kubeconfig=kubeconfigs["bob"])
    assert "Forbidden" in refused.value.stderr and 'cannot list resource "cloudshells"' in refused.value.stderr

    for user, name in ((alice, "a-term"), (bob, "b-term")):
        assert (await user.api("DELETE", name))[0] == 204
    for user, name in (("alice", "a-term"), ("bob", "b-term")):
        control_plane.kubectl("wait", "--for=delete", f"cloudshell/{name}", f"job/cloudshell-{name}",
                              "-n", namespace_of(user), "--timeout=60s")  # fmt: skip
