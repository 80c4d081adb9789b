"""A Kubernetes API for tests: kmock's emulator (a real HTTP server), and our operator on it.

kmock's KubernetesEmulator keeps no resourceVersion, enforces no optimistic concurrency,
answers a create with 200 rather than 201, and replays every object to every new watch;
kopf relies on a real API server's behaviour (to tell
stale events apart, to guard its finalizer patches). The subclass below stamps
uid/creationTimestamp/resourceVersion/generation, answers a stale write with 409 (422 for a
failed JSON-patch test), lists with the current resourceVersion and starts watches from it,
as a real API server does, so the operator is tested against real semantics. It ends a watch
after its ``timeoutSeconds``, as a real one does, and can fail for a while (``outage``: 500,
429 or no answer at all) for the clients under test.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import re
import threading
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import kopf
from kubernetes.client import ApiClient, Configuration

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION
from jupyter_cloudtty.cloudshell.spec import EXPOSURE_MODES
from jupyter_cloudtty.kube.client import Cluster, path
from jupyter_cloudtty.operator.handlers import make_registry
from jupyter_cloudtty.operator.settings import Settings, ShellPolicy

NOT_BUNDLED = {
    (GROUP, VERSION, PLURAL): ("CloudShell", {"status"}),
    ("networking.istio.io", "v1beta1", "virtualservices"): ("VirtualService", set()),
    ("gateway.networking.k8s.io", "v1", "httproutes"): ("HTTPRoute", {"status"}),
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)$")
SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/:]+)(?::[^/]+)?/proxy(/.*)?$")


REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


class Fault:
    """Requests that get an error, or no answer, instead of being served: one refused call
    (``VersionedEmulator.refuse``) or an outage for a while (``VersionedEmulator.outage``).

    Thread-safe enough for a test on another loop than the emulator's: ``end()`` sets a flag
    and wakes the requests held on the emulator's loop. ``hits`` has (time.monotonic(), method,
    path?query) of every request it failed, to tell retries with backoff from a hot loop.
    """

    def __init__(
        self,
        emulator: VersionedEmulator,
        *,
        methods: Iterable[str] | None,
        path: str | re.Pattern[str],
        status: int | None,
        reason: str = "",
        message: str = "",
        requests: int | None = None,
        retry_after: int = 1,
        late_writes: bool = False,
        details: dict[str, Any] | None = None,
    ):
        self._emulator = emulator
        self.details = details or {}  # the Status's details (a refusal's causes)
        self.methods = {m.upper() for m in methods} if methods is not None else None
        self.path = path if isinstance(path, re.Pattern) else re.compile(f"^{re.escape(path)}$")
        self.status = status  # None: no answer at all, as from an API server that hangs
        self.reason = reason or REASONS.get(status or 504, "InternalError")
        self.message = message or f"the API server is failing ({self.reason}, emulated)"
        self.remaining = requests
        self.retry_after = retry_after
        self.late_writes = late_writes
        self.hits: list[tuple[float, str, str]] = []
        self._over = threading.Event()
        self._woken = asyncio.Event()  # on the emulator's loop: set there by end()

    @property
    def active(self) -> bool:
        return not self._over.is_set()

    def matches(self, method: str, path: str, user_agent: str) -> bool:
        # The test's own calls (kmock's client) get through: they stand for another client
        # (kubectl, a controller) that still reaches a healthy API server.
        return (
            self.active
            and (self.remaining is None or self.remaining > 0)
            and not user_agent.startswith("kmock/")
            and (self.methods is None or method.upper() in self.methods)
            and self.path.search(path) is not None
        )

    def hit(self, method: str, path_qs: str) -> None:
        self.hits.append((time.monotonic(), method.upper(), path_qs))
        if self.remaining is not None:
            self.remaining -= 1

    def response(self) -> aiohttp.web.Response:
        assert self.status is not None
        headers = {"Retry-After": str(self.retry_after)} if self.status == 429 else {}
        details = {"retryAfterSeconds": self.retry_after} if self.status == 429 else dict(self.details)
        return aiohttp.web.json_response(self.status_object(details), status=self.status, headers=headers)

    def status_object(self, details: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": self.status or 504,
                "reason": self.reason, "message": self.message, "details": details or {}}  # fmt: skip

    async def ended(self, raw_request: aiohttp.web.BaseRequest | None = None) -> bool:
        """Wait until the outage ends (True) or the client gives up on ``raw_request`` (False)."""
        while self.active:
            if raw_request is not None and (raw_request.transport is None or raw_request.transport.is_closing()):
                return False
            try:  # aiohttp tells no one that a client went away: look again now and then
                await asyncio.wait_for(self._woken.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        return True

    def end(self) -> None:
        """End the outage (from any thread): held requests are then served, new ones too."""
        if self.active:
            self._over.set()
            self._emulator.call_soon(self._woken.set)
            self._emulator.call_soon(self._emulator.faults_changed)

    def __enter__(self) -> Fault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


@attrs.define(kw_only=True)
class VersionedEmulator(kmock.KubernetesEmulator):
    _versions: itertools.count = attrs.field(factory=lambda: itertools.count(1), init=False)
    _latest: int = attrs.field(default=0, init=False)
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _faults_changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _services: dict[tuple[str, str], tuple[str, str]] = attrs.field(factory=dict, init=False)
    _late: set[asyncio.Future] = attrs.field(factory=set, init=False)  # writes made once their outage ends

    async def __aenter__(self) -> VersionedEmulator:
        self._loop = asyncio.get_running_loop()
        return await super().__aenter__()

    def call_soon(self, callback: Any) -> None:
        """Run ``callback`` on the emulator's loop, from any thread."""
        assert self._loop is not None, "the emulator is not running"
        self._loop.call_soon_threadsafe(callback)

    def serve_service(self, namespace: str, name: str, upstream: str, token: str) -> None:
        """Let the service proxy (``services/<name>/proxy/...``) reach ``upstream`` (http://host:port)
        for clients that authenticate with this bearer ``token``, as the API server's does."""
        self._services[(namespace, name)] = (upstream, token)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        fault = self._fault(raw_request.method, raw_request.path, raw_request.headers)
        if fault is not None:
            body = await raw_request.read()  # the whole request came, as a real API server reads it
            fault.hit(raw_request.method, raw_request.path_qs)
            if fault.status is not None:
                return fault.response()
            # No answer until the outage ends; by then the client may have given up (aiohttp then
            # cancels this). A write may still be made (late_writes): a real API server may have
            # committed it, only its answer was lost.
            there = False
            try:
                there = await fault.ended(raw_request)
            finally:
                if not there and fault.late_writes and raw_request.method in WRITES:
                    content_type = raw_request.headers.get("Content-Type", "application/json")
                    self._make_later(fault, raw_request.method, raw_request.path_qs, body, content_type)
            if not there:
                return aiohttp.web.Response(status=504)  # to no one: the connection is gone
        proxied = SERVICE_PROXY.match(raw_request.path)
        if proxied and (proxied[1], proxied[2]) in self._services:
            upstream, token = self._services[(proxied[1], proxied[2])]
            return await _proxy_websocket(raw_request, upstream + (proxied[3] or "/"), token)
        return await super().__call__(raw_request)

    def _make_later(self, fault: Fault, method: str, path_qs: str, body: bytes, content_type: str) -> None:
        """Serve a write whose client is gone once ``fault`` ends (as our own client: no fault applies)."""

        async def make() -> None:
            await fault.ended()
            async with self.request(method, path_qs, data=body, headers={"Content-Type": content_type}) as response:
                await response.read()

        task = asyncio.ensure_future(make())
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def refuse(
        self, method: str, path: str, status: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> Fault:
        """Answer ``method path`` with a Kubernetes error and change nothing (RBAC, quota, ...)."""
        return self._add(Fault(self, methods=[method], path=path, status=status, reason=reason, message=message,
                               details=details))  # fmt: skip

    def outage(
        self,
        status: int | None = 500,
        *,
        methods: Iterable[str] | None = None,
        path: str = "",
        requests: int | None = None,
        retry_after: int = 1,
        late_writes: bool = False,
        message: str = "",
    ) -> Fault:
        """The API server failing for a while: requests matching ``methods`` (default: all) and the
        regular expression ``path`` get ``status`` (500 InternalError, 429 TooManyRequests with
        Retry-After, ...), or with ``status=None`` no answer at all (held until the outage ends or
        the client gives up), until ``end()`` (or the end of a ``with`` block), or for the next
        ``requests`` requests only (held ones stay held until then). Open watches that match are
        cut with an ERROR event of that status, or go silent with ``status=None``. The test's own
        calls (``Api``) get through.
        """
        fault = Fault(self, methods=methods, path=re.compile(path), status=status, requests=requests,
                      retry_after=retry_after, late_writes=late_writes, message=message)  # fmt: skip
        return self._add(fault)

    def _add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        self.call_soon(self.faults_changed)  # open watches look at it
        return fault

    def faults_changed(self) -> None:
        """Wake the open watches, to look at the faults again (on the emulator's loop)."""
        self._faults_changed.set()
        self._faults_changed = asyncio.Event()

    def _fault(self, method: str, path: str, headers: Any) -> Fault | None:
        agent = headers.get("User-Agent", "")
        return next((fault for fault in list(self._faults) if fault.matches(method, path, agent)), None)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # OpenAPI v3 discovery, just enough for kubectl to see server-side field validation (as on a
        # real API server since 1.27); kubectl apply/create then skip their client-side schema check.
        self.fallback["get /openapi/v3"] << self._serve_openapi
        self.fallback["get", re.compile(r"/openapi/v3/.+")] << self._serve_openapi_group_version

    async def _serve_openapi(self, request: kmock.Request):
        paths = {f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}" for r in self._get_resources()}
        return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}"} for path in paths}}

    async def _serve_openapi_group_version(self, request: kmock.Request):
        prefix, gv = request.url.path.removeprefix("/openapi/v3/").split("/", 1)
        group, version = gv.split("/") if "/" in gv else ("", gv)
        paths = {}
        for resource in self._get_resources():
            if (resource.group, resource.version) == (group, version):
                kind = self.resources[resource].kind
                patch = {
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                    "responses": {},
                }
                paths[f"/{prefix}/{gv}/namespaces/{{namespace}}/{resource.plural}/{{name}}"] = {"patch": patch}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "emulated"}, "paths": paths}

    def _next_version(self) -> str:
        self._latest = next(self._versions)
        return str(self._latest)

    async def _serve_create(self, request: kmock.Request):  # type: ignore[override]
        # 201 Created, as a real API server answers (the official client reads the body only then).
        return kmock.Response(status=201, payload=await super()._serve_create(request))

    async def _serve_version(self, request: kmock.Request):  # type: ignore[override]
        resources = await super()._serve_version(request)
        resources["groupVersion"] = resources["groupVersion"].lstrip("/")  # core is "v1", not "/v1" (kubectl)
        for resource in resources["resources"]:
            if "/" in resource["name"]:  # a subresource has no short names (else kubectl warns of ambiguity)
                resource.update(shortNames=[], categories=[])
        return resources

    async def _serve_list(self, request: kmock.Request):  # type: ignore[override]
        listing = await super()._serve_list(request)
        listing["metadata"]["resourceVersion"] = str(self._latest)  # not kmock's placeholder
        # A typed list, as kubectl needs to decode it (a real API server sends e.g. PodList).
        resource = request.resource
        listing["apiVersion"] = f"{resource.group}/{resource.version}".lstrip("/")
        listing["kind"] = f"{self.resources[resource].kind}List"
        return {"apiVersion": listing.pop("apiVersion"), "kind": listing.pop("kind"), **listing}

    async def _serve_watch(self, request: kmock.Request):  # type: ignore[override]
        # Typed as a real API server types it: kubectl decodes a watch by its Content-Type.
        return kmock.Response(headers={"Content-Type": "application/json"}, payload=self._watch_since(request))

    async def _watch_since(self, request: kmock.Request):
        """Existing objects, then changes, as a real API server watches: from resourceVersion N only
        what is newer than N, never a stale copy again; ended after ``timeoutSeconds``; cut by an
        outage that begins (an ERROR event with its status), or silenced by one with no status."""
        since = request.params.get("resourceVersion", "")
        since = int(since) if since.isdigit() else 0
        seconds = request.params.get("timeoutSeconds", "")
        deadline = time.monotonic() + int(seconds) if seconds.isdigit() else None
        bus = self._buses[request.resource]
        async with self._lock:  # writes publish under it: a change is in the listing or in the stream, once
            marker = await bus.mark()
            listed = [obj.raw for key, obj in self.objects.items() if not obj.deleted and _watched(request, *key)]
        changes = bus.stream(since=marker)
        following: asyncio.Future | None = None
        try:
            yield b""  # the headers go now, as a watch's do
            for raw in listed:
                version = raw.get("metadata", {}).get("resourceVersion", "")
                if not (since and version.isdigit() and int(version) <= since):
                    yield {"type": "ADDED", "object": raw}
            while True:
                fault = self._fault(request.method, request.url.path, request.headers)
                if fault is not None and fault.status is not None:
                    yield {"type": "ERROR", "object": fault.status_object()}
                    return
                if fault is not None:
                    await fault.ended()  # silent, as behind an API server that hangs
                    continue
                if following is None:
                    following = asyncio.ensure_future(anext(changes))
                changed = asyncio.ensure_future(self._faults_changed.wait())
                left = None if deadline is None else deadline - time.monotonic()
                try:
                    done, _ = await asyncio.wait(
                        {following, changed}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:  # also when the watcher goes away: a task left pending is "destroyed" at loop close
                    changed.cancel()
                    await asyncio.gather(changed, return_exceptions=True)
                if not done:
                    return  # timeoutSeconds passed
                if following in done:
                    event, following = following.result(), None
                    meta = (event.get("object") or {}).get("metadata", {}) if isinstance(event, dict) else {}
                    if _watched(request, request.resource, meta.get("namespace"), meta.get("name")):
                        yield event
        finally:
            if following is not None:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
            await changes.aclose()
            await bus.unmark(marker)

    async def _handle(self, request: kmock.Request):  # type: ignore[override]
        namespace = NAMESPACE_PATH.match(request.url.path)
        if namespace and request.method == kmock.method.GET:
            # kmock's namespaces are implicit (any one holds objects): each exists, as kubectl checks.
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace[1]}}
            return aiohttp.web.json_response({**ns, "status": {"phase": "Active"}})
        data = request.data
        if request.resource is not None and request.action == kmock.action.CREATE and isinstance(data, dict):
            meta = dict(data.get("metadata") or {})
            if request.namespace:
                meta.setdefault("namespace", request.namespace)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            meta["resourceVersion"] = self._next_version()
            meta["generation"] = 1
            object.__setattr__(request, "data", {**data, "metadata": meta})
        elif request.resource is not None and request.action == kmock.action.UPDATE:
            key = (request.resource, request.namespace, request.name)
            existing = key in self.objects and not self.objects[key].deleted
            current = self.objects[key].raw if existing else None
            if current is not None:
                version = self._next_version()
                meta = current.get("metadata", {})
                if isinstance(data, dict):
                    wanted = (data.get("metadata") or {}).get("resourceVersion")
                    if wanted is not None and wanted != meta.get("resourceVersion"):
                        raise kmock.KubernetesError(
                            status=409,
                            reason="Conflict",
                            message="the object has been modified; please apply your changes to the latest version",
                        )
                    stamps = {"resourceVersion": version}
                    if "spec" in data and request.subresource is None:
                        stamps["generation"] = meta.get("generation", 1) + 1
                    data = {**data, "metadata": {**(data.get("metadata") or {}), **stamps}}
                elif isinstance(data, list):
                    try:
                        jsonpatch.apply_patch(current, data)  # dry run, `test` operations included
                    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                        raise kmock.KubernetesError(status=422, reason="Invalid", message=str(e)) from None
                    data = [*data, {"op": "add", "path": "/metadata/resourceVersion", "value": version}]
                object.__setattr__(request, "data", data)
        try:
            return await super()._handle(request)
        except kmock.KubernetesError as e:
            if e.status != 404 or request.resource is None or request.name is None:
                raise
            # A real API server's NotFound, as kubectl prints it: pods "x" not found (not kmock's hint).
            plural = request.resource.plural
            raise kmock.KubernetesError(
                status=404,
                reason="NotFound",
                message=f'{plural} "{request.name}" not found',
                details={"name": request.name, "group": request.resource.group, "kind": plural},
            ) from None


