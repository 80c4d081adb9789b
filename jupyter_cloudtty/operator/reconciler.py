"""The CloudShell reconciler on kopf.

Every event about a shell (its own, or its Job's, pod's, endpoints' or route's) leads to one
``reconcile``: create what is missing (idempotently), observe, write the status only if it
changed, release what an ended shell held. Decisions are made in ``status.py`` and objects
are built in ``manifests.py``; this module only reads and writes.

An API server that fails for a while (429, 5xx, no answer) fails no shell: the handler runs
again with backoff (``kopf.TemporaryError``), event handlers included, which kopf never retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION, names
from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.model import Phase, parse_time
from jupyter_cloudtty.cloudshell.spec import ttl_seconds
from jupyter_cloudtty.kube import backoff
from jupyter_cloudtty.kube.client import Cluster

from . import manifests
from .settings import Settings
from .status import Observed, condition_since, next_status

log = logging.getLogger(__name__)

ROUTE_KINDS = {"Ingress": "networking.k8s.io/v1", "VirtualService": "networking.istio.io/v1beta1"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Reconciler:
    """Brings one CloudShell's objects and status in line with its spec."""

    def __init__(self, cluster: Cluster, settings: Settings, clock: Callable[[], datetime] = _now):
        self.cluster = cluster
        self.settings = settings
        self.clock = clock
        self._locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._failures: dict[tuple[str, str], int] = {}  # transient API failures in a row, per shell
        self._counting = threading.Lock()

    def reconcile_named(self, namespace: str, name: str) -> None:
        with self._transient((namespace, name)):
            shell = self.cluster.get("CloudShell", namespace, name)
        if shell and not shell["metadata"].get("deletionTimestamp"):
            self.reconcile(shell)

    def fail_named(self, namespace: str, name: str, reason: str, message: str) -> None:
        """Fail a shell for something only an Event tells (e.g. its kubeconfig cannot be mounted)."""
        with self._locks[(namespace, name)], self._transient((namespace, name)):
            shell = self.cluster.get("CloudShell", namespace, name)
            if shell and (shell.get("status") or {}).get("phase") not in Phase.ENDED:
                self._fail(shell, reason, message)
            self._failures.pop((namespace, name), None)

    def fail_pods_shell(self, namespace: str, pod: str, reason: str, message: str) -> None:
        """Fail the shell whose pod ``pod`` is (if it is one of ours)."""
        with self._transient((namespace, pod)):
            found = self.cluster.get("Pod", namespace, pod)
        owner = ((found or {}).get("metadata", {}).get("labels") or {}).get(names.SHELL_LABEL)
        if owner:
            self.fail_named(namespace, owner, reason, message)

    def reconcile(self, shell: dict[str, Any]) -> None:
        """Bring ``shell`` in line; ``kopf.TemporaryError`` if the API server failed."""
        key = (shell["metadata"]["namespace"], shell["metadata"]["name"])
        with self._transient(key):
            self._reconcile_locked(shell)
        self._failures.pop(key, None)

    @contextmanager
    def _transient(self, key: tuple[str, str]) -> Iterator[None]:
        """The API server failing for a while (429, 5xx, no answer) is a kopf.TemporaryError: the
        handler runs again later. The backoff is the shell's, whichever handler failed: several
        (the shell's, its pod's, its endpoints') may meet the same outage."""
        try:
            yield
        except (ApiException, HTTPError) as e:
            if not transient(e):
                raise
            with self._counting:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = self.settings.retry_delay(failures - 1, backoff.retry_after(e))
            why = f"the API server failed ({_describe(e)}); again in {delay:.1f}s"
            raise kopf.TemporaryError(why, delay=delay) from None

    def _reconcile_locked(self, shell: dict[str, Any]) -> None:
        namespace, name = shell["metadata"]["namespace"], shell["metadata"]["name"]
        with self._locks[(namespace, name)]:  # events of one shell arrive on several threads
            fresh = self.cluster.get("CloudShell", namespace, name)  # events may be stale by now
            if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                return  # deleted meanwhile: never recreate anything for it
            shell = fresh
            if (shell.get("status") or {}).get("phase") in Phase.ENDED:
                self._release(shell)  # idempotent: completes an interrupted ending
                return
            try:
                self._reconcile(shell)
            except InvalidShell as e:
                self._fail(shell, "InvalidSpec", str(e))
            except ApiException as e:
                if e.status == 403:
                    self._fail(shell, "Forbidden", f"the operator may not do this: {_api_message(e)}")
                elif e.status == 404:
                    self._fail(shell, "APINotInstalled", f"a needed API is not installed: {_api_message(e)}")
                else:
                    raise  # transient: retried with backoff (_transient); else kopf retries it later

    def _reconcile(self, shell: dict[str, Any]) -> None:
        spec = shell.get("spec", {})
        objects = manifests.owned_objects(shell, self.settings)  # validates: nothing is half-created
        route = self._shared_route(shell)
        if "image" not in spec:  # written back, as upstream does, so `kubectl get -o yaml` shows it
            job = next(o for o in objects if o["kind"] == "Job")
            image = job["spec"]["template"]["spec"]["containers"][0]["image"]
            self.cluster.patch("CloudShell", shell["metadata"]["namespace"], shell["metadata"]["name"],
                               {"spec": {"image": image}})  # fmt: skip
        for obj in objects:
            self.cluster.ensure(obj)  # a steady state writes nothing (upstream re-ran its setup)
        starting = Phase.CREATED_JOB
        if route is not None:
            self._add_route_entry(shell, route)
        starting = Phase.CREATED_ROUTE_RULE
        status = next_status(shell, self._observe(shell), self.settings, self.clock(), starting)
        _, ignored = manifests.kubeconfig_source(spec, self.settings)  # spec: validated by owned_objects
        if ignored and status["phase"] not in Phase.ENDED:  # said, not silently dropped
            current = shell.get("status") or {}
            status["conditions"].append(
                condition_since(current, "KubeconfigIgnored", True, "FeatureGate", ignored, self.clock())
            )
        if status["phase"] in Phase.ENDED:
            if status["phase"] == Phase.FAILED:
                failed = status["conditions"][-1]
                kopf.warn(shell, reason=failed["reason"], message=failed["message"])
            self._finish(shell, status)
        else:
            self._write_status(shell, status)

    # --- observing --------------------------------------------------------------------------

    def _observe(self, shell: dict[str, Any]) -> Observed:
        namespace, owned = shell["metadata"]["namespace"], names.object_name(shell)
        mode = shell.get("spec", {}).get("exposureMode", "NodePort")
        observed = Observed(
            job=self.cluster.get("Job", namespace, owned),
            pods=self.cluster.list("Pod", namespace, names.labels(shell)),
            endpoint_slices=self.cluster.list("EndpointSlice", namespace, {"kubernetes.io/service-name": owned}),
        )
        if mode in ("ClusterIP", "NodePort"):
            observed.service = self.cluster.get("Service", namespace, owned)
        if mode == "NodePort" and observed.pods:
            observed.nodes = self.cluster.list("Node")
        if mode == "GatewayAPI":
            observed.route = self.cluster.get("HTTPRoute", namespace, owned)
        if mode == "Ingress":
            route_ns, route_name = manifests.ingress_name(shell)
            ingress = self.cluster.get("Ingress", route_ns, route_name) or {}
            host = shell["spec"].get("ingressConfig", {}).get("host")
            observed.ingress_https = any(host in tls.get("hosts", []) for tls in ingress.get("spec", {}).get("tls", []))
        return observed

    # --- writing ------------------------------------------------------------------------------

    def _write_status(self, shell: dict[str, Any], status: dict[str, Any]) -> None:
        if status != (shell.get("status") or {}):  # a steady state writes nothing
            meta = shell["metadata"]
            self.cluster.patch("CloudShell", meta["namespace"], meta["name"], {"status": status}, "status")
            shell["status"] = status

    def _fail(self, shell: dict[str, Any], reason: str, message: str) -> None:
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
        self._finish(shell, status)

    def _finish(self, shell: dict[str, Any], status: dict[str, Any]) -> None:
        """Write the final status first (a restarted operator never revives an ended shell), then release."""
        self._write_status(shell, status)
        self._release(shell)

    def _release(self, shell: dict[str, Any]) -> None:
        """An ended shell keeps nothing: no Job, no Service (a NodePort must not outlive it), no route.

        Idempotent, and it writes only for what still exists. With `cleanup`, a Complete shell
        goes too (a Failed one stays, to say why).
        """
        namespace, owned = shell["metadata"]["namespace"], names.object_name(shell)
        self._remove_route_entry(shell)
        for kind in ("HTTPRoute", "Service", "Job", "RoleBinding", "ServiceAccount"):
            if self.cluster.get(kind, namespace, owned) is not None:
                self.cluster.delete(kind, namespace, owned)
        if (shell.get("status") or {}).get("phase") == Phase.COMPLETE and shell.get("spec", {}).get("cleanup"):
            self.cluster.delete("CloudShell", namespace, shell["metadata"]["name"])

    # --- shared routes: a path in a shared Ingress, a route in a shared VirtualService ------------

    def _shared_route(self, shell: dict[str, Any]) -> tuple[str, str, str] | None:
        mode = shell.get("spec", {}).get("exposureMode", "NodePort")
        if mode == "Ingress":
            return ("Ingress", *manifests.ingress_name(shell))
        if mode == "VirtualService":
            return ("VirtualService", *manifests.virtual_service_name(shell))
        return None

    def _edit_shared(self, route: tuple[str, str, str], edit: Callable[[dict[str, Any] | None], bool]) -> None:
        """Apply ``edit`` to the latest copy of a shared object; again if another shell got there first."""
        kind, namespace, name = route
        for _attempt in range(5):
            try:
                if edit(self.cluster.get(kind, namespace, name)):
                    return
            except ApiException as e:
                if e.status != 409:  # resourceVersion conflicts: re-read and redo
                    raise
        raise kopf.TemporaryError(f"the shared {kind} {namespace}/{name} kept changing", delay=1)

    def _add_route_entry(self, shell: dict[str, Any], route: tuple[str, str, str]) -> None:
        kind, namespace, name = route

        def add(current: dict[str, Any] | None) -> bool:
            if current is None:
                fresh = (
                    manifests.ingress(shell, [manifests.ingress_path(shell)])
                    if kind == "Ingress"
                    else manifests.virtual_service(shell, [manifests.virtual_service_route(shell)])
                )
                return self.cluster.create(fresh)  # False: another shell created it first
            patch = _with_entry(shell, kind, current)
            if patch is not None:  # None: already there, no write
                self.cluster.patch(kind, namespace, name, patch)
            return True

        self._edit_shared(route, add)

    def _remove_route_entry(self, shell: dict[str, Any]) -> None:
        try:
            route = self._shared_route(shell)
        except InvalidShell:
            return  # it never had one
        if route is None:
            return
        kind, namespace, name = route

        def remove(current: dict[str, Any] | None) -> bool:
            if current is not None:
                patch, empty = _without_entry(shell, kind, current)
                if empty:
                    self.cluster.delete(kind, namespace, name)  # the last entry takes it along
                elif patch is not None:
                    self.cluster.patch(kind, namespace, name, patch)
            return True

        self._edit_shared(route, remove)


