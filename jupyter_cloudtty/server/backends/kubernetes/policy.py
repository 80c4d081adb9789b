"""A user's request as a CloudShell under the administrator's policy, and a CloudShell as a Shell.

Pure: no I/O. The server, never the request, decides the namespace, the owner (a label
for selecting, an annotation with the exact name), the image within ``allowed_images``,
the exposure, the kubeconfig and the longest TTL. What a request may not set is refused
naming the field and who sets it, rather than silently overridden.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from jupyter_cloudtty.cloudshell import GROUP, VERSION
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.model import Phase, Shell, condition, now, parse_time
from jupyter_cloudtty.cloudshell.names import RECORD_ANNOTATION
from jupyter_cloudtty.cloudshell.spec import with_idle_rule, with_ttl_bound

OWNER_LABEL = "jupyter-cloudtty.io/owner"
OWNER_ANNOTATION = "jupyter-cloudtty.io/owner"
MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyter-cloudtty"}
# How long a shell may show no status before we say that no operator seems to act on it.
UNPICKED_SECONDS = 30

_EXPOSURE = "how shells are reached is the administrator's choice (c.CloudTTY.default_exposure)"
SERVER_FIELDS = {
    "secretRef": "the shell's kubeconfig is the administrator's choice (c.CloudTTY.kubeconfig_secret)",
    "configmapName": "the shell's kubeconfig is the administrator's choice (c.CloudTTY.kubeconfig_secret)",
    "runAsUser": "the user a shell runs as is the cluster's policy, not a request's",
    "exposureMode": _EXPOSURE,
    "ingressConfig": _EXPOSURE,
    "virtualServiceConfig": _EXPOSURE,
    "pathPrefix": _EXPOSURE,
    "pathSuffix": _EXPOSURE,
    "urlArg": "arguments would come from the terminal's URL, which this server does not pass on",
}
SERVER_ENV = {"TTYD_CREDENTIAL": "set by the server"}
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class Policy:
    """The administrator's choices (``c.CloudTTY.*``), applied to every request."""

    namespace: str
    default_image: str = ""
    allowed_images: tuple[str, ...] = ()
    max_ttl: int = 0  # seconds; 0: no limit
    idle_timeout: int = 0  # seconds; 0: no idle rule
    default_exposure: str = "ClusterIP"
    kubeconfig_secret: str = ""
    extra_labels: dict[str, str] = field(default_factory=dict)


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def owner_label(owner: str) -> str:
    """A label value naming ``owner``: the name itself when it is a valid value, else a
    readable part and a hash (the annotation keeps the exact name)."""
    if _LABEL_VALUE.fullmatch(owner):  # not match: `$` also takes a trailing newline
        return owner
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", owner)[:40].strip("-_.")
    return f"{readable}-{_digest(owner)}" if readable else f"u-{_digest(owner)}"


def dns_label(owner: str) -> str:
    """``owner`` as part of a DNS-1123 label (lowercase): the name itself when it is one (40
    characters at most, no ``--``), else a readable part, ``--`` and a hash of the exact name.

    A name kept as is never holds ``--``, and a hashed one always does, so two owners never share
    one (``john.smith`` and a user literally named ``john-smith-<that hash>`` did): a per-user
    namespace is one user's. The ``--`` is kubespawner's way for the same problem.
    """
    if len(owner) <= 40 and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", owner):
        return owner
    readable = re.sub(r"[^a-z0-9]+", "-", owner.lower()).strip("-")[:40].strip("-")
    return f"{readable}--{_digest(owner)}" if readable else f"u--{_digest(owner)}"


def namespace_for(template: str, default: str, owner: str) -> str:
    """The namespace of ``owner``'s shells: ``template`` with ``{username}``, else ``default``."""
    if not template:
        return default
    try:
        namespace = template.format(username=dns_label(owner))
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"c.CloudTTY.namespace_template {template!r}: only {{username}} may be used ({e})") from None
    if len(namespace) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
        raise ValueError(f"c.CloudTTY.namespace_template {template!r} gives {namespace!r}, not a namespace name")
    return namespace


def owner_selector(owner: str) -> str:
    return f"{OWNER_LABEL}={owner_label(owner)}"


