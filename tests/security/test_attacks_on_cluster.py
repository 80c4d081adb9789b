"""Bob against alice's shells with his own pod's credentials, on the real control plane.

The setup is the one docs/administrators.md recommends for JupyterHub (per-user namespaces): the
chart installed cluster-wide with ``jupyterServers.userNamespaces``, a namespace per user labelled
with its owner (as KubeSpawner's ``user_namespace_labels`` makes them), Pod Security "restricted"
enforced there, each user's server running as its namespace's ``default`` ServiceAccount. Alice has
a shell holding a secret in its env and a file in its home.

Bob runs code in his own server, so he holds its ServiceAccount's token: every row below is made
with exactly that token (kubectl, as ``%kubectl`` in his notebook runs it, or plain HTTP), straight
at the API server or at alice's pod, skipping every Jupyter server. Each row is refused by
Kubernetes itself (RBAC, the chart's ValidatingAdmissionPolicy) or by alice's ttyd (her shell's
token); the last tests check that nothing of alice's was read, changed or deleted (her shell, her
Secret, her terminal through her own server, and the API server's audit log of bob's requests), and
that bob's own shells, made within the policy, work.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import websocket_connect

from jupyter_cloudtty.cloudshell.names import secret_name
from jupyter_cloudtty.operator.namespaces import BINDING
from tests.harness.controlplane import ControlPlane, KubectlError
from tests.harness.installed import Installed
from tests.harness.shells_on_cluster import enforced, kubectl_json, ready, server

pytestmark = pytest.mark.slow

OWNER = "jupyter-cloudtty.io/owner"
RELEASE = "attack-ops"
ALICE, BOB = "attack-alice", "attack-bob"  # KubeSpawner's user_namespace_template, e.g. jupyter-{username}
SHELL = "work"
ALICE_SECRET = "alice-aws-key-0f9e8d7c"  # what she put in her shell's env
VALUES = {
    "clusterWide": True,
    "jupyterServers": {"userNamespaces": {"enabled": True}, "serviceProxy": True},
    "policy": {"maxTtlSeconds": 28800},
}
# What KubeSpawner's user_namespace_labels (and the administrator) put on a user's namespace.
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


def cloudshell(name: str, namespace: str, owner: str, **spec: object) -> dict:
    return {
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": name, "namespace": namespace, "labels": {OWNER: owner},
                     "annotations": {OWNER: owner}},
        "spec": spec,
    }  # fmt: skip


@dataclass
class World:
    cluster: ControlPlane
    release: Installed
    alice: Path  # kubeconfig: alice's server's ServiceAccount token
    bob: Path  # bob's
    bob_user: str  # as the API server knows him
    pod_ip: str  # of alice's shell
    shell: dict  # alice's CloudShell as stored before the attacks
    audit_mark: int

    def as_bob(self, *args: str, input: str | None = None) -> str:
        """kubectl with bob's token; what he is told when it is refused."""
        try:
            out = self.cluster.kubectl(*args, kubeconfig=self.bob, input=input)
        except KubectlError as e:
            return e.stderr.strip()
        raise AssertionError(f"bob was allowed: kubectl {' '.join(args)}\n{out}")

    def bob_creates(self, obj: dict) -> str:
        return self.as_bob("create", "-f", "-", input=json.dumps(obj))

    def bob_http(self, url: str, method: str = "GET", body: dict | None = None) -> tuple[int, str]:
        """A plain HTTPS request to the API server with bob's token (no kubectl in between)."""
        token = self.cluster.kubectl("config", "view", "--raw", "-o", "jsonpath={.users[0].user.token}",
                                     kubeconfig=self.bob)  # fmt: skip
        context = ssl.create_default_context(cafile=str(self.cluster.ca_file))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/merge-patch+json"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.cluster.url + url, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")


