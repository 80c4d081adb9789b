"""What a CloudShell's objects are called and where its terminal is served: the operator writes
these names, the server reads them back (pure)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from . import GROUP, VERSION
from .spec import DEFAULT_EXPOSURE

# ttyd's port in every shell pod (the Job's container, its Service, the readiness probe).
TTYD_PORT = 7681
# Which shell an object (Job, Service, route, ServiceAccount...) belongs to; not the user who owns the shell.
SHELL_LABEL = f"{GROUP}/owner-name"
# The user who owns a shell (the Jupyter server's owner_label of its user), on the shell and on that
# user's home (a PersistentVolumeClaim of the namespace).
OWNER_LABEL = "jupyter-cloudtty.io/owner"
HOME_LABEL = f"{GROUP}/home"
# "true" on a shell whose terminal is recorded: the Jupyter server's backend sets it (a restarted server
# still records it), and the operator's ``optional`` recording policy records the shells that have it.
RECORD_ANNOTATION = "jupyter-cloudtty.io/record"
# A pod the operator's warm pool made: the hash of the template it was made from (a pod of an older
# template is replaced), kept for its life; a pool pod with no SHELL_LABEL is not anyone's yet.
POOL_LABEL = f"{GROUP}/pool"
# The pool pod's own name, from birth: the selector of the Job that adopts it once it is claimed.
POOL_POD_LABEL = f"{GROUP}/pool-pod"


def home_claim_name(owner: str) -> str:
    """The PersistentVolumeClaim of ``owner``'s home (``owner``: the owner label's value, which may hold
    capitals, dots and underscores a name may not): readable, and one per exact owner."""
    readable = re.sub(r"[^a-z0-9-]+", "-", owner.lower()).strip("-")[:40].strip("-")
    if readable == owner:
        return f"cloudshell-home-{owner}"
    return f"cloudshell-home-{readable or 'user'}-{hashlib.sha256(owner.encode()).hexdigest()[:8]}"


def shell_name(shell: dict[str, Any]) -> str:
    return shell["metadata"]["name"]


def object_name(shell: dict[str, Any]) -> str:
    """Name of the Job, Service, ServiceAccount, RoleBinding and HTTPRoute of a shell."""
    return f"cloudshell-{shell_name(shell)}"


def secret_name(shell: dict[str, Any]) -> str:
    """The shell's own Secret: its ttyd token (``TOKEN_KEY``) and its env values (``env.<NAME>``)."""
    return object_name(shell)


# The Secret's key holding the shell's ttyd token: ttyd serves only under ``ttyd_base_path``.
TOKEN_KEY = "token"


def ttyd_base_path(shell: dict[str, Any], token: str) -> str:
    """Where the shell's ttyd serves (``ttyd -b``): the route path in path-routed modes, then the token.

    A token in the path rather than ttyd's basic auth (``-c``): the API server's service proxy
    removes the Authorization header, so basic auth could not reach ttyd through it. Without the
    token a client gets 404 from ttyd: knowing the pod's address is not enough.
    """
    base = route_path(shell) if routed_by_path(shell.get("spec") or {}) else ""
    return f"{base}/{token}" if token else base


def labels(shell: dict[str, Any]) -> dict[str, str]:
    return {SHELL_LABEL: shell_name(shell)}


def routed_by_path(spec: dict[str, Any]) -> bool:
    return spec.get("exposureMode", DEFAULT_EXPOSURE) in ("Ingress", "VirtualService", "GatewayAPI")


def route_path(shell: dict[str, Any]) -> str:
    """``<pathPrefix>/apis/v1alpha1/cloudshell/<name>[/<pathSuffix>]``, never with ``//``."""
    spec = shell.get("spec", {})
    prefix = spec.get("pathPrefix", "").strip("/")
    suffix = spec.get("pathSuffix", "").strip("/")
    path = f"/apis/{VERSION}/cloudshell/{shell_name(shell)}"
    if prefix:
        path = f"/{prefix}{path}"
    if suffix:
        path = f"{path}/{suffix}"
    return path
