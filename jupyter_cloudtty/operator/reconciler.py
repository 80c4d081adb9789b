"""One pass over a CloudShell: create what is missing, write the status if it changed, release an ended shell.

I/O only: what the cluster shows comes from kopf's indexes (``indexes.Cache``), decisions from
``status.py``, what the administrator allows from ``policy.py``, objects from ``manifests.py``, route
entries from ``routes.py``; this module makes the writes (in threads: the ``kubernetes`` client
blocks) and the few reads an index cannot answer.

An API server that fails for a while (429, 5xx, no answer) fails no shell: the pass raises
``kopf.TemporaryError`` with a backoff, and kopf runs it again.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, TypeVar

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from jupyter_cloudtty.cloudshell import names
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.model import Phase, parse_time, timestamp
from jupyter_cloudtty.cloudshell.spec import ttl_seconds
from jupyter_cloudtty.kube import backoff
from jupyter_cloudtty.kube.client import Cluster
from jupyter_cloudtty.kube.errors import api_message, describe, namespace_terminating, transient

from . import manifests, policy, pool_objects, routes
from .indexes import Cache
from .metrics import Metrics
from .pool import Claimed, HandoverFailed, Pool
from .settings import Settings
from .status import Observed, condition_since, finished, next_status, with_effective_ttl

log = logging.getLogger(__name__)

T = TypeVar("T")

# API errors that will not go away by themselves: the shell fails, saying why.
FAILING = {
    403: ("Forbidden", "the operator may not do this"),
    404: ("APINotInstalled", "a needed API is not installed"),
}
# What an ended shell gives back, in this order (its Job's pod may still use the ServiceAccount).
RELEASED = ("HTTPRoute", "Service", "Job", "RoleBinding", "ServiceAccount")
# Created before the Job, so a Job implies them: the operator watches neither (it never reads a
# Secret), and a restarted operator writes nothing for a running shell.
BEFORE_THE_JOB = ("Secret", "NetworkPolicy")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class NotRecordable(Exception):
    """The recording policy records the shell, and nothing can: the message says why."""


@dataclass(eq=False)
class Memory:
    """What the operator keeps of one shell between passes: in kopf's memo of the shell, gone with it.

    A write's own watch event may come after the next pass; what was written is known here first.
    """

    status: dict[str, Any] | None = None  # the status last written (only the operator writes it)
    generation: int = 0  # the newest metadata.generation a write answered with
    created: set[str] = field(default_factory=set)  # kinds created, until the index shows them
    image_written: bool = False
    home_stamped: bool = False  # the owner's home claim exists and says it is used by this shell
    deadline: tuple[str | None, int] | None = None  # (Job resourceVersion, deadline) last written to it
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))  # ttyd's, if its Secret is made here
    secret_made: bool = False  # the shell's Secret was made by this run, with ``token``
    start: Start | None = None  # the pool or cold, and why: decided once, before its Job
    claimed: Claimed | None = None  # the pool pod it claimed, until its Job adopts it
    handed_over: bool = False  # the claimed pod runs the shell's ttyd
    first_seen: float = field(default_factory=time.monotonic)  # when this run of the operator first saw it
    failures: int = 0  # transient API failures in a row: the backoff
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # something about the shell changed
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)  # a pass, or the delete handler, at a time


@dataclass(frozen=True)
class Start:
    """How a shell started: in a pool pod (``pooled``) or cold, with the WarmStart condition's words."""

    pooled: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    ended: bool  # the shell ended and holds nothing any more: no pass is due again
    again_at: datetime | None = None  # a pass is due then even if nothing changes (the TTL)


