"""Per-user namespaces on the real control plane: the operator binds each user's server to the chart's
Jupyter role in that user's namespace, and nowhere else.

The chart installed cluster-wide with ``jupyterServers.userNamespaces`` (tests/harness/installed.py),
its operator watching every namespace. Namespaces are made as
KubeSpawner makes them with ``user_namespace_labels`` (labelled with their owner); a user's server runs
as its namespace's ``default`` ServiceAccount, and a token of that account is what alice holds here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_cloudtty.operator.namespaces import BINDING
from tests.harness.controlplane import ControlPlane, KubectlError
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import kubectl_json

pytestmark = pytest.mark.slow

RELEASE = "users"
OWNER = "jupyter-cloudtty.io/owner"
ALICE, BOB, NOBODY = "jupyter-alice", "jupyter-bob", "jupyter-nobody"  # KubeSpawner's user_namespace_template
VALUES = {"clusterWide": True, "jupyterServers": {"userNamespaces": {"enabled": True}}}
JUPYTER_ROLE = f"{RELEASE}-operator-jupyter"
READS = ("get", "list", "watch")


def bound(cluster: ControlPlane, namespace: str) -> dict:
    """The server's RoleBinding in ``namespace``, once the operator has made it (a watch, not a poll)."""
    cluster.kubectl("wait", "--for=create", f"rolebinding/{BINDING}", "-n", namespace, "--timeout=60s")
    return kubectl_json(cluster, "get", "rolebinding", BINDING, "-n", namespace)


def user_namespace(cluster: ControlPlane, name: str, owner: str) -> None:
    cluster.create_namespace(name)
    cluster.kubectl("label", "namespace", name, f"{OWNER}={owner}")


@pytest.fixture(scope="module")
def release(control_plane, tmp_path_factory):
    cluster = control_plane
    cluster.create_namespace(RELEASE)
    user_namespace(cluster, ALICE, "alice")
    user_namespace(cluster, BOB, "bob")
    cluster.create_namespace(NOBODY)
    with Installed(cluster, RELEASE, tmp_path_factory.mktemp("release"), VALUES) as installed:
        yield installed
    # Refused nothing by RBAC (watching every namespace, it also meets other tests' namespaces being deleted).
    refused = [
        line for line in installed.log.splitlines() if "Forbidden" in line and "NamespaceTerminating" not in line
    ]
    assert "Traceback" not in installed.log and refused == [], installed.log[-3000:]
    cluster.kubectl("delete", "namespace", RELEASE, ALICE, BOB, NOBODY, "--wait=false")
    # Its cluster-wide objects too: this policy and these roles would otherwise outlive the module.
    kinds = "validatingadmissionpolicy,validatingadmissionpolicybinding,clusterrole,clusterrolebinding"
    cluster.kubectl("delete", kinds, "-l", f"app.kubernetes.io/instance={RELEASE}")


@pytest.fixture(scope="module")
def alice(control_plane, release) -> Path:
    """A token of alice's server's ServiceAccount (`default` in her namespace), as her pod holds it."""
    return control_plane.service_account_kubeconfig(ALICE, "default")


def test_each_user_s_namespace_gets_its_server_bound_to_the_jupyter_role(control_plane, release):
    cluster = control_plane
    for namespace in (ALICE, BOB):
        binding = bound(cluster, namespace)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                      "name": JUPYTER_ROLE}  # fmt: skip
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}]
    # Made at the same time as theirs (the operator's first listing of namespaces), had it been made.
    assert kubectl_json(cluster, "get", "rolebindings", "-n", NOBODY)["items"] == []


def can_i(cluster: ControlPlane, kubeconfig: Path, verb: str, resource: str, namespace: str) -> bool:
    """`kubectl auth can-i` as the holder of ``kubeconfig``: what the API server's authorizer answers."""
    try:
        return cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, kubeconfig=kubeconfig).strip() == "yes"
    except KubectlError as e:
        assert e.stdout.strip() == "no", e.stderr
        return False


SHELLS = "cloudshells.cloudshell.cloudtty.io"
# patch: a running shell's new TTL (the admission policy lets nothing else of a running shell change).
HER_RIGHTS = [("create", SHELLS), ("list", SHELLS), ("watch", SHELLS), ("patch", SHELLS), ("delete", SHELLS),
              ("get", "secrets")]  # fmt: skip
NOT_HERS = [("list", "secrets"), ("create", "pods"), ("create", "pods/exec"), ("update", SHELLS),
            ("create", "rolebindings")]  # fmt: skip


def test_alice_s_server_may_do_its_work_in_her_namespace_and_nothing_in_bob_s(control_plane, alice):
    cluster = control_plane
    bound(cluster, ALICE)
    assert {right: can_i(cluster, alice, *right, ALICE) for right in HER_RIGHTS} == dict.fromkeys(HER_RIGHTS, True)
    assert {right: can_i(cluster, alice, *right, ALICE) for right in NOT_HERS} == dict.fromkeys(NOT_HERS, False)
    assert {right: can_i(cluster, alice, *right, BOB) for right in HER_RIGHTS} == dict.fromkeys(HER_RIGHTS, False)


