"""Where a program's Kubernetes credentials come from, found one way, and the clients made from them.

As kubectl finds them: a kubeconfig file given (``--kubeconfig``, ``c.CloudTTY.kubeconfig``), else
each file of ``$KUBECONFIG`` that exists, merged by kubectl's rules, else ``~/.kube/config``; and the
pod's ServiceAccount (in-cluster). Programs that run as a service in a pod (the Jupyter server, the
operator) take the ServiceAccount first; the kernel takes them in kubectl's order, since
``%kubectl`` must read what kubectl would read. ``Credentials.source`` says which was taken.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.config import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import KubeConfigLoader

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_KUBECONFIG = "~/.kube/config"
IN_CLUSTER = "the pod's ServiceAccount"

# Fields that name a file, relative to the kubeconfig that holds them (client-go's ResolveLocalPaths).
CLUSTER_FILES = ("certificate-authority",)
USER_FILES = ("client-certificate", "client-key", "tokenFile")


class CredentialsError(ConfigException):
    """Credentials were found but cannot be used as asked (a context that is not there...)."""


def kubeconfig_paths(explicit: str = "", env: Mapping[str, str] | None = None) -> list[str]:
    """The kubeconfig files to read, those that exist: ``explicit``, else each of ``$KUBECONFIG``, else
    ``~/.kube/config`` (``env``: the environment, read now)."""
    env = os.environ if env is None else env
    value = explicit or env.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    paths = [os.path.expanduser(path) for path in value.split(os.pathsep) if path]
    return [path for path in dict.fromkeys(paths) if os.path.isfile(path)]


def merge_kubeconfigs(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's merge of ``$KUBECONFIG`` files: the first file naming an entry, or setting current-context, wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": [], "current-context": ""}
    for doc in documents:
        for section in ("clusters", "users", "contexts"):
            names = {entry.get("name") for entry in merged[section]}
            merged[section] += [entry for entry in doc.get(section) or [] if entry.get("name") not in names]
        merged["current-context"] = merged["current-context"] or doc.get("current-context") or ""
    return merged


def resolve_paths(document: dict[str, Any], directory: str) -> dict[str, Any]:
    """``document`` with its relative file names made absolute from ``directory`` (its file's), as kubectl
    reads them: merged with other files, a name no longer says which file it was relative to."""

    def resolved(entry: dict[str, Any], section: str, key: str, files: Sequence[str]) -> dict[str, Any]:
        body = dict(entry.get(key) or {})
        for name in files:
            if isinstance(body.get(name), str) and body[name] and not os.path.isabs(body[name]):
                body[name] = os.path.join(directory, body[name])
        command = (body.get("exec") or {}).get("command") if section == "users" else None
        if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
            body["exec"] = {**body["exec"], "command": os.path.join(directory, command)}
        return {**entry, key: body}

    out = dict(document)
    for section, key, files in (("clusters", "cluster", CLUSTER_FILES), ("users", "user", USER_FILES)):
        out[section] = [resolved(e, section, key, files) for e in document.get(section) or [] if isinstance(e, dict)]
    return out


def read_kubeconfigs(paths: Sequence[str]) -> dict[str, Any]:
    """The files at ``paths``, merged as kubectl merges them (an empty file is an empty kubeconfig)."""
    documents = []
    for path in paths:
        with open(path) as f:
            documents.append(resolve_paths(yaml.safe_load(f) or {}, os.path.dirname(os.path.abspath(path))))
    return merge_kubeconfigs(documents)


@dataclass(frozen=True)
class Credentials:
    """Credentials for one API server, where they came from, and the namespace they default to."""

    source: str  # said in /cloudtty/api/info and in messages: "the pod's ServiceAccount", "kubeconfig F, context 'c'"
    namespace: str
    in_cluster: bool
    context: str = ""  # the kubeconfig context's name
    kubeconfig: dict[str, Any] | None = field(default=None, repr=False)  # merged; None in-cluster
    env: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def _entry(self, section: str, key: str) -> dict[str, Any] | None:
        if self.kubeconfig is None:
            return None
        context = _named(self.kubeconfig, "contexts", self.context) or {}
        name = (context.get("context") or {}).get(key)
        found = _named(self.kubeconfig, section, name)
        return None if found is None else dict(found.get(key) or {})

    @property
    def cluster(self) -> dict[str, Any] | None:
        """The context's cluster entry (``server``, CA...); None in-cluster or if the kubeconfig has none."""
        return self._entry("clusters", "cluster")

    @property
    def user(self) -> dict[str, Any] | None:
        """The context's user entry (token, client certificates, exec...); None in-cluster."""
        return self._entry("users", "user")

    def configuration(self) -> Configuration:
        """A fresh client Configuration for these credentials (an expiring token is read again when due)."""
        configuration = Configuration()
        if self.in_cluster:
            directory = SERVICE_ACCOUNT_DIR
            environ = os.environ if self.env is None else self.env
            InClusterConfigLoader(f"{directory}/token", f"{directory}/ca.crt", environ=environ).load_and_set(
                configuration
            )
        else:
            KubeConfigLoader(self.kubeconfig, active_context=self.context).load_and_set(configuration)
        return configuration

    def client(self, user_agent: str | None = None, **settings: Any) -> ApiClient:
        """An ApiClient of its own (``settings``: Configuration attributes, e.g. ``retries``)."""
        configuration = self.configuration()
        for name, value in settings.items():
            setattr(configuration, name, value)
        api = ApiClient(configuration)
        if user_agent:
            api.user_agent = user_agent  # the API server's audit log says who asked
        return api


def _named(kubeconfig: dict[str, Any], section: str, name: Any) -> dict[str, Any] | None:
    return next((e for e in kubeconfig.get(section) or [] if isinstance(e, dict) and e.get("name") == name), None)


def in_cluster_possible(env: Mapping[str, str] | None = None) -> bool:
    """Whether this runs in a pod with a ServiceAccount token mounted."""
    env = os.environ if env is None else env
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(f"{SERVICE_ACCOUNT_DIR}/token")


def in_cluster(env: Mapping[str, str] | None = None) -> Credentials:
    """The pod's ServiceAccount; its namespace as client-go finds it ($POD_NAMESPACE, the mounted file)."""
    env = os.environ if env is None else env
    namespace = env.get("POD_NAMESPACE", "")
    if not namespace:
        try:
            with open(f"{SERVICE_ACCOUNT_DIR}/namespace") as f:
                namespace = f.read().strip()
        except OSError:
            namespace = ""
    return Credentials(IN_CLUSTER, namespace or "default", True, env=env)


def from_kubeconfig(paths: Sequence[str], context: str = "") -> Credentials:
    """The kubeconfig files at ``paths`` (merged), with ``context`` or their current one."""
    merged = read_kubeconfigs(paths)
    name = context or merged["current-context"]
    if not name:
        raise CredentialsError(f"kubeconfig {os.pathsep.join(paths)} has no current-context; name a context")
    found = _named(merged, "contexts", name)
    if found is None:
        raise CredentialsError(f"kubeconfig {os.pathsep.join(paths)} has no context {name!r}")
    namespace = (found.get("context") or {}).get("namespace") or "default"
    where = f"kubeconfig {os.pathsep.join(paths)}, context {name!r}"
    return Credentials(where, namespace, False, name, merged)


def find(
    kubeconfig: str = "",
    context: str = "",
    *,
    prefer_in_cluster: bool = True,
    env: Mapping[str, str] | None = None,
) -> Credentials | None:
    """This program's credentials; None when there are none.

    ``kubeconfig`` (a file, or a list as in $KUBECONFIG) is read instead of ``$KUBECONFIG``, and rules the
    ServiceAccount out. With ``prefer_in_cluster`` (a service in a pod), the pod's ServiceAccount comes
    first; else kubectl's order: a kubeconfig, and the ServiceAccount only without any (nor ``context``).
    CredentialsError when a kubeconfig is there but ``context`` (or a current one) is not.
    """
    possible = not kubeconfig and in_cluster_possible(env)
    if possible and prefer_in_cluster:
        return in_cluster(env)
    paths = kubeconfig_paths(kubeconfig, env)
    if paths:
        return from_kubeconfig(paths, context)
    if possible and not context:
        return in_cluster(env)
    return None
