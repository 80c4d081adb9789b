"""What the operator knows of the cluster without asking: kopf's in-memory indexes, fed by its watches.

kopf calls each function below on every watch event of its kinds (``handlers.py`` registers them)
and keeps what it returns under the key it returns; handlers get the indexes as keyword arguments,
filled from the first listing before any handler runs. A pass over a shell reads them through
``Cache``, so it asks the API server nothing in a steady state: it only writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any, Mapping

import kopf

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.cloudshell.spec import DEFAULT_EXPOSURE

from . import routes
from .status import Observed

SERVICE_NAME = "kubernetes.io/service-name"  # the EndpointSlice controller's label: the slice's Service
NODES = "nodes"  # the one key of the nodes' index


def _kept(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """What a pass reads of an object (not its managedFields, often most of it), as plain data."""
    meta = body.get("metadata") or {}
    kept: dict[str, Any] = {
        "kind": kind,
        "metadata": {
            key: copy.deepcopy(meta[key])
            for key in ("name", "namespace", "resourceVersion", "labels", "annotations", "deletionTimestamp")
            if key in meta
        },  # fmt: skip
    }
    for key in ("spec", "status", "endpoints"):
        if key in body:
            kept[key] = copy.deepcopy(body[key])
    return kept


# --- the index functions (kopf's ``@kopf.index``; async: they run on kopf's loop, no thread) ------------


async def owned(body: kopf.Body, namespace: str, labels: Mapping[str, str], resource: kopf.Resource, **_: Any) -> dict:
    """Each shell's own objects (Job, pod, Service, HTTPRoute, ServiceAccount, RoleBinding), by (namespace, shell)."""
    return {(namespace, labels[names.SHELL_LABEL]): _kept(body, resource.kind)}


async def endpoint_slices(body: kopf.Body, namespace: str, labels: Mapping[str, str], **_: Any) -> dict:
    """A Service's EndpointSlices, by (namespace, Service)."""
    return {(namespace, labels[SERVICE_NAME]): _kept(body, "EndpointSlice")}


async def nodes(body: kopf.Body, **_: Any) -> dict:
    """Every node (a NodePort shell's address is a Ready node's)."""
    return {NODES: _kept(body, "Node")}


async def shared_routes(body: kopf.Body, namespace: str, name: str, resource: kopf.Resource, **_: Any) -> dict:
    """Ingresses and VirtualServices (a shared route, or the one a shell names), by (kind, namespace, name)."""
    return {(resource.kind, namespace, name): _kept(body, resource.kind)}


async def shells_by_pod(namespace: str, name: str, labels: Mapping[str, str], **_: Any) -> dict:
    """The shell of each shell's pod, by (namespace, pod): an Event names the pod only."""
    return {(namespace, name): labels[names.SHELL_LABEL]}


async def unmountable(body: kopf.Body, namespace: str, **_: Any) -> dict:
    """Why a pod's kubeconfig cannot be mounted, by (namespace, pod): a FailedMount Event, which alone says it."""
    return {(namespace, body["involvedObject"]["name"]): body.get("message") or "FailedMount"}


def kubeconfig_unmountable(body: kopf.Body, **_: Any) -> bool:
    """The filter of ``unmountable``: a FailedMount of the volume `kubeconfig` of one of our pods."""
    involved = body.get("involvedObject") or {}
    return (
        body.get("reason") == "FailedMount"
        and involved.get("kind") == "Pod"
        and involved.get("name", "").startswith("cloudshell-")
        and '"kubeconfig"' in (body.get("message") or "")
    )


def serves_a_shell(labels: Mapping[str, str], **_: Any) -> bool:
    """The filter of ``endpoint_slices``: slices of a shell's Service."""
    return labels.get(SERVICE_NAME, "").startswith("cloudshell-")


# --- reading them -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cache:
    """A pass's reads, answered from the indexes (on kopf's loop, between the pass's writes)."""

    owned: kopf.Index
    endpoint_slices: kopf.Index
    nodes: kopf.Index
    shared_routes: kopf.Index
    unmountable: kopf.Index

    @classmethod
    def of(cls, handler_kwargs: Mapping[str, Any]) -> Cache:
        """The indexes among a handler's keyword arguments."""
        return cls(**{f.name: handler_kwargs[f.name] for f in fields(cls)})

    def objects(self, shell: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        """The shell's own objects of this kind (its pods: any name; the others: ``cloudshell-<shell>``)."""
        found = self.owned.get((shell["metadata"]["namespace"], names.shell_name(shell)), ())
        wanted = None if kind == "Pod" else names.object_name(shell)
        return [o for o in found if o["kind"] == kind and wanted in (None, o["metadata"].get("name"))]

    def owns(self, shell: dict[str, Any], kind: str) -> bool:
        return bool(self.objects(shell, kind))

    def one(self, shell: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next(iter(self.objects(shell, kind)), None)

    def shared_route(self, route: routes.RouteKey) -> dict[str, Any] | None:
        """The shared Ingress/VirtualService as last seen; None if unseen (absent, or in a namespace not watched)."""
        return next(iter(self.shared_routes.get(route, ())), None)

    def observed(self, shell: dict[str, Any]) -> Observed:
        """What ``status.next_status`` decides on, for this shell."""
        namespace, spec = shell["metadata"]["namespace"], shell.get("spec", {})
        mode = spec.get("exposureMode", DEFAULT_EXPOSURE)
        pods = self.objects(shell, "Pod")
        observed = Observed(
            job=self.one(shell, "Job"),
            pods=pods,
            endpoint_slices=list(self.endpoint_slices.get((namespace, names.object_name(shell)), ())),
            unmountable=next(
                (why for pod in pods for why in self.unmountable.get((namespace, pod["metadata"]["name"]), ())), None
            ),
        )
        if mode in ("ClusterIP", "NodePort"):
            observed.service = self.one(shell, "Service")
        if mode == "NodePort" and pods:
            observed.nodes = list(self.nodes.get(NODES, ()))
        if mode == "GatewayAPI":
            observed.route = self.one(shell, "HTTPRoute")
        if mode == "Ingress":
            route = routes.shared_route(shell)
            observed.ingress_https = route is not None and routes.serves_https(shell, self.shared_route(route))
        return observed
