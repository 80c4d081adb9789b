"""A Kubernetes API for tests: kmock's emulator (a real HTTP server), and our operator on it.

kmock's KubernetesEmulator keeps no resourceVersion, enforces no optimistic concurrency,
answers a create with 200 rather than 201, and replays every object to every new watch;
kopf relies on a real API server's behaviour (to tell
stale events apart, to guard its finalizer patches). The subclass below stamps
uid/creationTimestamp/resourceVersion/generation, answers a stale write with 409 (422 for a
failed JSON-patch test), lists with the current resourceVersion and starts watches from it,
as a real API server does, so the operator is tested against real semantics.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import re
import threading
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import kopf
from kubernetes.client import ApiClient, Configuration

from jupyter_cloudtty.operator import GROUP, PLURAL, VERSION
from jupyter_cloudtty.operator.cluster import Cluster, path
from jupyter_cloudtty.operator.reconciler import make_registry
from jupyter_cloudtty.operator.settings import Settings

NOT_BUNDLED = {
    (GROUP, VERSION, PLURAL): ("CloudShell", {"status"}),
    ("networking.istio.io", "v1beta1", "virtualservices"): ("VirtualService", set()),
    ("gateway.networking.k8s.io", "v1", "httproutes"): ("HTTPRoute", {"status"}),
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NAMESPACE_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)$")
SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/:]+)(?::[^/]+)?/proxy(/.*)?$")


@attrs.define(kw_only=True)
class VersionedEmulator(kmock.KubernetesEmulator):
    _versions: itertools.count = attrs.field(factory=lambda: itertools.count(1), init=False)
    _latest: int = attrs.field(default=0, init=False)
    _refusals: dict[tuple[str, str], tuple[int, str, str]] = attrs.field(factory=dict, init=False)
    _services: dict[tuple[str, str], tuple[str, str]] = attrs.field(factory=dict, init=False)

    def serve_service(self, namespace: str, name: str, upstream: str, token: str) -> None:
        """Let the service proxy (``services/<name>/proxy/...``) reach ``upstream`` (http://host:port)
        for clients that authenticate with this bearer ``token``, as the API server's does."""
        self._services[(namespace, name)] = (upstream, token)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        proxied = SERVICE_PROXY.match(raw_request.path)
        if proxied and (proxied[1], proxied[2]) in self._services:
            upstream, token = self._services[(proxied[1], proxied[2])]
            return await _proxy_websocket(raw_request, upstream + (proxied[3] or "/"), token)
        return await super().__call__(raw_request)

    def refuse(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        """Answer ``method path`` with a Kubernetes error and change nothing (RBAC, quota, ...)."""
        self._refusals[(method.upper(), path)] = (status, reason, message)

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
        # A watch from resourceVersion N sees only changes after N, never a stale copy again.
        since = request.params.get("resourceVersion", "")
        since = int(since) if since.isdigit() else 0
        async for event in super()._serve_watch(request):
            if since and isinstance(event, dict):
                version = (event.get("object") or {}).get("metadata", {}).get("resourceVersion", "")
                if version.isdigit() and int(version) <= since:
                    continue
            yield event

    async def _handle(self, request: kmock.Request):  # type: ignore[override]
        refusal = self._refusals.get((request.method.upper(), request.url.path))
        if refusal is not None:
            status, reason, message = refusal
            raise kmock.KubernetesError(status=status, reason=reason, message=message)
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
        self.cluster = Cluster(ApiClient(Configuration(host=self.url)))
        self.settings = settings or Settings()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def start(self) -> Operator:
        ready = threading.Event()
        kopf_settings = kopf.OperatorSettings()
        kopf_settings.watching.reconnect_backoff = 0.1
        kopf_settings.queueing.idle_timeout = 0.1
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