def transient(e: BaseException) -> bool:
    """An API failure that goes away by itself: overloaded (429), failing (5xx), unreachable or silent."""
    if isinstance(e, ApiException):
        return e.status == 429 or e.status >= 500
    return isinstance(e, HTTPError)


def _describe(e: BaseException) -> str:
    return f"{e.status} {_api_message(e)}" if isinstance(e, ApiException) else f"{type(e).__name__}: {e}"


async def _until_done(running: dict[Any, bool], key: Any, call: Callable[..., None], *args: Any, logger: Any) -> None:
    """Run a blocking handler in a thread until the API server lets it through: kopf does not
    retry event handlers, and a pod that became Ready during an outage sends no second event.
    One run per ``key`` (a shell) at a time: an event meanwhile makes it run once more (it reads
    everything again), rather than a second run, or a second retry loop, of its own."""
    if key in running:
        running[key] = True
        return
    running[key] = False
    try:
        while True:
            try:
                await asyncio.to_thread(call, *args)
            except kopf.TemporaryError as e:
                logger.warning(str(e))
                await asyncio.sleep(e.delay or 0)
                continue
            if not running[key]:
                return
            running[key] = False  # an event came while it ran: once more, to see it
    finally:
        del running[key]


def _api_message(error: ApiException) -> str:
    try:
        return json.loads(error.body).get("message") or error.reason
    except (TypeError, ValueError):
        return str(error.reason)