class Reconciler:
    """Brings one CloudShell's objects and status in line with its spec."""

    def __init__(
        self,
        cluster: Cluster,
        settings: Settings,
        clock: Callable[[], datetime] = _now,
        pool: Pool | None = None,
        metrics: Metrics | None = None,
    ):
        self.cluster = cluster
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.pool = pool

    async def reconcile(self, body: dict[str, Any], cache: Cache, memory: Memory) -> Outcome:
        """One pass over ``body`` (the shell as the watch last showed it); kopf.TemporaryError if the API failed."""
        shell = _current(body, memory)
        outcome = await self._transient(memory, self._reconcile(shell, cache, memory))
        memory.failures = 0
        return outcome

    async def remove_route_entry(self, body: dict[str, Any], memory: Memory) -> None:
        """Take a deleted shell's entry out of its shared route (its own objects go with it: ownerReferences)."""
        await self._transient(memory, self._remove_route_entry(_current(body, memory)))
        memory.failures = 0

    async def _transient(self, memory: Memory, work: Awaitable[T]) -> T:
        """The API server failing for a while (429, 5xx, no answer) is a kopf.TemporaryError: kopf runs
        the handler again, later each time the failures go on, and never sooner than a 429 asked."""
        try:
            return await work
        except (ApiException, HTTPError) as e:
            if not transient(e):
                raise
            memory.failures += 1
            delay = self.settings.retry_delay(memory.failures - 1, backoff.retry_after(e))
            raise kopf.TemporaryError(
                f"the API server failed ({describe(e)}); again in {delay:.1f}s", delay=delay
            ) from None

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(method, *args)

    async def _reconcile(self, shell: dict[str, Any], cache: Cache, memory: Memory) -> Outcome:
        if (shell.get("status") or {}).get("phase") in Phase.ENDED:
            await self._release(shell, cache, memory)  # idempotent: completes an interrupted ending
            return Outcome(ended=True)
        try:
            shell = manifests.validated(shell)  # the one check of the spec
            defaults: dict[str, Any] = {}
            starting = not cache.owns(shell, "Job") and "Job" not in memory.created
            if starting:
                # What the administrator allows, before anything runs for it; a running shell keeps what
                # it was allowed (a new policy or shell image never fails it, a restart writes nothing).
                policy.check(shell, self.settings)
                # A shell without a TTL under a longest TTL gets that one (as the Jupyter server gives
                # it), written back with the image: the bound holds for shells written by anyone.
                defaults = policy.defaults(shell, self.settings)
                shell = {**shell, "spec": {**shell["spec"], **defaults}}
                await self._choose_start(shell, cache, memory)
            # All computed first: nothing is half-created. The token is used only if the shell has no
            # Secret yet (never replaced: create, and a 409 says it exists).
            claimed = memory.claimed.pod if memory.claimed and starting else None
            objects = manifests.owned_objects(shell, self.settings, token=memory.token, pool_pod=claimed)
            route = routes.shared_route(shell)
            if route is not None:  # first: a shared route that refuses the shell leaves nothing created
                await self._add_route_entry(shell, route, cache)
            await self._write_back(shell, objects, defaults, memory)
            if starting:
                await self._ensure_home(shell, memory)
                await self._check_recordings_claim(shell)
            for obj in objects:
                if obj["kind"] == "Job" and claimed is not None and not await self._hand_over(shell, memory):
                    obj = manifests.job(shell, self.settings)  # the pool pod failed it: a cold start after all
                await self._ensure(shell, obj, cache, memory)
                if obj["kind"] == "Job" and not (shell.get("status") or {}).get("phase"):
                    await self._advance(shell, cache, memory, Phase.CREATED_JOB)
            await self._follow_ttl(shell, cache, memory)
            status = next_status(shell, self._observed(shell, cache, memory), self.settings, self.clock(),
                                 Phase.CREATED_ROUTE_RULE)  # fmt: skip
            self._count_ready(shell, status, memory)
            if status["phase"] in Phase.ENDED:
                if status["phase"] == Phase.FAILED:
                    failed = status["conditions"][-1]
                    kopf.warn(shell, reason=failed["reason"], message=failed["message"])
                await self._finish(shell, status, cache, memory)
                return Outcome(ended=True)
            await self._write_status(shell, status, memory)
        except InvalidShell as e:
            await self._fail(shell, "InvalidSpec", str(e), cache, memory)
            return Outcome(ended=True)
        except NotRecordable as e:
            await self._fail(shell, "NotRecorded", str(e), cache, memory)
            return Outcome(ended=True)
        except ApiException as e:
            if namespace_terminating(e):
                # Its namespace is being deleted, and the shell with it: no failure to report, and an
                # Event could not be written there anyway.
                meta = shell["metadata"]
                log.info("shell %s/%s: its namespace is being deleted; nothing more is made there",
                         meta["namespace"], meta["name"])  # fmt: skip
                return Outcome(ended=True)
            if e.status not in FAILING:
                raise  # transient: retried with backoff (_transient); else kopf retries it later
            reason, what = FAILING[e.status]
            await self._fail(shell, reason, f"{what}: {api_message(e)}", cache, memory)
            return Outcome(ended=True)
        return Outcome(ended=False, again_at=_expiry(with_effective_ttl(shell, self.settings)))

    # --- writing ------------------------------------------------------------------------------

    async def _write_back(
        self, shell: dict[str, Any], objects: list[dict[str, Any]], defaults: dict[str, Any], memory: Memory
    ) -> None:
        """The default image, written into the spec as CloudTTY does, so that `kubectl get -o yaml` shows it;
        with it the policy's ``defaults`` that the stored spec lacks (a TTL)."""
        written = dict(defaults)
        if "image" not in shell["spec"]:
            job = next(o for o in objects if o["kind"] == "Job")
            written["image"] = job["spec"]["template"]["spec"]["containers"][0]["image"]
        if not written:
            memory.image_written = False  # were it taken out again, it is written again
            return
        if memory.image_written:
            return  # the watch has not shown it yet
        meta = shell["metadata"]
        answer = await self._call(self.cluster.patch, "CloudShell", meta["namespace"], meta["name"],
                                  {"spec": written})  # fmt: skip
        memory.image_written = True
        _remember_generation(shell, answer, memory)

    async def _ensure(self, shell: dict[str, Any], obj: dict[str, Any], cache: Cache, memory: Memory) -> None:
        """Create ``obj`` unless it exists: a steady state writes nothing (CloudTTY re-ran its setup)."""
        kind = obj["kind"]
        if kind in BEFORE_THE_JOB and cache.owns(shell, "Job"):
            return
        if cache.owns(shell, kind):
            memory.created.discard(kind)  # seen: from now on the index knows, even if someone deletes it
            return
        if kind in memory.created:
            return  # created by an earlier pass; its watch event has not come yet
        made = await self._call(self.cluster.create, obj)  # False: it existed after all (409)
        memory.created.add(kind)
        if kind == "Secret" and made:
            memory.secret_made = True

    async def _follow_ttl(self, shell: dict[str, Any], cache: Cache, memory: Memory) -> None:
        """The Job's deadline follows a changed TTL (as far as the policy allows): else the Job would
        end the shell at its old one, whatever its spec and status say."""
        job = cache.one(shell, "Job")
        if job is None or finished(job):
            return
        ttl = manifests.effective_ttl(shell["spec"], self.settings)
        deadline = job.get("spec", {}).get("activeDeadlineSeconds")
        if ttl is None or ttl == deadline or memory.deadline == (job["metadata"].get("resourceVersion"), ttl):
            return  # as it should be, or written and not yet watched
        meta = shell["metadata"]
        log.info("shell %s/%s: its Job's deadline follows its TTL, %ss -> %ss", meta["namespace"], meta["name"],
                 deadline, ttl)  # fmt: skip
        await self._call(self.cluster.patch, "Job", meta["namespace"], names.object_name(shell),
                         {"spec": {"activeDeadlineSeconds": ttl}})  # fmt: skip
        memory.deadline = (job["metadata"].get("resourceVersion"), ttl)

    async def _ensure_home(self, shell: dict[str, Any], memory: Memory) -> None:
        """The owner's home claim exists, stamped as used now (``home.retentionDays`` counts from it):
        once per shell, before its Job (its pod would wait for the claim otherwise)."""
        claim = manifests.home_claim(shell, self.settings)
        if claim is None or memory.home_stamped:
            return
        used = {manifests.HOME_LAST_USED: timestamp(self.clock())}
        claim["metadata"]["annotations"] = used
        if not await self._call(self.cluster.create, claim):  # False: the home exists (409)
            meta = claim["metadata"]
            await self._call(self.cluster.patch, "PersistentVolumeClaim", meta["namespace"], meta["name"],
                             {"metadata": {"annotations": used}})  # fmt: skip
        memory.home_stamped = True

    async def _check_recordings_claim(self, shell: dict[str, Any]) -> None:
        """A shell to be recorded needs the administrator's claim in its namespace: without it, its pod
        would wait for the claim forever, saying so only in a FailedMount Event."""
        if not manifests.recorded(shell, self.settings):
            return
        namespace, claim = shell["metadata"]["namespace"], self.settings.recording.claim_name
        if await self._call(self.cluster.get, "PersistentVolumeClaim", namespace, claim) is None:
            raise NotRecordable(
                f"no PersistentVolumeClaim {claim!r} in namespace {namespace} to write its recording to"
                " (an administrator makes it: recording.claimName)"
            )

    # --- the pool -------------------------------------------------------------------------------

    async def _choose_start(self, shell: dict[str, Any], cache: Cache, memory: Memory) -> None:
        """Before its Job, once: a pool pod for the shell if one fits and is ready, else a cold start.

        A namespace without a pool says nothing (no WarmStart condition). A claimed pod without a Job
        that this run did not claim (the operator restarted between the two) is deleted: its agent's
        token went with the old run, so the shell starts cold.
        """
        if memory.start is not None or self.pool is None:
            return
        namespace = shell["metadata"]["namespace"]
        said = next((c for c in (shell.get("status") or {}).get("conditions", []) if c.get("type") == "WarmStart"),
                    None)  # fmt: skip
        leftover = [pod for pod in cache.objects(shell, "Pod") if names.POOL_POD_LABEL in pod["metadata"].get(
            "labels", {})]  # fmt: skip
        if said is not None or leftover:
            for pod in leftover:
                await self._call(self.cluster.delete, "Pod", namespace, pod["metadata"]["name"])
            if said is not None and said.get("status") == "False":
                memory.start = Start(False, said.get("reason", ""), said.get("message", ""))
            else:
                memory.start = Start(False, "HandoverInterrupted",
                                     "the operator restarted while it gave the shell a pool pod")  # fmt: skip
                self.metrics.misses.labels(namespace, "HandoverInterrupted").inc()
            return
        misfit = pool_objects.misfit(shell, self.settings)
        if misfit is not None and misfit[0] == "NoPool":
            return
        if misfit is None:
            memory.claimed = await self.pool.claim(shell)
            if memory.claimed is not None:
                pod = memory.claimed.pod["metadata"]["name"]
                memory.start = Start(True, "PoolHit", f"it started in {pod}, a ready pod of the pool")
                self.metrics.claims.labels(namespace).inc()
                return
            misfit = ("PoolEmpty", "no pod of the pool was ready")
        memory.start = Start(False, *misfit)
        self.metrics.misses.labels(namespace, misfit[0]).inc()

    async def _hand_over(self, shell: dict[str, Any], memory: Memory) -> bool:
        """Give the claimed pool pod the shell (once, before its Job adopts it); True if it took it.
        False: the pod was deleted and the shell goes cold, its WarmStart condition says why."""
        assert memory.claimed is not None and self.pool is not None
        if memory.handed_over:
            return True
        claimed, namespace = memory.claimed, shell["metadata"]["namespace"]
        try:
            if not memory.secret_made:  # its Secret holds a token this run never made
                raise HandoverFailed("the shell's Secret was made before this pass, with a token it does not know")
            payload = pool_objects.assignment(shell, self.settings, memory.token)
            await self.pool.hand_over(claimed, payload, names.ttyd_base_path(shell, memory.token))
            memory.handed_over = True
            return True
        except HandoverFailed as e:
            pod = claimed.pod["metadata"]["name"]
            log.warning("shell %s/%s: pool pod %s failed: %s", namespace, shell["metadata"]["name"], pod, e)
            await self.pool.discard(claimed.pod)
            memory.claimed = None
            memory.start = Start(False, "HandoverFailed", f"pool pod {pod}: {e}")
            self.metrics.misses.labels(namespace, "HandoverFailed").inc()
            return False

    def _observed(self, shell: dict[str, Any], cache: Cache, memory: Memory) -> Observed:
        observed = cache.observed(shell)
        if memory.start is not None:
            observed.start = (memory.start.pooled, memory.start.reason, memory.start.message)
        return observed

    def _count_ready(self, shell: dict[str, Any], status: dict[str, Any], memory: Memory) -> None:
        """Time to Ready, once per shell, by how it started: from the operator's first look at it (its
        creationTimestamp has whole seconds only, more than a pool hit takes)."""
        current = shell.get("status") or {}
        if status["phase"] != Phase.READY or current.get("lastScheduleTime") or status.get("restarts"):
            return
        start = "Pool" if memory.start and memory.start.pooled else "Cold"
        self.metrics.ready_seconds.labels(start).observe(time.monotonic() - memory.first_seen)

    async def _advance(self, shell: dict[str, Any], cache: Cache, memory: Memory, phase: str) -> None:
        """Write that the shell reached ``phase`` (CreatedJob), unless it is already further or ending."""
        status = next_status(shell, self._observed(shell, cache, memory), self.settings, self.clock(), phase)
        if status["phase"] == phase:
            await self._write_status(shell, status, memory)

    async def _write_status(self, shell: dict[str, Any], status: dict[str, Any], memory: Memory) -> None:
        if status != (shell.get("status") or {}):  # a steady state writes nothing
            meta = shell["metadata"]
            answer = await self._call(self.cluster.patch, "CloudShell", meta["namespace"], meta["name"],
                                      {"status": status}, "status")  # fmt: skip
            shell["status"] = memory.status = status
            _remember_generation(shell, answer, memory)

    async def _fail(self, shell: dict[str, Any], reason: str, message: str, cache: Cache, memory: Memory) -> None:
        log.info("shell %s/%s failed: %s", shell["metadata"]["namespace"], shell["metadata"]["name"], message)
        current, now = shell.get("status") or {}, self.clock()
        status = {
            **current,
            "phase": Phase.FAILED,
            "conditions": [
                condition_since(current, "Ready", False, reason, message, now),
                condition_since(current, "Failed", True, reason, message, now),
            ],
        }
        kopf.warn(shell, reason=reason, message=message)
        await self._finish(shell, status, cache, memory)

    async def _finish(self, shell: dict[str, Any], status: dict[str, Any], cache: Cache, memory: Memory) -> None:
        """Write the final status first (a restarted operator never revives an ended shell), then release."""
        await self._write_status(shell, status, memory)
        await self._release(shell, cache, memory)

    async def _release(self, shell: dict[str, Any], cache: Cache, memory: Memory) -> None:
        """An ended shell keeps nothing: no Job, no Service (a NodePort must not outlive it), no route.

        Idempotent, and it writes only for what still exists. With `cleanup`, a Complete shell
        goes too (a Failed one stays, to say why).
        """
        namespace, owned = shell["metadata"]["namespace"], names.object_name(shell)
        await self._remove_route_entry(shell)
        for kind in RELEASED:
            if cache.owns(shell, kind) or kind in memory.created:
                await self._call(self.cluster.delete, kind, namespace, owned)
                memory.created.discard(kind)
        if (shell.get("status") or {}).get("phase") == Phase.COMPLETE and shell.get("spec", {}).get("cleanup"):
            await self._call(self.cluster.delete, "CloudShell", namespace, shell["metadata"]["name"])

    # --- shared routes: a path in a shared Ingress, a route in a shared VirtualService ------------

    async def _add_route_entry(self, shell: dict[str, Any], route: routes.RouteKey, cache: Cache) -> None:
        kind, namespace, name = route

        async def add(current: dict[str, Any] | None) -> bool:
            if current is None:  # False: another shell's first
                return await self._call(self.cluster.create, routes.fresh(shell, kind, self.settings))
            patch = routes.with_entry(shell, kind, current)
            if patch is not None:  # None: already there, no write
                await self._call(self.cluster.patch, kind, namespace, name, patch)
            return True

        # The index's copy first: in a steady state the entry is there, and nothing is read or written.
        await self._edit_shared(route, add, cache.shared_route(route))

    async def _remove_route_entry(self, shell: dict[str, Any]) -> None:
        try:
            route = routes.shared_route(shell)
        except InvalidShell:
            return  # it never had one
        if route is None:
            return
        kind, namespace, name = route

        async def remove(current: dict[str, Any] | None) -> bool:
            if current is not None:
                patch, empty = routes.without_entry(shell, kind, current)
                if empty:
                    await self._call(self.cluster.delete, kind, namespace, name)  # the last entry takes it along
                elif patch is not None:
                    await self._call(self.cluster.patch, kind, namespace, name, patch)
            return True

        # Read, not the index's copy: once per shell, and the entry just added may not be in the index yet.
        await self._edit_shared(route, remove, None)

    async def _edit_shared(
        self,
        route: routes.RouteKey,
        edit: Callable[[dict[str, Any] | None], Awaitable[bool]],
        cached: dict[str, Any] | None,
    ) -> None:
        """Apply ``edit`` to the shared object (``cached``, else the latest copy); again on the latest copy
        if another shell changed it first (409) or took it away (404), or refused the shell (InvalidShell)
        on the index's copy: a shell fails for what the latest copy shows, never for a lagging index."""
        kind, namespace, name = route
        current = cached
        for _attempt in range(5):
            read = current is None
            if read:
                current = await self._call(self.cluster.get, kind, namespace, name)
            try:
                if await edit(current):
                    return
            except InvalidShell:
                if read:
                    raise
            except ApiException as e:
                if e.status not in (404, 409) or current is None:  # a 404 creating it: no such API
                    raise
            current = None  # read it again
        raise kopf.TemporaryError(f"the shared {kind} {namespace}/{name} kept changing", delay=1)


def _current(body: dict[str, Any], memory: Memory) -> dict[str, Any]:
    """The shell as the watch showed it, with what this operator wrote since, which it may not show yet."""
    shell = copy.deepcopy(dict(body))
    if memory.status is not None:
        shell["status"] = copy.deepcopy(memory.status)
    meta = shell.setdefault("metadata", {})
    if memory.generation > meta.get("generation", 0):
        meta["generation"] = memory.generation
    return shell


def _remember_generation(shell: dict[str, Any], answer: Any, memory: Memory) -> None:
    generation = ((answer or {}).get("metadata") or {}).get("generation") if isinstance(answer, dict) else None
    if isinstance(generation, int) and generation > memory.generation:
        memory.generation = shell["metadata"]["generation"] = generation


def _expiry(shell: dict[str, Any]) -> datetime | None:
    """When a started shell's TTL runs out (the Job's activeDeadlineSeconds too, but only once the pod runs)."""
    started, ttl = parse_time((shell.get("status") or {}).get("lastScheduleTime")), ttl_seconds(shell.get("spec", {}))
    return started + timedelta(seconds=ttl) if started and ttl else None
