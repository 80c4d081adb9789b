"""Per-user namespaces (KubeSpawner's ``enable_user_namespaces``): each user's server reaches the
shells of its own namespace, and nothing of anyone else's.

In every namespace labelled with its owner (``UserNamespaces.label``) the operator keeps one
RoleBinding, ``BINDING``: the chart's Jupyter ClusterRole for the ServiceAccount the user's server
runs as in that namespace. It is made when the label appears (or when someone deletes it) and
removed when the label goes; a deleted namespace takes it along. Whether it exists is read from
kopf's indexes, so a restarted operator writes nothing for namespaces already bound.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Mapping, TypeVar

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from jupyter_cloudtty.kube import backoff
from jupyter_cloudtty.kube.client import Cluster
from jupyter_cloudtty.kube.errors import api_message, namespace_terminating, transient

from .manifests import MANAGED_BY, OPERATOR
from .settings import Settings, UserNamespaces

log = logging.getLogger(__name__)

T = TypeVar("T")

BINDING = "jupyter-cloudtty-server"
LABELS = {MANAGED_BY: OPERATOR}  # only a binding with these is the operator's to delete
RBAC = "rbac.authorization.k8s.io"


def role_binding(namespace: str, users: UserNamespaces) -> dict[str, Any]:
    """The user's server (its ServiceAccount in ``namespace``) bound to the Jupyter role, in ``namespace`` only."""
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": BINDING, "namespace": namespace, "labels": dict(LABELS)},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": users.cluster_role},
        "subjects": [{"kind": "ServiceAccount", "name": users.service_account, "namespace": namespace}],
    }


def register(registry: kopf.OperatorRegistry, settings: Settings, cluster: Cluster) -> None:
    """Keep every user namespace's binding (nothing unless ``settings.user_namespaces.enabled``)."""
    users = settings.user_namespaces
    if not users.enabled:
        return

    def is_user_namespace(labels: Mapping[str, str], meta: Mapping[str, Any], **_: Any) -> bool:
        return users.label in labels and not meta.get("deletionTimestamp")

    def is_binding(name: str, labels: Mapping[str, str], **_: Any) -> bool:
        return name == BINDING and all(labels.get(k) == v for k, v in LABELS.items())

    # Handlers get each index as the keyword argument named by its id.
    @kopf.index("v1", "namespaces", id="user_namespaces", when=is_user_namespace, registry=registry)
    async def user_namespaces(name: str, **_: Any) -> dict:
        return {name: True}

    @kopf.index(RBAC, "v1", "rolebindings", id="server_bindings", when=is_binding, registry=registry)
    async def server_bindings(namespace: str, **_: Any) -> dict:
        return {namespace: True}

    async def settle(namespace: str, user_namespaces: kopf.Index, server_bindings: kopf.Index) -> None:
        wanted, bound = namespace in user_namespaces, namespace in server_bindings
        if wanted and not bound:
            try:
                await _retrying(settings, cluster.create, role_binding(namespace, users))  # False: 409, it exists
            except ApiException as e:
                if not _terminating(e):
                    raise
        elif bound and not wanted:
            await _retrying(settings, cluster.delete, "RoleBinding", namespace, BINDING)

    @kopf.on.event("v1", "namespaces", registry=registry)
    async def namespace_changed(
        name: str,
        event: kopf.RawEvent,
        meta: Mapping[str, Any],
        user_namespaces: kopf.Index,
        server_bindings: kopf.Index,
        **_: Any,
    ) -> None:
        if event["type"] == "DELETED" or meta.get("deletionTimestamp"):
            return  # its bindings go with it
        await settle(name, user_namespaces, server_bindings)

    @kopf.on.event(RBAC, "v1", "rolebindings", when=is_binding, registry=registry)
    async def binding_deleted(
        namespace: str, event: kopf.RawEvent, user_namespaces: kopf.Index, server_bindings: kopf.Index, **_: Any
    ) -> None:
        if event["type"] == "DELETED":
            await settle(namespace, user_namespaces, server_bindings)


async def _retrying(settings: Settings, call: Callable[..., T], *args: Any) -> T:
    """``call`` in a thread, again after a backoff while the API server fails (429, 5xx, no answer).

    kopf retries no event handler (it retries only those that keep their progress on the object,
    which would take patching namespaces), so a failing API server is waited out here.
    """
    failures = 0
    while True:
        try:
            return await asyncio.to_thread(call, *args)
        except (ApiException, HTTPError) as e:
            if not transient(e):
                raise
            delay = settings.retry_delay(failures, backoff.retry_after(e))
            why = f"{e.status} {api_message(e)}" if isinstance(e, ApiException) else type(e).__name__
            log.warning("user namespaces: the API server failed (%s); again in %.1fs", why, delay)
            failures += 1
            await asyncio.sleep(delay)


def _terminating(e: ApiException) -> bool:
    """The namespace is being deleted (its deletion came after its binding's): nothing to bind there."""
    return e.status == 404 or namespace_terminating(e)