def _with_entry(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch adding this shell's entry (guarded by resourceVersion), or None if present."""
    rv = {"resourceVersion": current["metadata"].get("resourceVersion")}
    if kind == "Ingress":
        entry, host = manifests.ingress_path(shell), shell["spec"].get("ingressConfig", {}).get("host")
        rules = [dict(rule) for rule in current.get("spec", {}).get("rules", [])]
        rule = next((r for r in rules if r.get("host") == host), None)
        if rule is None:
            rule = {"http": {"paths": []}, **({"host": host} if host else {})}
            rules.append(rule)
        paths = [p for p in rule.get("http", {}).get("paths", []) if p.get("path") != entry["path"]]
        if entry in rule.get("http", {}).get("paths", []):
            return None
        rule["http"] = {"paths": [*paths, entry]}
        return {"metadata": rv, "spec": {"rules": rules}}
    entry = manifests.virtual_service_route(shell)
    routes = current.get("spec", {}).get("http", [])
    if entry in routes:
        return None
    return {"metadata": rv, "spec": {"http": [r for r in routes if r.get("name") != entry["name"]] + [entry]}}


def _without_entry(shell: dict[str, Any], kind: str, current: dict[str, Any]) -> tuple[dict | None, bool]:
    """(a merge patch removing this shell's entry or None, whether nothing would remain)."""
    rv = {"resourceVersion": current["metadata"].get("resourceVersion")}
    if kind == "Ingress":
        backend = names.object_name(shell)
        rules = []
        for rule in current.get("spec", {}).get("rules", []):
            paths = [p for p in rule.get("http", {}).get("paths", [])
                     if p.get("backend", {}).get("service", {}).get("name") != backend]  # fmt: skip
            if paths:
                rules.append({**rule, "http": {"paths": paths}})
        if not rules:
            return None, True
        changed = rules != current.get("spec", {}).get("rules", [])
        return ({"metadata": rv, "spec": {"rules": rules}} if changed else None), False
    name = manifests.virtual_service_route(shell)["name"]
    routes = current.get("spec", {}).get("http", [])
    kept = [r for r in routes if r.get("name") != name]
    if not kept:
        return None, True
    return ({"metadata": rv, "spec": {"http": kept}} if kept != routes else None), False


# --- kopf wiring ------------------------------------------------------------------------------------


def make_registry(
    settings: Settings, cluster: Cluster, login: kopf.ConnectionInfo | None = None
) -> kopf.OperatorRegistry:
    """The operator's handlers in a registry of their own (tests run several operators)."""
    registry = kopf.OperatorRegistry()
    reconciler = Reconciler(cluster, settings)
    running: dict[Any, bool] = {}  # what event handlers run or retry, and if an event came meanwhile
    shells = {"group": GROUP, "version": VERSION, "plural": PLURAL, "registry": registry}
    owned = {"labels": {names.SHELL_LABEL: kopf.PRESENT}, "registry": registry}

    if login is not None:

        @kopf.on.login(registry=registry)
        def fixed_login(**_: Any) -> kopf.ConnectionInfo:
            return login
    else:
        kopf.on.login(registry=registry)(kopf.login_via_client)

    @kopf.on.resume(**shells)
    @kopf.on.create(**shells)
    @kopf.on.update(**shells, field="spec")
    def shell_changed(body: kopf.Body, **_: Any) -> None:
        reconciler.reconcile(dict(body))

    @kopf.on.event("batch", "v1", "jobs", **owned)
    @kopf.on.event("v1", "pods", **owned)
    @kopf.on.event("gateway.networking.k8s.io", "v1", "httproutes", **owned)
    async def child_changed(namespace: str, labels: dict[str, str], type: str | None, logger: Any, **_: Any) -> None:
        if type is not None:  # None: the initial listing, which the resume handler covers
            shell = labels[names.SHELL_LABEL]
            await _until_done(running, (namespace, shell), reconciler.reconcile_named, namespace, shell, logger=logger)

    def ours(labels: dict[str, str], **_: Any) -> bool:
        return labels.get("kubernetes.io/service-name", "").startswith("cloudshell-")

    @kopf.on.event("discovery.k8s.io", "v1", "endpointslices", when=ours, registry=registry)
    async def endpoints_changed(
        namespace: str, labels: dict[str, str], type: str | None, logger: Any, **_: Any
    ) -> None:
        if type is not None:
            shell = labels["kubernetes.io/service-name"].removeprefix("cloudshell-")
            await _until_done(running, (namespace, shell), reconciler.reconcile_named, namespace, shell, logger=logger)

    def kubeconfig_unmountable(body: kopf.Body, **_: Any) -> bool:
        involved = body.get("involvedObject") or {}
        return (
            body.get("reason") == "FailedMount"
            and involved.get("kind") == "Pod"
            and involved.get("name", "").startswith("cloudshell-")
            and '"kubeconfig"' in (body.get("message") or "")
        )

    @kopf.on.event("v1", "events", when=kubeconfig_unmountable, registry=registry)
    async def pod_event(body: kopf.Body, namespace: str, logger: Any, **_: Any) -> None:
        # A missing Secret/ConfigMap or key leaves the pod waiting forever; only this Event says why.
        pod, message = body["involvedObject"]["name"], f"the kubeconfig cannot be mounted: {body.get('message')}"
        failing = (reconciler.fail_pods_shell, namespace, pod, "KubeconfigNotMounted", message)
        await _until_done(running, ("pod", namespace, pod), *failing, logger=logger)

    def shares_a_route(spec: dict[str, Any], **_: Any) -> bool:
        return spec.get("exposureMode") in ROUTE_KINDS

    @kopf.on.delete(**shells, when=shares_a_route)
    def shell_deleted(body: kopf.Body, **_: Any) -> None:
        # Owned objects go with the shell (ownerReferences); its entry in a shared route does not.
        reconciler._remove_route_entry(dict(body))

    def expires(spec: dict[str, Any], status: dict[str, Any], **_: Any) -> bool:
        return bool(ttl_seconds(spec)) and status.get("phase") not in Phase.ENDED

    @kopf.daemon(**shells, when=expires, cancellation_timeout=1.0)
    async def ttl_watch(
        stopped: kopf.DaemonStopped, namespace: str, name: str, spec: dict[str, Any], logger: Any, **_: Any
    ) -> None:
        # Async, so that kopf can cancel it at once; blocking calls go to threads.
        ttl, failures = ttl_seconds(spec) or 0, 0
        while not stopped:
            try:
                shell = await asyncio.to_thread(cluster.get, "CloudShell", namespace, name)
                failures = 0
            except (ApiException, HTTPError) as e:
                if not transient(e):
                    raise
                failures += 1
                await stopped.wait(settings.retry_delay(failures - 1, backoff.retry_after(e)))
                continue
            if shell is None:
                return
            started = (shell.get("status") or {}).get("lastScheduleTime")
            if not started:  # not Ready yet: the TTL has not begun
                await stopped.wait(min(ttl, 5))
                continue
            remaining = ttl - (reconciler.clock() - parse_time(started)).total_seconds()
            if remaining <= 0:
                await _until_done(running, ("ttl", namespace, name), reconciler.reconcile, shell, logger=logger)
                return
            await stopped.wait(min(remaining, 300))

    return registry
