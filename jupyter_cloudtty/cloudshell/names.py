"""What a CloudShell's objects are called and where its terminal is served: the operator writes
these names, the server reads them back (pure)."""

from __future__ import annotations

from typing import Any

from . import GROUP, VERSION

# ttyd's port in every shell pod (the Job's container, its Service, the readiness probe).
TTYD_PORT = 7681
# Which shell an object (Job, Service, route, ServiceAccount...) belongs to; not the user who owns the shell.
SHELL_LABEL = f"{GROUP}/owner-name"


def shell_name(shell: dict[str, Any]) -> str:
    return shell["metadata"]["name"]


def object_name(shell: dict[str, Any]) -> str:
    """Name of the Job, Service, ServiceAccount, RoleBinding and HTTPRoute of a shell."""
    return f"cloudshell-{shell_name(shell)}"


def labels(shell: dict[str, Any]) -> dict[str, str]:
    return {SHELL_LABEL: shell_name(shell)}


def routed_by_path(spec: dict[str, Any]) -> bool:
    return spec.get("exposureMode", "NodePort") in ("Ingress", "VirtualService", "GatewayAPI")


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