@pytest.fixture(scope="module")
def world(control_plane, node, tmp_path_factory) -> World:
    cluster = control_plane
    for name in (RELEASE, ALICE, BOB):
        cluster.create_namespace(name)
    for name, owner in ((ALICE, "alice"), (BOB, "bob")):
        cluster.kubectl("label", "namespace", name, f"{OWNER}={owner}", RESTRICTED)
    with Installed(cluster, RELEASE, tmp_path_factory.mktemp("release"), VALUES) as release:
        for name in (ALICE, BOB):  # the operator grants each user's server its own namespace
            cluster.kubectl("wait", "--for=create", f"rolebinding/{BINDING}", "-n", name, "--timeout=60s")
        alice = cluster.service_account_kubeconfig(ALICE, "default")
        bob = cluster.service_account_kubeconfig(BOB, "default")
        enforced(cluster, bob, cloudshell("probe", BOB, "bob", runAsUser="root"))
        # Alice's shell, made with her server's credentials, as her server makes it.
        mine = cloudshell(SHELL, ALICE, "alice", env=[{"name": "AWS_SECRET_ACCESS_KEY", "value": ALICE_SECRET}])
        cluster.kubectl("create", "-f", "-", input=json.dumps(mine), kubeconfig=alice)
        stored = ready(cluster, ALICE, SHELL)
        pods = kubectl_json(cluster, "get", "pods", "-n", ALICE, "-l", f"cloudshell.cloudtty.io/owner-name={SHELL}")
        (pod,) = pods["items"]
        _, mark = cluster.audit()
        yield World(cluster, release, alice, bob, "system:serviceaccount:attack-bob:default",
                    pod["status"]["podIP"], stored, mark)  # fmt: skip
        assert "Traceback" not in release.log, release.log[-3000:]


# --- the attacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    attack: str  # what bob does, for the table in docs/administrators.md
    refused_by: str
    run: Callable[[World], str]  # what bob is told
    answer: str  # a part of it


def _alice_proxy(world: World) -> str:
    status, body = world.bob_http(f"/api/v1/namespaces/{ALICE}/services/cloudshell-{SHELL}:7681/proxy/")
    return f"{status} {body}"


def _relabel(world: World) -> str:
    """A PATCH as it is (kubectl's label and patch commands GET the object first)."""
    path = f"/apis/cloudshell.cloudtty.io/v1alpha1/namespaces/{ALICE}/cloudshells/{SHELL}"
    status, body = world.bob_http(path, "PATCH", {"metadata": {"labels": {OWNER: "bob"}}})
    return f"{status} {body}"


async def straight_at_ttyd(pod_ip: str, path: str) -> str:
    """A WebSocket to ttyd at the pod's address: "connected", or how ttyd refused it (it drops a
    WebSocket to a path outside its base path without an HTTP answer)."""
    try:
        connection = await websocket_connect(f"ws://{pod_ip}:7681{path}", subprotocols=["tty"])
    except (HTTPClientError, OSError) as e:
        return f"refused: {e}"
    connection.close()
    return "connected"


def _ttyd(path: str) -> Callable[[World], str]:
    return lambda world: asyncio.run(straight_at_ttyd(world.pod_ip, path))


def _ttyd_page(world: World) -> str:
    try:
        with urllib.request.urlopen(f"http://{world.pod_ip}:7681/", timeout=30) as response:
            return f"{response.status} {response.read()[:200]!r}"
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.reason}"


def _own(world: World, **spec: object) -> str:
    return world.bob_creates(cloudshell("evil", BOB, "bob", **spec))


FORBIDDEN = "Forbidden"
DENIED = "denied request"  # the ValidatingAdmissionPolicy's words, then its message

