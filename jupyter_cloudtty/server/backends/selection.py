"""Which backend a server uses (``c.CloudTTY.backend``), and why: said in the log and in /api/info."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_cloudtty.server.backends.kubernetes.backend import KubernetesBackend
from jupyter_cloudtty.server.backends.kubernetes.mirror import Timing

from .base import Backend
from .kubernetes import cloudshells as cluster
from .kubernetes import policy

if TYPE_CHECKING:
    from jupyter_cloudtty.server.app import CloudTTY


def choose_backend(app: CloudTTY) -> tuple[Backend, str]:
    if app.backend == "local":
        return app.local_backend(), "c.CloudTTY.backend is 'local'"
    access = cluster.find(app.kubeconfig, app.kube_context)
    if access is None:
        if app.backend == "kubernetes":
            raise RuntimeError(
                "c.CloudTTY.backend is 'kubernetes' but no cluster credentials were found "
                "(no in-cluster ServiceAccount, no kubeconfig at $KUBECONFIG or ~/.kube/config)"
            )
        return app.local_backend(), "no cluster credentials found (in-cluster or kubeconfig)"
    namespace = policy.namespace_for(app.namespace_template, app.namespace or access.namespace, app.owner)
    if app.backend == "auto":
        try:
            cluster.check_cloudshells(access, namespace)
        except cluster.ClusterError as e:
            return app.local_backend(), f"{access.source} found, but {e}"
    reason = f"{access.source} at {access.host}"
    backend = KubernetesBackend(
        access,
        owner=app.owner,
        policy=policy.Policy(
            namespace=namespace,
            default_image=app.default_image,
            allowed_images=tuple(app.allowed_images),
            max_ttl=app.max_ttl,
            default_exposure=app.default_exposure,
            kubeconfig_secret=app.kubeconfig_secret,
            extra_labels=dict(app.extra_labels),
        ),
        connect_via=app.connect_via or ("service" if access.in_cluster else "apiserver"),
        max_shells=app.max_shells,
        scrollback_bytes=app.scrollback_bytes,
        detach_timeout=app.detach_timeout,
        ready_timeout=app.ready_timeout,
        ping_interval=app.upstream_ping_interval,
        lost_grace=app.upstream_lost_grace,
        timing=Timing(app.kube_api_timeout, app.kube_watch_seconds, app.kube_backoff, app.kube_max_backoff),
    )
    return backend, reason
