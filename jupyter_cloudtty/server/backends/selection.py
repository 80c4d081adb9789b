"""Which backend a server uses (``c.CloudTTY.backend``), and why: said in the log and in /api/info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from jupyter_cloudtty.server.backends.kubernetes.backend import KubernetesBackend
from jupyter_cloudtty.server.backends.kubernetes.mirror import Timing
from jupyter_cloudtty.server.recordings import RecordingPolicy

from .base import Backend
from .kubernetes import cloudshells as cluster
from .kubernetes import policy


@dataclass(frozen=True)
class BackendSettings:
    """The ``c.CloudTTY`` options the choice and the Kubernetes backend read, under the traits' own names.

    The server extension fills it from its traits (a field per trait), so this module needs no app.
    """

    backend: str = "auto"
    owner: str = ""
    kubeconfig: str = ""
    kube_context: str = ""
    namespace: str = ""
    namespace_template: str = ""
    default_image: str = ""
    allowed_images: tuple[str, ...] = ()
    max_ttl: int = 0
    idle_timeout: int = 0
    default_exposure: str = "ClusterIP"
    kubeconfig_secret: str = ""
    extra_labels: dict[str, str] = field(default_factory=dict)
    connect_via: str | None = None
    max_shells: int = 32
    scrollback_bytes: int = 512 * 1024
    detach_timeout: float = 60.0
    ready_timeout: float = 300.0
    upstream_ping_interval: float = 30.0
    upstream_lost_grace: float = 5.0
    kube_api_timeout: float = 10.0
    kube_watch_seconds: int = 60
    kube_backoff: float = 0.5
    kube_max_backoff: float = 30.0


def choose_backend(
    settings: BackendSettings, local: Callable[[], Backend], recordings: RecordingPolicy | None = None
) -> tuple[Backend, str]:
    """The backend ``settings.backend`` asks for (``local()`` makes the local one), and the reason in words;
    a Kubernetes backend records as ``recordings`` says (``local()`` gives the local one its own)."""
    if settings.backend == "local":
        return local(), "c.CloudTTY.backend is 'local'"
    access = cluster.find(settings.kubeconfig, settings.kube_context)
    if access is None:
        if settings.backend == "kubernetes":
            raise RuntimeError(
                "c.CloudTTY.backend is 'kubernetes' but no cluster credentials were found "
                "(no in-cluster ServiceAccount, no kubeconfig at $KUBECONFIG or ~/.kube/config)"
            )
        return local(), "no cluster credentials found (in-cluster or kubeconfig)"
    namespace = policy.namespace_for(
        settings.namespace_template, settings.namespace or access.namespace, settings.owner
    )
    if settings.backend == "auto":
        try:
            cluster.check_cloudshells(access, namespace)
        except cluster.ClusterError as e:
            return local(), f"{access.source} found, but {e}"
    reason = f"{access.source} at {access.host}"
    backend = KubernetesBackend(
        access,
        owner=settings.owner,
        policy=policy.Policy(
            namespace=namespace,
            default_image=settings.default_image,
            allowed_images=tuple(settings.allowed_images),
            max_ttl=settings.max_ttl,
            idle_timeout=settings.idle_timeout,
            default_exposure=settings.default_exposure,
            kubeconfig_secret=settings.kubeconfig_secret,
            extra_labels=dict(settings.extra_labels),
        ),
        connect_via=settings.connect_via or ("service" if access.in_cluster else "apiserver"),
        max_shells=settings.max_shells,
        scrollback_bytes=settings.scrollback_bytes,
        detach_timeout=settings.detach_timeout,
        ready_timeout=settings.ready_timeout,
        ping_interval=settings.upstream_ping_interval,
        lost_grace=settings.upstream_lost_grace,
        timing=Timing(
            settings.kube_api_timeout, settings.kube_watch_seconds, settings.kube_backoff, settings.kube_max_backoff
        ),
        recordings=recordings,
    )
    return backend, reason
