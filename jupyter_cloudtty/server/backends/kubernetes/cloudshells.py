"""The Jupyter server's way into the cluster: credentials, the CloudShell API, errors users understand.

Blocking calls of the official ``kubernetes`` client; the backend runs them off the event loop.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kubernetes import config as kubeconfig
from kubernetes.client import ApiClient, Configuration, CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from urllib3 import Retry
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.exceptions import TimeoutError as NoAnswer

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION
from jupyter_cloudtty.cloudshell.errors import ShellError
from jupyter_cloudtty.kube import backoff

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CRD_COMMAND = "jupyter cloudtty crd | kubectl apply -f -"


class ClusterError(ShellError):
    """The cluster refused or failed a request; the message says what to do about it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ClusterAccess:
    """A client for one API server, and where its credentials came from."""

    api: ApiClient
    namespace: str  # the credentials' own namespace (the pod's, or the kubeconfig context's)
    source: str
    in_cluster: bool

    @property
    def host(self) -> str:
        return self.api.configuration.host

    @property
    def custom(self) -> CustomObjectsApi:
        return CustomObjectsApi(self.api)

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate us to the API server (a bearer token, refreshed if it expires)."""
        settings = self.api.configuration.auth_settings().values()  # refreshes an expiring token
        return {s["key"]: s["value"] for s in settings if s.get("in") == "header" and s.get("value")}

    def tls_options(self) -> dict[str, Any]:
        """tornado request options for the API server's TLS (CA, client certificate)."""
        cfg = self.api.configuration
        options: dict[str, Any] = {"validate_cert": bool(cfg.verify_ssl)}
        if cfg.ssl_ca_cert:
            options["ca_certs"] = cfg.ssl_ca_cert
        if cfg.cert_file and cfg.key_file:
            options["client_cert"], options["client_key"] = cfg.cert_file, cfg.key_file
        return options


def kubeconfig_paths(explicit: str = "") -> list[str]:
    """The kubeconfig files to read: ``explicit``, else $KUBECONFIG (read now), else ~/.kube/config."""
    value = explicit or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [os.path.expanduser(path) for path in value.split(os.pathsep) if path]


def find(kubeconfig_file: str = "", context: str = "") -> ClusterAccess | None:
    """In-cluster ServiceAccount credentials, else a kubeconfig; None when there are neither."""
    configuration = Configuration()
    # urllib3 would retry a GET or DELETE that got no answer or a 429, three times and at once:
    # our callers decide (the watch backs off, a REST call answers), within one request's timeout.
    configuration.retries = Retry(total=3, read=False, status=False, respect_retry_after_header=False)
    if (
        not kubeconfig_file
        and os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.path.exists(f"{SERVICE_ACCOUNT_DIR}/token")
    ):
        kubeconfig.load_incluster_config(client_configuration=configuration)
        with open(f"{SERVICE_ACCOUNT_DIR}/namespace") as f:
            namespace = f.read().strip()
        return ClusterAccess(ApiClient(configuration), namespace, "the pod's ServiceAccount", True)
    paths = [path for path in kubeconfig_paths(kubeconfig_file) if os.path.exists(path)]
    if not paths:
        return None
    files = os.pathsep.join(paths)
    kubeconfig.load_kube_config(config_file=files, context=context or None, client_configuration=configuration)
    contexts, active = kubeconfig.list_kube_config_contexts(config_file=files)
    if context:
        active = next(c for c in contexts if c["name"] == context)
    namespace = (active.get("context") or {}).get("namespace") or "default"
    where = f"kubeconfig {files}, context {active['name']!r}"
    return ClusterAccess(ApiClient(configuration), namespace, where, False)


def check_cloudshells(access: ClusterAccess, namespace: str, timeout: float = 5) -> None:
    """Raise ClusterError unless CloudShells can be listed in ``namespace`` (CRD there, access granted)."""
    try:
        access.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, limit=1, _request_timeout=timeout
        )
    except ApiException as e:
        raise error(e, "list", namespace) from None
    except HTTPError as e:
        raise unreachable(access, e) from None


def unreachable(access: ClusterAccess, e: Exception, timeout: float | None = None) -> ClusterError:
    """The API server did not answer (a 503): refused, dropped, or silent for ``timeout`` seconds."""
    cause = e.reason if isinstance(e, MaxRetryError) and e.reason is not None else e
    if isinstance(cause, NoAnswer):
        within = f" within {timeout:g}s" if timeout else ""
        return ClusterError(503, f"the Kubernetes API at {access.host} did not answer{within}; try again later")
    return ClusterError(503, f"cannot reach the Kubernetes API at {access.host}: {cause}")


def retry_after(e: ApiException) -> float:
    """A 429's Retry-After (seconds), else 0."""
    return backoff.retry_after(e) if e.status == 429 else 0.0


def error(e: ApiException, action: str, namespace: str) -> ClusterError:
    """What an API error means for the user, and what to do about it."""
    try:
        body = json.loads(e.body or "{}")
    except ValueError:
        body = {}
    message = body.get("message") or e.reason or "no message"
    if e.status == 429:  # API Priority and Fairness: the API server sheds load
        wait = retry_after(e)
        later = f"try again in {wait:g}s" if wait else "try again later"
        return ClusterError(429, f"the Kubernetes API is too busy to answer ({message}); {later}")
    if e.status == 403 and "exceeded quota" in message:
        return ClusterError(429, f"namespace {namespace!r} has no quota left for another shell: {message}")
    if e.status == 403:
        return ClusterError(
            403,
            f"the cluster does not let this Jupyter server {action} CloudShells in namespace {namespace!r} "
            f"({message}); its ServiceAccount needs the Role shown in README, 'Use with a cluster'",
        )
    if e.status == 404 and (body.get("details") or {}).get("kind") == "namespaces":
        return ClusterError(503, f"namespace {namespace!r} does not exist; ask your administrator to create it")
    if e.status == 404:
        return ClusterError(
            503, f"the CloudShell CRD is not installed in this cluster; install it ({CRD_COMMAND}) and the operator"
        )
    if e.status == 401:
        return ClusterError(503, f"the cluster did not accept this Jupyter server's credentials: {message}")
    if e.status in (400, 422):
        return ClusterError(400, f"the cluster refused the shell: {message}")
    if e.status == 409:
        return ClusterError(409, message)
    if e.status >= 500:
        return ClusterError(503, f"the Kubernetes API failed ({e.status}: {message}); try again later")
    return ClusterError(503, f"the Kubernetes API failed ({e.status}): {message}")