def cloudshell(name: str, namespace: str, owner: str) -> str:
    return json.dumps({"apiVersion": "cloudshell.cloudtty.io/v1alpha1", "kind": "CloudShell",
                       "metadata": {"name": name, "namespace": namespace, "labels": {OWNER: owner},
                                    "annotations": {OWNER: owner}}})  # fmt: skip


def test_alice_s_server_makes_reads_and_deletes_her_shells_and_is_refused_bob_s(control_plane, alice):
    """Real requests with her token: her shell and its Secret (the ttyd token her server reads), then
    the same of bob's shell in his namespace, refused by RBAC."""
    cluster = control_plane
    bound(cluster, ALICE)
    cluster.kubectl("create", "-f", "-", input=cloudshell("hers", ALICE, "alice"), kubeconfig=alice)
    cluster.kubectl("create", "-f", "-", input=cloudshell("his", BOB, "bob"))  # as bob's server would
    for namespace, shell in ((ALICE, "hers"), (BOB, "his")):  # each shell's Secret, made by the operator
        cluster.kubectl("wait", "--for=create", f"secret/cloudshell-{shell}", "-n", namespace, "--timeout=60s")
    listed = cluster.kubectl("get", "cloudshells", "-n", ALICE, "-o", "name", kubeconfig=alice)
    assert listed.split() == ["cloudshell.cloudshell.cloudtty.io/hers"]
    token = cluster.kubectl("get", "secret", "cloudshell-hers", "-n", ALICE, "-o", "jsonpath={.data.token}",
                            kubeconfig=alice)  # fmt: skip
    assert token
    cluster.kubectl("delete", "cloudshell", "hers", "-n", ALICE, "--timeout=60s", kubeconfig=alice)

    def refused(*args: str, input: str | None = None) -> str:
        with pytest.raises(KubectlError) as refusal:
            cluster.kubectl(*args, "-n", BOB, kubeconfig=alice, input=input)
        return refusal.value.stderr

    assert 'cannot create resource "cloudshells"' in refused("create", "-f", "-", input=cloudshell("x", BOB, "bob"))
    assert 'cannot list resource "cloudshells"' in refused("get", "cloudshells")
    assert 'cannot delete resource "cloudshells"' in refused("delete", "cloudshell", "his")
    assert 'cannot get resource "secrets"' in refused("get", "secret", "cloudshell-his")
    assert kubectl_json(cluster, "get", "cloudshell", "his", "-n", BOB)["metadata"]["labels"][OWNER] == "bob"


def test_the_binding_comes_back_when_deleted_and_goes_with_the_label(control_plane, release):
    cluster = control_plane
    carol = "jupyter-carol"
    user_namespace(cluster, carol, "carol")
    first = bound(cluster, carol)["metadata"]["uid"]
    cluster.kubectl("delete", "rolebinding", BINDING, "-n", carol)  # returns once it is gone
    assert bound(cluster, carol)["metadata"]["uid"] != first
    cluster.kubectl("label", "namespace", carol, f"{OWNER}-")
    cluster.kubectl("wait", "--for=delete", f"rolebinding/{BINDING}", "-n", carol, "--timeout=60s")
    server = cluster.service_account_kubeconfig(carol, "default")
    assert not can_i(cluster, server, "create", SHELLS, carol)
    cluster.kubectl("delete", "namespace", carol, "--wait=false")


def test_a_restarted_operator_binds_no_namespace_twice(control_plane, release):
    """The bindings it made are in its index once it has listed them: a restart asks nothing of them."""
    cluster = control_plane
    for namespace in (ALICE, BOB):
        bound(cluster, namespace)
    _, mark = cluster.audit()
    release.stop_operator()
    release.start_operator()
    # A namespace labelled after the restart: once it is bound, the restarted operator has handled
    # the first listing of namespaces, which it dispatched before this one's event.
    dave = "jupyter-dave"
    user_namespace(cluster, dave, "dave")
    bound(cluster, dave)
    events, _ = cluster.audit(mark)
    done = [e for e in events if e.get("stage") == "ResponseComplete" and (e.get("objectRef") or {}).get("resource")]
    by_operator = [e for e in done if e["user"]["username"] == release.operator_user]
    writes = [(e["verb"], e["objectRef"]["namespace"]) for e in by_operator if e["objectRef"]["resource"] ==
              "rolebindings" and e["objectRef"].get("name") == BINDING and e["verb"] not in READS]  # fmt: skip
    assert writes == [("create", dave)]
    cluster.kubectl("delete", "namespace", dave, "--wait=false")
