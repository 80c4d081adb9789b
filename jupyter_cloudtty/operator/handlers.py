"""The operator's kopf handlers: indexes fed by watches, one daemon per shell, and what wakes it.

Each CloudShell has one daemon (``tend``), the only task that reconciles it, so its passes never
overlap: one at start, then one each time something about the shell changes (its own events, its
Job's, pod's, Service's, route's, EndpointSlices', a FailedMount Event of its pod) and when its TTL
runs out. A pass reads kopf's indexes (``indexes.py``) and writes through ``reconciler.py``; one that
meets a failing API server raises ``kopf.TemporaryError`` and kopf runs the daemon again after the
delay. kopf keeps each shell's ``Memory`` in its memo of the shell and forgets it with the shell.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import kopf

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION, names
from jupyter_cloudtty.kube.client import Cluster

from . import homes, indexes, namespaces
from .indexes import Cache
from .metrics import Metrics
from .pool import Pool
from .reconciler import Memory, Reconciler
from .routes import KINDS as ROUTE_KINDS
from .settings import Settings

OWNED = (  # the kinds a shell owns outright, all labelled with its name: (group/version, plural)
    ("batch/v1", "jobs"),
    ("v1", "pods"),
    ("v1", "services"),
    ("gateway.networking.k8s.io/v1", "httproutes"),
    ("v1", "serviceaccounts"),
    ("rbac.authorization.k8s.io/v1", "rolebindings"),
)
SHARED_ROUTES = (("networking.k8s.io/v1", "ingresses"), ("networking.istio.io/v1beta1", "virtualservices"))
WAKING = OWNED[:4]  # what the status depends on (a ServiceAccount or RoleBinding changes nothing in it)


def memory_of(memo: kopf.Memo) -> Memory:
    """The shell's Memory, in kopf's memo of the shell (one per object, dropped when it is deleted)."""
    if "cloudshell" not in memo:
        memo["cloudshell"] = Memory()
    return memo["cloudshell"]


async def shell_memories(namespace: str, name: str, memo: kopf.Memo, **_: Any) -> dict:
    """An index: each shell's Memory by (namespace, name), for the events of its objects to wake its daemon."""
    return {(namespace, name): memory_of(memo)}


def wake(shell_memories: kopf.Index, namespace: str, shell: str) -> None:
    """Something about this shell changed: its daemon makes a pass (once, however many changes came)."""
    for memory in shell_memories.get((namespace, shell), ()):
        memory.changed.set()


async def until(changed: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float | None) -> None:
    """Wait until something changed, the daemon is stopped, or ``seconds`` passed."""

    async def stopping() -> None:
        await stopped.wait()

    waiting = {asyncio.ensure_future(changed.wait()), asyncio.ensure_future(stopping())}
    try:
        await asyncio.wait(waiting, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)