def owned_by(obj: dict[str, Any], owner: str) -> bool:
    """The label (what the server selects by) and the exact name in the annotation agree."""
    meta = obj.get("metadata") or {}
    return (meta.get("labels") or {}).get(OWNER_LABEL) == owner_label(owner) and (meta.get("annotations") or {}).get(
        OWNER_ANNOTATION
    ) == owner


def apply(spec: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A validated request spec under ``policy``; InvalidShell for what the request may not set."""
    for key, why in SERVER_FIELDS.items():
        if key in spec:
            raise InvalidShell(f"spec.{key}", f"not set by a request: {why}")
    for i, var in enumerate(spec.get("env", ())):
        if "valueFrom" in var:
            raise InvalidShell(
                f"spec.env[{i}].valueFrom",
                "not allowed from Jupyter: it could read any Secret or ConfigMap of the namespace; give a value",
            )
        if var["name"] in SERVER_ENV:
            raise InvalidShell(f"spec.env[{i}].name", f"{var['name']} is {SERVER_ENV[var['name']]}")
    out = dict(spec)
    if "image" in spec:
        if not policy.allowed_images:
            why = "choosing an image is not allowed here (c.CloudTTY.allowed_images is empty)"
            raise InvalidShell("spec.image", why)
        if not any(fnmatchcase(spec["image"], pattern) for pattern in policy.allowed_images):
            allowed = ", ".join(policy.allowed_images)
            raise InvalidShell("spec.image", f"{spec['image']!r} is not an allowed image (allowed: {allowed})")
    elif policy.default_image:
        out["image"] = policy.default_image
    out = with_idle_rule(with_ttl_bound(out, policy.max_ttl), policy.idle_timeout)
    out["exposureMode"] = policy.default_exposure
    if policy.kubeconfig_secret:
        out["secretRef"] = {"name": policy.kubeconfig_secret}
    return out


def cloudshell(name: str, spec: dict[str, Any], owner: str, policy: Policy, record: bool = False) -> dict[str, Any]:
    """The CloudShell object for ``owner``'s request (``spec`` validated, not yet under policy; ``record``:
    its terminal is recorded).

    The one place a request meets the policy: ``apply``'s output sets fields a request may not
    (``exposureMode``, ``secretRef``), so it cannot be applied twice.
    """
    labels = {**policy.extra_labels, **MANAGED_BY, OWNER_LABEL: owner_label(owner)}
    annotations = {OWNER_ANNOTATION: owner, **({RECORD_ANNOTATION: "true"} if record else {})}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CloudShell",
        "metadata": {
            "name": name,
            "namespace": policy.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": apply(spec, policy),
    }


def deleting(obj: dict[str, Any]) -> bool:
    """Being deleted (a finalizer may hold it a while): gone, for the user."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def shell(obj: dict[str, Any], at: datetime | None = None) -> Shell:
    """What the REST API shows of a CloudShell: its spec and status as the operator wrote them.

    A shell no operator has acted on for a while says so, since that is the usual reason
    (no operator installed, or it does not watch this namespace).
    """
    meta, status = obj["metadata"], obj.get("status") or {}
    created = parse_time(meta.get("creationTimestamp")) or now()
    model = Shell(
        name=meta["name"],
        spec=dict(obj.get("spec") or {}),
        created=created,
        phase=status.get("phase") or Phase.PENDING,
        access_url=status.get("accessUrl") or "",
        last_schedule_time=parse_time(status.get("lastScheduleTime")),
        conditions=list(status.get("conditions") or []),
        start=status.get("start") or "",
        pod_name=status.get("podName") or "",
        restarts=status.get("restarts") if isinstance(status.get("restarts"), int) else 0,
        record=(meta.get("annotations") or {}).get(RECORD_ANNOTATION) == "true",
    )
    at = at or now()
    if not status and (at - created).total_seconds() > UNPICKED_SECONDS:
        message = (
            f"no operator has acted on this shell for {int((at - created).total_seconds())}s: is the "
            f"jupyter-cloudtty operator installed, and does it watch namespace {meta.get('namespace')!r}?"
        )
        model.conditions = [{**condition("Ready", False, "NotPickedUp", message, at), "status": "Unknown"}]
    return model
