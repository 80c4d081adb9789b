"""The warm pool's objects and decisions (pure: no I/O; ``pool.py`` makes the calls).

A pool pod is made before anyone asks for a shell: its own ServiceAccount (no role bound to it until
a shell claims the pod), its own Secret (the agent token, owned by that ServiceAccount), and the pod
(the ServiceAccount then owned by it, so both go with it). It runs ``agent.sh``: ttyd under the agent
token, waiting for a shell's assignment. Nothing of any user is in it until then; what a shell brings
(its token, env values, ttyd flags, command, idle rule) reaches it in ``assignment`` at claim time.
A shell that needs what a running pod cannot take (another image, another user, a kubeconfig or a
home mounted, env read by the kubelet) starts cold, and ``misfit`` says why.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from importlib.resources import files
from typing import Any

from jupyter_cloudtty.cloudshell.names import POOL_LABEL, POOL_POD_LABEL, SHELL_LABEL, TOKEN_KEY, TTYD_PORT

from . import manifests
from .settings import Settings

AGENT = files(__package__).joinpath("agent.sh").read_text()
AGENT_TOKEN = "CLOUDTTY_AGENT_TOKEN"  # the pool pod's env variable holding its agent token (agent.sh)
AGENT_PATH = "/cloudtty-pool"  # the agent's ttyd serves under this, then the agent token
NETWORK_POLICY = "cloudshell-pool"  # one per namespace: every pool pod's, claimed or not
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # an env name sh can export


def pool_pod(namespace: str, name: str, settings: Settings) -> dict[str, Any]:
    """The pool pod ``name``: the shell container without any shell's spec, running the agent.

    It runs as its own ServiceAccount ``name`` (its token mounted as in any pod) and reads its agent
    token from its own Secret ``name``; labelled with the template's hash (``key``) and its name.
    """
    base = manifests.templated(settings)["spec"]["template"]
    container = {
        "name": manifests.CONTAINER,
        "image": manifests.default_image(settings),
        "command": ["sh", "-c", AGENT, "ttyd"],
        "ports": [{"name": "ttyd", "containerPort": TTYD_PORT, "protocol": "TCP"}],
        "env": [
            *manifests.pod_env(),
            {"name": AGENT_TOKEN, "valueFrom": {"secretKeyRef": {"name": name, "key": TOKEN_KEY}}},
        ],
        **manifests.probes(),
    }
    rendered = {"spec": {"restartPolicy": "Never", "serviceAccountName": name, "containers": [container]}}
    template = manifests.merge(base, rendered)
    labels = {**(template.get("metadata") or {}).get("labels", {}), POOL_LABEL: key(settings),
              POOL_POD_LABEL: name, manifests.MANAGED_BY: manifests.OPERATOR}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": template["spec"],
    }


def key(settings: Settings) -> str:
    """The hash of what every pool pod is made from: a pod of another template is not the pool's any more."""
    base = manifests.templated(settings)["spec"]["template"]
    made_of = {"template": base, "image": manifests.default_image(settings), "agent": AGENT}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:12]


def service_account(namespace: str, name: str) -> dict[str, Any]:
    """The pool pod's own identity: bound to no role until a shell claims the pod."""
    labels = {POOL_POD_LABEL: name, manifests.MANAGED_BY: manifests.OPERATOR}
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}  # fmt: skip