def make_registry(
    settings: Settings, cluster: Cluster, login: kopf.ConnectionInfo | None = None, metrics: Metrics | None = None
) -> kopf.OperatorRegistry:
    """The operator's handlers in a registry of their own (tests run several operators)."""
    registry = kopf.OperatorRegistry()
    metrics = metrics or Metrics()
    pool = Pool(cluster, settings, metrics)
    reconciler = Reconciler(cluster, settings, pool=pool, metrics=metrics)
    shells = {"group": GROUP, "version": VERSION, "plural": PLURAL, "registry": registry}
    owned = {"labels": {names.SHELL_LABEL: kopf.PRESENT}, "registry": registry}

    if login is not None:

        @kopf.on.login(registry=registry)
        def fixed_login(**_: Any) -> kopf.ConnectionInfo:
            return login
    else:
        kopf.on.login(registry=registry)(kopf.login_via_client)

    # --- indexes: what a pass reads ---------------------------------------------------------------
    for resource in OWNED:
        kopf.index(*resource, **owned)(indexes.owned)
    kopf.index("v1", "pods", **owned)(indexes.shells_by_pod)
    kopf.index("discovery.k8s.io", "v1", "endpointslices", when=indexes.serves_a_shell, registry=registry)(
        indexes.endpoint_slices
    )
    kopf.index("v1", "nodes", registry=registry)(indexes.nodes)
    for resource in SHARED_ROUTES:
        kopf.index(*resource, registry=registry)(indexes.shared_routes)
    kopf.index("v1", "events", when=indexes.kubeconfig_unmountable, registry=registry)(indexes.unmountable)

    kopf.index(**shells)(shell_memories)

    namespaces.register(registry, settings, cluster)  # per-user namespaces: their servers' RoleBindings

    # --- the daemon: every pass over a shell --------------------------------------------------------

    @kopf.daemon(**shells, backoff=settings.max_retry_backoff, cancellation_polling=0.5)
    async def tend(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        # Never cancelled (no cancellation_timeout): a pass ends (its requests time out), then the daemon.
        memory = memory_of(memo)
        while not stopped:
            memory.changed.clear()
            async with memory.busy:
                if stopped or body.get("metadata", {}).get("deletionTimestamp"):
                    return  # being deleted: never recreate anything for it
                outcome = await reconciler.reconcile(body, Cache.of(kwargs), memory)
            if outcome.ended:
                return
            seconds = None if outcome.again_at is None else (outcome.again_at - reconciler.clock()).total_seconds()
            await until(memory.changed, stopped, seconds)

    # --- what wakes it ----------------------------------------------------------------------------

    @kopf.on.event(**shells)
    async def shell_changed(memo: kopf.Memo, **_: Any) -> None:
        memory_of(memo).changed.set()

    async def child_changed(namespace: str, labels: Mapping[str, str], shell_memories: kopf.Index, **_: Any) -> None:
        wake(shell_memories, namespace, labels[names.SHELL_LABEL])

    for resource in WAKING:
        kopf.on.event(*resource, **owned)(child_changed)

    @kopf.on.event("discovery.k8s.io", "v1", "endpointslices", when=indexes.serves_a_shell, registry=registry)
    async def endpoints_changed(
        namespace: str, labels: Mapping[str, str], shell_memories: kopf.Index, **_: Any
    ) -> None:
        wake(shell_memories, namespace, labels[indexes.SERVICE_NAME].removeprefix("cloudshell-"))

    @kopf.on.event("v1", "events", when=indexes.kubeconfig_unmountable, registry=registry)
    async def pod_event(
        body: kopf.Body, namespace: str, shells_by_pod: kopf.Index, shell_memories: kopf.Index, **_: Any
    ) -> None:
        for shell in shells_by_pod.get((namespace, body["involvedObject"]["name"]), ()):
            wake(shell_memories, namespace, shell)

    # --- the warm pool: its pods as the watch shows them, and its keeper --------------------------------

    @kopf.on.event("v1", "pods", labels={names.POOL_LABEL: kopf.PRESENT}, registry=registry)
    async def pool_pod_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
        pool.seen(type, body)

    @kopf.on.startup(registry=registry)
    async def start_the_pool(memo: kopf.Memo, **_: Any) -> None:
        memo["pool_keeper"] = asyncio.create_task(pool.keep(), name="pool keeper")

    @kopf.on.cleanup(registry=registry)
    async def stop_the_pool(memo: kopf.Memo, **_: Any) -> None:
        keeper = memo.get("pool_keeper")
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    # --- users' homes: an unused one goes after home.retentionDays -----------------------------------

    if settings.home.enabled and settings.home.retention_days:
        days = settings.home.retention_days

        # Hourly, and soon after the operator starts (kopf fills the indexes, the pods among them, first).
        @kopf.timer("v1", "persistentvolumeclaims", labels={names.HOME_LABEL: "true"}, interval=3600,
                    initial_delay=5, registry=registry)  # fmt: skip
        async def forget_an_unused_home(
            body: kopf.Body, namespace: str, name: str, owned: kopf.Index, **_: Any
        ) -> None:
            pods = [obj for (where, _shell), objects in owned.items() if where == namespace
                    for obj in objects if obj.get("kind") == "Pod"]  # fmt: skip
            if homes.unused_past(dict(body), pods, reconciler.clock(), days):
                kopf.info(body, reason="HomeRemoved", message=f"unused for over {days} days (home.retentionDays)")
                await asyncio.to_thread(cluster.delete, "PersistentVolumeClaim", namespace, name)

    # --- a deleted shell's entry in a shared route ------------------------------------------------------

    def shares_a_route(spec: Mapping[str, Any], **_: Any) -> bool:
        return spec.get("exposureMode") in ROUTE_KINDS

    @kopf.on.delete(**shells, when=shares_a_route)
    async def shell_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        # Owned objects go with the shell (ownerReferences); its entry in a shared route does not.
        memory = memory_of(memo)
        async with memory.busy:  # after a pass in flight, which may be adding that very entry
            await reconciler.remove_route_entry(body, memory)

    return registry