async def _proxy_websocket(request: aiohttp.web.BaseRequest, upstream: str, token: str) -> aiohttp.web.StreamResponse:
    """The API server's service proxy for a WebSocket: it authenticates the client, then relays
    frames both ways without passing the client's credentials on."""
    if request.headers.get("Authorization") != f"Bearer {token}":
        return aiohttp.web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
    browser = aiohttp.web.WebSocketResponse(protocols=("tty",))
    await browser.prepare(request)
    async with aiohttp.ClientSession() as session, session.ws_connect(upstream, protocols=("tty",)) as pod:

        async def relay(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(message.data)
            await sink.close()

        await asyncio.gather(relay(browser, pod), relay(pod, browser))
    return browser


def _watched(request: kmock.Request, resource: Any, namespace: str | None, name: str | None) -> bool:
    """An object a watch is about (as kmock's own watch selects: resource, namespace, name)."""
    return (
        resource == request.resource
        and (request.namespace is None or namespace == request.namespace)
        and (request.name is None or name == request.name)
    )


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@asynccontextmanager
async def emulated_kubernetes(cloudshells: bool = True) -> AsyncIterator[VersionedEmulator]:
    """An emulated API server on 127.0.0.1 serving the built-in kinds and the ones we use
    (without the CloudShell CRD when ``cloudshells`` is false)."""
    async with VersionedEmulator() as k8s, kmock.Server(k8s):
        k8s.resources.load_bundled()
        for (group, version, plural), (kind, subresources) in NOT_BUNDLED.items():
            if plural == PLURAL and not cloudshells:
                continue
            k8s.resources[kmock.resource(group, version, plural)] = kmock.ResourceInfo(
                kind=kind,
                singular=kind.lower(),
                namespaced=True,
                verbs={"list", "watch", "get", "create", "patch", "delete"},
                subresources=subresources,
            )
        yield k8s


class Operator:
    """Our operator run by kopf in its own thread (its own loop), against the emulator."""

    def __init__(self, k8s: VersionedEmulator, settings: Settings | None = None):
        self.url = str(k8s.url)
        # Short backoffs and timeouts, so that an outage and the recovery take seconds.
        # Every exposure mode allowed: the tests here stage modes; the admin's policy is checked on the
        # real control plane (test_shell_pods_on_cluster.py) and in tests/test_operator_policy.py.
        self.settings = settings or Settings(retry_backoff=0.1, max_retry_backoff=1.0, request_timeout=2.0,
                                             policy=ShellPolicy(exposure_modes=EXPOSURE_MODES))  # fmt: skip
        self.cluster = Cluster(ApiClient(Configuration(host=self.url)), timeout=self.settings.request_timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> Operator:
        ready = threading.Event()
        kopf_settings = kopf.OperatorSettings()
        kopf_settings.watching.reconnect_backoff = 0.1
        kopf_settings.queueing.idle_timeout = 0.1
        kopf_settings.networking.error_backoffs = [0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1, 1]  # its own requests
        kopf_settings.networking.request_timeout = self.settings.request_timeout
        registry = make_registry(self.settings, self.cluster, kopf.ConnectionInfo(server=self.url, insecure=True))
        self._stop.clear()
        self._thread = threading.Thread(
            target=kopf.run,
            name="kopf",
            daemon=True,
            kwargs=dict(
                registry=registry,
                settings=kopf_settings,
                clusterwide=True,
                standalone=True,
                stop_flag=self._stop,
                ready_flag=ready,
            ),  # fmt: skip
        )
        self._thread.start()
        assert await asyncio.to_thread(ready.wait, 20), "kopf did not start"
        return self

    async def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        await asyncio.to_thread(self._thread.join, 20)  # never block the loop: the emulator lives in it
        assert not self._thread.is_alive(), "kopf did not stop"


class Api:
    """The test's own calls to the emulator, over HTTP, so watchers see them (as other controllers')."""

    def __init__(self, k8s: VersionedEmulator):
        self.k8s = k8s
        self.operator: Operator | None = None

    async def _json(self, response) -> Any:
        assert response.status < 300, f"{response.status}: {await response.text()}"
        return await response.json()

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return await self._json(await self.k8s.post(path(obj["kind"], meta.get("namespace")), json=obj))

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        response = await self.k8s.get(path(kind, namespace, name))
        return None if response.status == 404 else await self._json(response)

    async def list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        return (await self._json(await self.k8s.get(path(kind, namespace)))).get("items") or []

    async def patch(self, kind: str, namespace: str | None, name: str, patch: Any, sub: str | None = None) -> dict:
        headers = {"Content-Type": "application/merge-patch+json"}
        return await self._json(await self.k8s.patch(path(kind, namespace, name, sub), json=patch, headers=headers))

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        await self._json(await self.k8s.delete(path(kind, namespace, name)))

    def writes(self) -> list[str]:
        """Write requests the server received, other than the test's own."""
        return [
            f"{r.method.upper()} {r.url.path}"
            for r in self.k8s
            if r.method in WRITES and not r.headers.get("User-Agent", "").startswith("kmock/")
        ]
