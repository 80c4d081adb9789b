"""The Jupyter server's way into the cluster: its client, the CloudShell API, what its errors mean here.

Credentials are found as every program of ours finds them (jupyter_cloudtty.kube.credentials); the
words for failures any request can meet are kube.errors'; this module adds what they mean for a
request about CloudShells and the HTTP status the REST API answers with. Blocking calls of the
official ``kubernetes`` client; the backend runs them off the event loop.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from urllib3 import Retry
from urllib3.exceptions import HTTPError

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION
from jupyter_cloudtty.cloudshell.errors import ShellError
from jupyter_cloudtty.kube import client, credentials, errors
from jupyter_cloudtty.kube.credentials import Credentials

CRD_COMMAND = "jupyter cloudtty crd | kubectl apply -f -"
WHOSE = "this Jupyter server's"


class ClusterError(ShellError):
    """The cluster refused or failed a request; the message says what to do about it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ClusterAccess:
    """A client for one API server, and the credentials it was made from."""

    api: ApiClient
    credentials: Credentials
    _ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def namespace(self) -> str:
        """The credentials' own namespace (the pod's, or the kubeconfig context's)."""
        return self.credentials.namespace

    @property
    def source(self) -> str:
        return self.credentials.source

    @property
    def in_cluster(self) -> bool:
        return self.credentials.in_cluster

    @property
    def host(self) -> str:
        return self.api.configuration.host

    @property
    def custom(self) -> CustomObjectsApi:
        return CustomObjectsApi(self.api)

    @property
    def core(self) -> CoreV1Api:
        return CoreV1Api(self.api)

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate us to the API server (a bearer token, refreshed if it expires)."""
        return client.auth_headers(self.api)

    def ssl_context(self) -> ssl.SSLContext:
        """The API server's TLS as the kubeconfig (or the pod's ServiceAccount) says: its CA, our
        client certificate; made once (loading a CA file costs milliseconds)."""
        if self._ssl_context is None:
            self._ssl_context = client.ssl_context(self.api)
        return self._ssl_context


def find(kubeconfig_file: str = "", context: str = "") -> ClusterAccess | None:
    """In-cluster ServiceAccount credentials, else a kubeconfig; None when there are neither."""
    found = credentials.find(kubeconfig_file, context)
    if found is None:
        return None
    # urllib3 would retry a GET or DELETE that got no answer or a 429, three times and at once:
    # our callers decide (the watch backs off, a REST call answers), within one request's timeout.
    retries = Retry(total=3, read=False, status=False, respect_retry_after_header=False)
    return ClusterAccess(found.client(retries=retries), found)


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
    return ClusterError(503, errors.unreachable(access.host, e, timeout))


def error(e: ApiException, action: str, namespace: str) -> ClusterError:
    """What an API error means for the user, and what to do about it."""
    message = errors.api_message(e)
    if e.status == 429:
        return ClusterError(429, errors.too_busy(e))
    if e.status == 403 and "exceeded quota" in message:
        return ClusterError(429, f"namespace {namespace!r} has no quota left for another shell: {message}")
    if e.status == 403:
        return ClusterError(
            403,
            f"the cluster does not let this Jupyter server {action} CloudShells in namespace {namespace!r} "
            f"({message}); its ServiceAccount needs the Role in docs/administrators.md, 'Use with a cluster'",
        )
    if e.status == 404 and (errors.status(e).get("details") or {}).get("kind") == "namespaces":
        return ClusterError(503, f"namespace {namespace!r} does not exist; ask your administrator to create it")
    if e.status == 404:
        return ClusterError(
            503, f"the CloudShell CRD is not installed in this cluster; install it ({CRD_COMMAND}) and the operator"
        )
    if e.status == 401:
        return ClusterError(503, errors.not_accepted(e, WHOSE))
    if e.status in (400, 422):
        return ClusterError(400, f"the cluster refused the shell: {message}")
    if e.status == 409:
        return ClusterError(409, message)
    return ClusterError(503, errors.failed(e))
