"""``%kubectl get`` read straight from the API server: the document ``kubectl get -o json`` prints, ~10× sooner.

A kubectl process costs ~30 ms before its first request (bench/kubectl_get.py); the kernel keeps a
client and the discovered resources instead. Only the plain forms are read here, with credentials
kubectl would use the same way:

    get TYPE [NAME] [-n NS | -A] [-l SELECTOR] [--field-selector SELECTOR] [--context CONTEXT]

TYPE is a plural, singular, short name or kind, optionally ``.group``. Credentials: the kubeconfig
kubectl reads (``$KUBECONFIG`` merged as kubectl merges it, else ``~/.kube/config``) when its user has
a token or client certificates (or nothing), else, without any kubeconfig, the in-cluster
ServiceAccount. Everything else raises ``NotHere`` and is kubectl's to run: other flags, exec or
auth-provider users, proxies from the environment, unknown types, and every error answer (kubectl
then prints its own message), so what the user sees does not depend on the path taken.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from jupyter_cloudtty._version import __version__

USER_AGENT = f"jupyter-cloudtty/{__version__} (%kubectl)"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
PLAIN_USER_KEYS = {
    "token",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
}
PLAIN_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"}
PAGE = 500  # kubectl's --chunk-size
REDISCOVER = 10.0


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


VALUED = {
    "-n": "namespace",
    "--namespace": "namespace",
    "-l": "selector",
    "--selector": "selector",
    "--field-selector": "field_selector",
    "--context": "context",
}


def plan(args: Sequence[str]) -> GetRequest:
    """Read a command line as a plain ``get``; ``NotHere`` for anything else (pure)."""
    values: dict[str, Any] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-A", "--all-namespaces", "--all-namespaces=true"):
            values["all_namespaces"] = True
        elif arg == "--all-namespaces=false":
            values["all_namespaces"] = False
        elif arg in VALUED:
            if i >= len(args):
                raise NotHere(f"{arg} without a value")
            values[VALUED[arg]] = args[i]
            i += 1
        elif match := re.fullmatch(r"(--namespace|--selector|--field-selector|--context)=(.*)", arg):
            values[VALUED[match[1]]] = match[2]
        elif match := re.fullmatch(r"(-n|-l)=?(.+)", arg):
            values[VALUED[match[1]]] = match[2]
        elif arg.startswith("-"):
            raise NotHere(f"flag {arg}")
        else:
            operands.append(arg)
    if not operands or operands[0] != "get" or len(operands) not in (2, 3):
        raise NotHere("not a plain get of one type")
    kind = operands[1]
    if "/" in kind or "," in kind or kind == "all":
        raise NotHere("several types, or TYPE/NAME")
    if values.get("all_namespaces") and len(operands) == 3:
        raise NotHere("a name across all namespaces")  # kubectl says why
    return GetRequest(kind.lower(), operands[2] if len(operands) == 3 else None, **values)


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


def merge_kubeconfigs(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's merge of ``$KUBECONFIG`` files: the first file naming an entry, or setting current-context, wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": [], "current-context": ""}
    for doc in documents:
        for section in ("clusters", "users", "contexts"):
            names = {entry.get("name") for entry in merged[section]}
            merged[section] += [entry for entry in doc.get(section) or [] if entry.get("name") not in names]
        merged["current-context"] = merged["current-context"] or doc.get("current-context") or ""
    return merged


def kubeconfig_paths(env: dict[str, str] | os._Environ) -> list[str]:
    """The files kubectl reads: each of ``$KUBECONFIG`` that exists, else ``~/.kube/config`` if it exists."""
    if env.get("KUBECONFIG"):
        paths = [os.path.expanduser(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
    else:
        paths = [os.path.expanduser("~/.kube/config")]
    return [p for p in paths if os.path.isfile(p)]


@dataclass
class Cluster:
    """A client of one API server, its default namespace, and the resource types discovered so far."""

    api: Any
    namespace: str
    _versions: dict[str, list[Resource]] = field(default_factory=dict)
    _groups: list[str] | None = None
    _discovered: float = field(default_factory=time.monotonic)

    def call(self, path: str, query: list[tuple[str, Any]] | None = None) -> tuple[int, Any, list[str]]:
        """GET ``path``: (status, JSON body, Warning headers)."""
        headers = {"Accept": "application/json"}
        if hasattr(self.api, "param_serialize"):  # clients generated by openapi-generator 7 (v33+)
            request = self.api.param_serialize(
                "GET", path, query_params=query or [], header_params=headers, auth_settings=["BearerToken"]
            )
            response = self.api.call_api(*request, _request_timeout=(30, None))
            response.read()
            status, data, got = response.status, response.data, response.getheaders()
        else:
            response = self.api.call_api(
                path,
                "GET",
                query_params=query or [],
                header_params=headers,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=(30, None),
            )
            status, data, got = response.status, response.data, response.headers
        warnings = [v for k, v in got.items() if k.lower() == "warning"] if got else []
        return status, json.loads(data) if data else None, warnings

    def _resources(self, prefix: str) -> list[Resource]:
        if prefix not in self._versions:
            status, body, _ = self.call(prefix)
            if status != 200:
                raise NotHere(f"discovery of {prefix} answered {status}")
            group, _, version = body["groupVersion"].rpartition("/")
            self._versions[prefix] = [
                Resource(group, version, r["name"], r["kind"], bool(r.get("namespaced")), _names(r))
                for r in body.get("resources") or []
                if "/" not in r["name"] and "get" in (r.get("verbs") or ["get"])  # no subresources
            ]
        return self._versions[prefix]

    def _group_prefixes(self) -> list[str]:
        if self._groups is None:
            status, body, _ = self.call("/apis")
            if status != 200:
                raise NotHere(f"discovery of /apis answered {status}")
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

    def get(self, request: GetRequest) -> tuple[dict[str, Any], list[str]]:
        """``kubectl get -o json``'s document for ``request``, and the server's warnings."""
        resource = self.resolve(request.type)
        path = resource.prefix
        if resource.namespaced and not request.all_namespaces:
            path += f"/namespaces/{request.namespace or self.namespace}"
        path += f"/{resource.plural}"
        if request.name is not None:
            status, obj, warnings = self.call(f"{path}/{request.name}")
            if status != 200:
                raise NotHere(f"answered {status}")
            return _printed(obj, resource), warnings
        query: list[tuple[str, Any]] = [("limit", PAGE)]
        if request.selector:
            query.append(("labelSelector", request.selector))
        if request.field_selector:
            query.append(("fieldSelector", request.field_selector))
        items: list[dict[str, Any]] = []
        warnings: list[str] = []
        while True:
            status, page, said = self.call(path, query)
            if status != 200:
                raise NotHere(f"answered {status}")
            items += [_printed(item, resource) for item in page.get("items") or []]
            warnings += said
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
            query = [q for q in query if q[0] != "continue"] + [("continue", token)]
        return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}, warnings


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


_clusters: dict[tuple, Cluster] = {}


def connect(context: str | None = None, env: dict[str, str] | os._Environ | None = None) -> Cluster:
    """The client for kubectl's credentials (kept while the kubeconfig files are unchanged)."""
    env = os.environ if env is None else env
    if any(env.get(v) for v in PROXY_VARIABLES):
        raise NotHere("a proxy from the environment (kubectl honours it)")
    paths = kubeconfig_paths(env)
    key = (tuple((p, os.stat(p).st_mtime_ns) for p in paths), context, env.get("KUBECONFIG"))
    if key not in _clusters:
        if len(_clusters) >= 8:  # e.g. an edited kubeconfig's older versions
            _clusters.pop(next(iter(_clusters)))
        _clusters[key] = _from_kubeconfig(paths, context) if paths else _in_cluster(context, env)
    return _clusters[key]


