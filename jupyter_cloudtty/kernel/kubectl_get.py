"""``%kubectl get`` read straight from the API server, ~10× sooner than running kubectl, as kubectl reads it.

A kubectl process costs ~30 ms before its first request (bench/kubectl_get.py); the kernel keeps a
client and the discovered resources instead. Only the plain forms are read here, with credentials
kubectl would use the same way:

    get TYPE [NAME] [-n NS | -A] [-l SELECTOR] [--field-selector SELECTOR] [--context CONTEXT] [-o wide]

As kubectl does, it asks for the API server's own table (``as=Table``: the columns kubectl shows,
rendered by the server, with the objects); a server that answers plain JSON instead gets the
document ``kubectl get -o json`` prints, which the magics render with kernel/tables.py's columns.
TYPE is a plural, singular, short name or kind, optionally ``.group``. Credentials: the kubeconfig
kubectl reads (jupyter_cloudtty.kube.credentials, in kubectl's order) when its user has a token or
client certificates (or nothing), else, without any kubeconfig, the in-cluster ServiceAccount.
Everything else raises ``NotHere`` and is kubectl's to run: other flags, exec or auth-provider
users, proxies from the environment, unknown types, ``-o wide`` from a server without tables, and
every error answer (kubectl then prints its own message), so what the user sees does not depend on
the path taken.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from kubernetes.client.exceptions import ApiException

from jupyter_cloudtty._version import __version__
from jupyter_cloudtty.kube import credentials
from jupyter_cloudtty.kube.client import Answer, request

from .kubectl import Command

USER_AGENT = f"jupyter-cloudtty/{__version__} (%kubectl)"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
PLAIN_USER_KEYS = {
    "token",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
}
PLAIN_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"}
# kubectl's own Accept for a table: the server's rendering (v1; v1beta1 is gone since 1.22), else JSON.
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
ACCEPT_TABLE = f"{TABLE},application/json"
PAGE = 500  # kubectl's --chunk-size
REDISCOVER = 10.0
PLAIN_FLAGS = {"-n", "--namespace", "-l", "--selector", "--field-selector", "--context", "-A", "--all-namespaces"}
SWITCHES = {"-A", "--all-namespaces"}


class NotHere(Exception):
    """This request is left to kubectl (the reason says why)."""


@dataclass(frozen=True)
class GetRequest:
    """A plain ``kubectl get`` (see the module's docstring)."""

    type: str
    name: str | None = None
    namespace: str | None = None  # None: the context's
    all_namespaces: bool = False
    selector: str | None = None
    field_selector: str | None = None
    context: str | None = None
    wide: bool = False


def plan(command: Command) -> GetRequest:
    """Read a parsed command line as a plain ``get``; ``NotHere`` for anything else (pure)."""
    if command.verb != "get" or command.streams or command.output not in (None, "wide"):
        raise NotHere("not a plain get")
    for name, value in command.flags:
        if name not in PLAIN_FLAGS:
            raise NotHere(f"flag {name}")
        if value is None and name not in SWITCHES:
            raise NotHere(f"{name} without a value")
    if len(command.operands) not in (1, 2):
        raise NotHere("not a plain get of one type")
    kind = command.operands[0]
    if "/" in kind or "," in kind or kind == "all":
        raise NotHere("several types, or TYPE/NAME")
    name = command.operands[1] if len(command.operands) == 2 else None
    if command.all_namespaces and name is not None:
        raise NotHere("a name across all namespaces")  # kubectl says why
    return GetRequest(
        kind.lower(),
        name,
        namespace=command.namespace,
        all_namespaces=command.all_namespaces,
        selector=command.value("-l", "--selector"),
        field_selector=command.value("--field-selector"),
        context=command.context,
        wide=command.output == "wide",
    )


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    names: frozenset[str] = frozenset()  # what TYPE may say: plural, singular, kind, short names

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


@dataclass
class Listing:
    """What a plain get read: the document ``kubectl get -o json`` prints, the API server's table of it
    (meta.k8s.io/v1 Table, its rows' objects as in the document) when it renders one, and its warnings."""

    document: dict[str, Any]
    table: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ClusterReader:
    """What the kernel reads of one API server: a client, its default namespace, the resource types discovered."""

    api: Any
    namespace: str
    _versions: dict[str, list[Resource]] = field(default_factory=dict)
    _groups: list[str] | None = None
    _discovered: float = field(default_factory=time.monotonic)

    def call(self, path: str, query: list[tuple[str, Any]] | None = None, accept: str = "application/json") -> Answer:
        """GET ``path``; ``NotHere`` for an error answer (kubectl then says it in its words)."""
        try:
            return request(self.api, "GET", path, query=query, headers={"Accept": accept}, timeout=(30, None))
        except ApiException as e:
            raise NotHere(f"{path} answered {e.status}") from None

    def _resources(self, prefix: str) -> list[Resource]:
        if prefix not in self._versions:
            body = self.call(prefix).json()
            group, _, version = body["groupVersion"].rpartition("/")
            self._versions[prefix] = [
                Resource(group, version, r["name"], r["kind"], bool(r.get("namespaced")), _names(r))
                for r in body.get("resources") or []
                if "/" not in r["name"] and "get" in (r.get("verbs") or ["get"])  # no subresources
            ]
        return self._versions[prefix]

    def _group_prefixes(self) -> list[str]:
        if self._groups is None:
            body = self.call("/apis").json()
            self._groups = [f"/apis/{g['preferredVersion']['groupVersion']}" for g in body.get("groups") or []]
        return self._groups

    def resolve(self, word: str) -> Resource:
        """The type kubectl's discovery would pick: the core group first, then the groups in the server's order.

        A type not found is looked for once more after a fresh discovery (a CRD installed since),
        at most every ``REDISCOVER`` seconds.
        """
        found = self._find(word)
        if found is None and time.monotonic() - self._discovered > REDISCOVER:
            self._versions, self._groups, self._discovered = {}, None, time.monotonic()
            found = self._find(word)
        if found is None:
            raise NotHere(f"no resource type {word!r} discovered")
        return found

    def _find(self, word: str) -> Resource | None:
        name, _, group = word.partition(".")
        for prefix in ["/api/v1", *self._group_prefixes()]:
            if group and not _group_matches(prefix, group):
                continue
            for resource in self._resources(prefix):
                if name in resource.names:
                    return resource
        return None

    def get(self, request: GetRequest) -> Listing:
        """What kubectl reads for ``request``: the server's table of it if it renders one, else JSON."""
        resource = self.resolve(request.type)
        path = resource.prefix
        if resource.namespaced and not request.all_namespaces:
            path += f"/namespaces/{request.namespace or self.namespace}"
        path += f"/{resource.plural}"
        query: list[tuple[str, Any]] = [("includeObject", "Object")]  # the rows' objects, for .items
        if request.name is not None:
            answer = self.call(f"{path}/{request.name}", query, ACCEPT_TABLE)
            return _one(answer.json(), resource, request, answer.warnings)
        query.append(("limit", PAGE))
        if request.selector:
            query.append(("labelSelector", request.selector))
        if request.field_selector:
            query.append(("fieldSelector", request.field_selector))
        pages: list[dict[str, Any]] = []
        warnings: list[str] = []
        while True:
            answer = self.call(path, query, ACCEPT_TABLE)
            pages.append(answer.json() or {})
            warnings += answer.warnings
            token = (pages[-1].get("metadata") or {}).get("continue")
            if not token:
                break
            query = [q for q in query if q[0] != "continue"] + [("continue", token)]
        return _listed(pages, resource, request, warnings)


def _is_table(body: Any) -> bool:
    return isinstance(body, dict) and body.get("kind") == "Table" and body.get("apiVersion") == "meta.k8s.io/v1"


def _one(body: Any, resource: Resource, request: GetRequest, warnings: list[str]) -> Listing:
    """One object asked by name: kubectl prints the object itself, not a List."""
    if not _is_table(body):
        if request.wide:
            raise NotHere("no table from the server for -o wide")
        return Listing(_printed(body, resource), None, warnings)
    table = _table([body], resource)
    if len(table["rows"]) != 1:
        raise NotHere(f"a table of {len(table['rows'])} rows for one object")
    return Listing(table["rows"][0]["object"], table, warnings)


def _listed(pages: list[dict[str, Any]], resource: Resource, request: GetRequest, warnings: list[str]) -> Listing:
    tables = [_is_table(page) for page in pages]
    if all(tables):
        table = _table(pages, resource)
        items = [row["object"] for row in table["rows"]]
    elif any(tables):
        raise NotHere("a table on some pages only")
    elif request.wide:
        raise NotHere("no table from the server for -o wide")
    else:
        table, items = None, [_printed(item, resource) for page in pages for item in page.get("items") or []]
    document = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    return Listing(document, table, warnings)


def _table(pages: list[dict[str, Any]], resource: Resource) -> dict[str, Any]:
    """The pages' tables as one, each row's object typed as kubectl prints it."""
    rows = [
        {**row, "object": _printed(row.get("object") or {}, resource)}
        for page in pages
        for row in page.get("rows") or []
    ]
    return {**pages[0], "rows": rows, "metadata": {}}


def _names(resource: dict[str, Any]) -> frozenset[str]:
    words = {
        resource["name"],
        resource.get("singularName") or "",
        resource["kind"],
        *(resource.get("shortNames") or []),
    }
    return frozenset(word.lower() for word in words if word)


def _group_matches(prefix: str, group: str) -> bool:
    """``deployments.apps`` or ``deployments.v1.apps``: does the group-version ``prefix`` serve it?"""
    served = prefix.removeprefix("/apis/").removeprefix("/api/")
    served_group, _, served_version = served.rpartition("/")
    return group == served_group or group == f"{served_version}.{served_group}"


def _printed(obj: dict[str, Any], resource: Resource) -> dict[str, Any]:
    """As kubectl prints an object: typed, without managedFields (--show-managed-fields=false)."""
    obj = {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return obj


_readers: dict[tuple, ClusterReader] = {}


def connect(context: str | None = None, env: Mapping[str, str] | None = None) -> ClusterReader:
    """The reader for kubectl's credentials (kept while the kubeconfig files are unchanged)."""
    env = os.environ if env is None else env
    if any(env.get(v) for v in PROXY_VARIABLES):
        raise NotHere("a proxy from the environment (kubectl honours it)")
    paths = credentials.kubeconfig_paths(env=env)
    key = (tuple((p, os.stat(p).st_mtime_ns) for p in paths), context, env.get("KUBECONFIG"))
    if key not in _readers:
        if len(_readers) >= 8:  # e.g. an edited kubeconfig's older versions
            _readers.pop(next(iter(_readers)))
        _readers[key] = _reader(context, env)
    return _readers[key]


def _reader(context: str | None, env: Mapping[str, str]) -> ClusterReader:
    try:
        found = credentials.find(context=context or "", prefer_in_cluster=False, env=env)
    except credentials.CredentialsError as e:
        raise NotHere(str(e)) from None
    if found is None:
        raise NotHere("no kubeconfig and no in-cluster ServiceAccount")
    if not found.in_cluster:
        cluster, user = found.cluster, found.user or {}
        if cluster is None or set(cluster) - PLAIN_CLUSTER_KEYS or set(user) - PLAIN_USER_KEYS:
            raise NotHere("credentials or cluster options kubectl handles itself (exec, auth-provider, proxy...)")
    return ClusterReader(found.client(user_agent=USER_AGENT), found.namespace)


def get(command: Command) -> Listing:
    """What ``kubectl get`` reads for ``command``; ``NotHere`` when kubectl must run."""
    request = plan(command)
    return connect(request.context).get(request)