ROWS = [
    # RBAC: bob's ServiceAccount has rights in his own namespace only.
    Row("list-her-shells", "lists alice's CloudShells (spec.env holds her key)", "RBAC",
        lambda w: w.as_bob("get", "cloudshells", "-n", ALICE), 'cannot list resource "cloudshells"'),
    Row("read-her-shell", "reads her CloudShell", "RBAC",
        lambda w: w.as_bob("get", "cloudshell", SHELL, "-n", ALICE, "-o", "yaml"), 'cannot get resource "cloudshells"'),
    Row("read-her-secret", "reads her shell's Secret (ttyd token, env values)", "RBAC",
        lambda w: w.as_bob("get", "secret", f"cloudshell-{SHELL}", "-n", ALICE, "-o", "yaml"),
        'cannot get resource "secrets"'),
    Row("read-her-pods", "reads her pods' specs", "RBAC",
        lambda w: w.as_bob("get", "pods", "-n", ALICE, "-o", "yaml"), 'cannot list resource "pods"'),
    Row("exec-into-her-pod", "execs into her shell's pod", "RBAC",
        lambda w: w.as_bob("exec", "-n", ALICE, f"job/cloudshell-{SHELL}", "--", "cat", "/etc/hostname"),
        FORBIDDEN),
    Row("delete-her-shell", "deletes her shell", "RBAC",
        lambda w: w.as_bob("delete", "cloudshell", SHELL, "-n", ALICE), 'cannot delete resource "cloudshells"'),
    Row("relabel-her-shell", "relabels her shell as his", "RBAC", _relabel, 'cannot patch resource \\"cloudshells\\"'),
    Row("shell-in-her-namespace", "creates a shell in her namespace, labelled as hers", "RBAC",
        lambda w: w.bob_creates(cloudshell("trap", ALICE, "alice")), 'cannot create resource "cloudshells"'),
    Row("her-service-proxy", "opens her ttyd through the API server's service proxy", "RBAC",
        _alice_proxy, "403"),
    Row("grant-himself", "binds himself to edit in her namespace", "RBAC",
        lambda w: w.as_bob("create", "rolebinding", "mine", "-n", ALICE, "--clusterrole=edit",
                           f"--serviceaccount={BOB}:default"), 'cannot create resource "rolebindings"'),
    Row("own-pod", "runs a root pod of his own, bypassing CloudShells", "RBAC",
        lambda w: w.as_bob("run", "root", "-n", BOB, "--image=busybox", "--overrides",
                           '{"spec":{"containers":[{"name":"root","image":"busybox","securityContext":{"privileged":true}}]}}'),
        'cannot create resource "pods"'),
    # ttyd: without the token in alice's Secret, her pod's address is not enough.
    Row("straight-at-her-ttyd", "opens a terminal straight at her pod's ttyd", "her shell's token",
        _ttyd("/ws"), "refused"),
    Row("guessed-token", "opens her pod's ttyd with a guessed token", "her shell's token",
        _ttyd("/0123456789abcdef0123456789abcdef0123456789a/ws"), "refused"),
    Row("her-ttyd-page", "loads her pod's ttyd page", "her shell's token", _ttyd_page, "404"),
    # Admission: in his own namespace, a shell only within the administrator's policy.
    Row("own-image", "makes a shell of his own image", "admission",
        lambda w: _own(w, image="evil.example/miner:1"), "spec.image"),
    Row("root", "makes a root shell", "admission", lambda w: _own(w, runAsUser="root"), "spec.runAsUser"),
    Row("uid-0", "makes a uid-0 shell", "admission", lambda w: _own(w, runAsUser="0"), "spec.runAsUser"),
    Row("other-secret", "mounts another team's Secret as his kubeconfig", "admission",
        lambda w: _own(w, secretRef={"name": "team-deploy-key"}), "spec.secretRef"),
    Row("configmap", "mounts a ConfigMap as his kubeconfig", "admission",
        lambda w: _own(w, configmapName="kube-root-ca.crt"), "spec.configmapName"),
    Row("value-from", "reads a Secret into his env", "admission",
        lambda w: _own(w, env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]),
        "spec.env"),
    Row("node-port", "exposes a shell on a NodePort", "admission",
        lambda w: _own(w, exposureMode="NodePort"), "spec.exposureMode"),
    Row("ingress-snippet", "puts annotations (an nginx snippet) on the shared Ingress", "admission",
        lambda w: _own(w, exposureMode="Ingress", ingressConfig={
            "annotations": {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"}}),
        "spec."),
    Row("istio-system", "writes a VirtualService into istio-system", "admission",
        lambda w: _own(w, exposureMode="VirtualService",
                       virtualServiceConfig={"gateway": "istio-system/gw", "namespace": "istio-system"}),
        "spec."),
    Row("endless", "asks for a TTL beyond the policy's", "admission",
        lambda w: _own(w, ttlSecondsAfterStarted=10**6), "ttl"),
    Row("as-alice", "labels a shell of his namespace as alice's", "admission",
        lambda w: w.bob_creates(cloudshell("as-her", BOB, "alice")), OWNER),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bob_is_refused(world, row):
    told = row.run(world)
    assert row.answer in told, f"{row.attack}: {told}"
    if row.refused_by == "RBAC":
        assert FORBIDDEN.lower() in told.lower() or "403" in told, told
    if row.refused_by == "admission":
        assert DENIED in told and "ValidatingAdmissionPolicy" in told, told


# --- and nothing of alice's moved --------------------------------------------------------------


def test_nothing_of_alice_s_was_read_changed_or_deleted(world):
    """The API server's own record: none of bob's requests about alice's namespace succeeded; her shell
    is the same object, untouched; none of his refused shells exists."""
    cluster = world.cluster
    events, _ = cluster.audit(world.audit_mark)
    by_bob = [e for e in events if e["user"]["username"] == world.bob_user and e.get("stage") == "ResponseComplete"]
    assert by_bob, "the attacks left no trace in the audit log: did they run?"
    about_alice = [e for e in by_bob if (e.get("objectRef") or {}).get("namespace") == ALICE]
    allowed = [(e["verb"], e.get("requestURI")) for e in about_alice if e["responseStatus"]["code"] < 400]
    assert allowed == []
    now = kubectl_json(cluster, "get", "cloudshell", SHELL, "-n", ALICE)
    assert now["metadata"]["uid"] == world.shell["metadata"]["uid"]
    assert now["metadata"]["labels"][OWNER] == "alice" and now["spec"] == world.shell["spec"]
    assert now["status"]["phase"] == "Ready"
    assert [s["metadata"]["name"] for s in kubectl_json(cluster, "get", "cloudshells", "-n", BOB)["items"]] == []
    assert kubectl_json(cluster, "get", "pods", "-n", BOB)["items"] == []


def test_her_secrets_are_kept_where_only_she_reaches_them(world):
    """What a reader of her pods or CloudShells' status would see holds neither her env value nor the
    token: both are in her shell's Secret (which her server may read, and bob may not)."""
    cluster = world.cluster
    pods = cluster.kubectl("get", "pods", "-n", ALICE, "-o", "json")
    status = json.dumps(kubectl_json(cluster, "get", "cloudshell", SHELL, "-n", ALICE)["status"])
    token = kubectl_json(cluster, "get", "secret", secret_name(world.shell), "-n", ALICE)["data"]["token"]
    assert ALICE_SECRET not in pods and token not in pods and token not in status
    cluster.kubectl("get", "secret", secret_name(world.shell), "-n", ALICE, kubeconfig=world.alice)  # hers to read
    # With the token, the same address answers: what refused bob was the token, not the network.
    plain = base64.b64decode(token).decode()
    assert asyncio.run(straight_at_ttyd(world.pod_ip, f"/{plain}/ws")) == "connected"


async def test_alice_s_shell_still_works_through_her_server_and_bob_s_own_shell_too(world, tmp_path):
    """Her server (her ServiceAccount, connect_via apiserver) opens her shell: her env value is there;
    and bob, within the policy, gets a working shell in his own namespace."""
    jupyter = server(ALICE, world.alice, tmp_path / "alice")
    async with jupyter:
        term = await jupyter.terminal(SHELL)
        await term.send('echo "key=$AWS_SECRET_ACCESS_KEY"\r')
        await term.expect(f"key={ALICE_SECRET}")
        await term.close()
    cluster = world.cluster
    cluster.kubectl("create", "-f", "-", input=json.dumps(cloudshell("mine", BOB, "bob")), kubeconfig=world.bob)
    mine = ready(cluster, BOB, "mine")
    assert mine["spec"]["ttlSecondsAfterStarted"] == 28800  # asked for none: the policy's longest, not forever