def agent_secret(account: dict[str, Any], token: str) -> dict[str, Any]:
    """The agent token, in a Secret owned by the pool pod's ServiceAccount (which the pod owns)."""
    meta = account["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta["labels"]),
            "ownerReferences": [owned_by(account)],
        },
        "type": "Opaque",
        "immutable": True,
        "data": {TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def owned_by(obj: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to ``obj`` (as the API server returned it): goes with it, controls nothing."""
    return {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"]}  # fmt: skip


def network_policy(namespace: str, settings: Settings) -> dict[str, Any]:
    """Every pool pod's ttyd port reachable only from the shells' peers (``networkPolicy.allowFrom``),
    before a claim and after it, as a shell's own NetworkPolicy allows; and from the operator's pods,
    which hand a claimed pod its shell (``pool.connectVia: direct``)."""
    rules = manifests.ttyd_ingress((*settings.network_policy.allow_from, *settings.pool.operator_peers))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NETWORK_POLICY,
            "namespace": namespace,
            "labels": {manifests.MANAGED_BY: manifests.OPERATOR},
        },  # fmt: skip
        "spec": {
            "podSelector": {"matchExpressions": [{"key": POOL_LABEL, "operator": "Exists"}]},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def misfit(shell: dict[str, Any], settings: Settings) -> tuple[str, str] | None:
    """(reason, message) why ``shell`` (validated) cannot start in a pool pod, or None if it can."""
    spec, namespace = shell["spec"], shell["metadata"]["namespace"]
    if settings.pool.size(namespace) == 0:
        return "NoPool", f"the operator keeps no pool in namespace {namespace}"
    image = manifests.default_image(settings)
    if spec.get("image") and spec["image"] != image:
        return "ImageDiffers", f"its image {spec['image']} is not the pool's ({image})"
    if spec.get("runAsUser") is not None:
        return "RunAsUser", "it runs as a user of its own (spec.runAsUser), which a running pod cannot change"
    if manifests.kubeconfig_source(spec, settings)[0] is not None:
        return "Kubeconfig", "its kubeconfig is mounted from a Secret or ConfigMap, which a running pod cannot add"
    if manifests.home_claim_of(shell, settings):
        return "Home", "its owner's home is mounted, which a running pod cannot add"
    if manifests.recorded(shell, settings):
        return "Recorded", "it is recorded, by a recorder in front of its ttyd, which a running pod cannot add"
    for var in spec.get("env", ()):
        if "valueFrom" in var:
            return "EnvValueFrom", f"env {var['name']} is read by the kubelet as the pod starts (valueFrom)"
        if not IDENTIFIER.match(var["name"]):
            return "EnvName", f"env {var['name']!r} is not a name a shell can export"
    return None


def claim_patch(shell: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The claim of ``pod`` for ``shell``: the shell's labels (its Service and NetworkPolicy select it),
    an ownerReference (deleted with the shell, even before its Job adopts it), and the pod's
    resourceVersion, so that of two claims of one pod the second fails (409), whoever makes it."""
    meta = pod["metadata"]
    owner = {**manifests.owner_reference(shell), "controller": False, "blockOwnerDeletion": False}
    return {"metadata": {"resourceVersion": meta["resourceVersion"], "labels": {SHELL_LABEL: shell["metadata"]["name"]},
                         "ownerReferences": [owner]}}  # fmt: skip


def assignment(shell: dict[str, Any], settings: Settings, token: str) -> bytes:
    """What the agent is given for ``shell`` (sourced by agent.sh): the token and env values exported,
    ttyd's arguments after the agent's own, and the cold container's script in ``u``."""
    spec = shell["spec"]
    values = {var["name"]: var["value"] for var in spec.get("env", ()) if "value" in var}
    script, args = manifests.ttyd_invocation(shell, manifests.idle_seconds(spec, settings), values)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items() if name != manifests.TTYD_TOKEN]
    lines += [
        f"export {manifests.TTYD_TOKEN}={shlex.quote(token)}",
        'set -- "$@" ' + " ".join(shlex.quote(arg) for arg in args),
        f"u={shlex.quote(script)}",
    ]
    return ("\n".join(lines) + "\n").encode()


def typed(payload: bytes) -> bytes:
    """``payload`` as typed at the agent's terminal: base64 in lines a terminal takes whole, then ^D."""
    encoded = base64.encodebytes(payload)  # 76 characters a line
    return encoded.replace(b"\n", b"\r") + b"\x04"


def ready(pod: dict[str, Any]) -> bool:
    """A pool pod a shell may claim: Running, Ready, not being deleted, not anyone's."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    if meta.get("deletionTimestamp") or SHELL_LABEL in (meta.get("labels") or {}):
        return False
    ok = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ok


def finished(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed") or bool(
        pod.get("metadata", {}).get("deletionTimestamp")
    )