def _from_kubeconfig(paths: list[str], context: str | None) -> Cluster:
    from kubernetes import config as kubeconfig
    from kubernetes.client import ApiClient, Configuration

    documents = []
    for path in paths:
        with open(path) as f:
            documents.append(yaml.safe_load(f) or {})
    merged = merge_kubeconfigs(documents)
    name = context or merged["current-context"]
    found = next((c for c in merged["contexts"] if c.get("name") == name), None)
    if found is None:
        raise NotHere(f"no context {name!r}")
    ctx = found.get("context") or {}
    user = next((u.get("user") or {} for u in merged["users"] if u.get("name") == ctx.get("user")), {})
    cluster = next((c.get("cluster") or {} for c in merged["clusters"] if c.get("name") == ctx.get("cluster")), None)
    if cluster is None or set(cluster) - PLAIN_CLUSTER_KEYS or set(user) - PLAIN_USER_KEYS:
        raise NotHere("credentials or cluster options kubectl handles itself (exec, auth-provider, proxy...)")
    configuration = Configuration()
    kubeconfig.load_kube_config_from_dict(
        merged, context=name, client_configuration=configuration, persist_config=False
    )
    return Cluster(_client(ApiClient(configuration)), ctx.get("namespace") or "default")


def _in_cluster(context: str | None, env: dict[str, str] | os._Environ) -> Cluster:
    from kubernetes import config as kubeconfig
    from kubernetes.client import ApiClient, Configuration

    if context or not env.get("KUBERNETES_SERVICE_HOST") or not os.path.exists(f"{SERVICE_ACCOUNT_DIR}/token"):
        raise NotHere("no kubeconfig and no in-cluster ServiceAccount")
    configuration = Configuration()
    kubeconfig.load_incluster_config(client_configuration=configuration)
    namespace = env.get("POD_NAMESPACE")
    if not namespace:
        try:
            with open(f"{SERVICE_ACCOUNT_DIR}/namespace") as f:
                namespace = f.read().strip()
        except OSError:
            namespace = "default"
    return Cluster(_client(ApiClient(configuration)), namespace or "default")


def _client(api: Any) -> Any:
    api.user_agent = USER_AGENT  # the API server's audit log says who asked
    return api


def get(args: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """``kubectl ARGS -o json``'s document and the server's warnings; ``NotHere`` when kubectl must run."""
    request = plan(args)
    return connect(request.context).get(request)
