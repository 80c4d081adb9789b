"""Where the ttyd of a CloudShell answers, for each way of reaching it (``c.CloudTTY.connect_via``).

Pure: a CloudShell (and the API server's address) in, a WebSocket URL out, or
``Unreachable`` saying why there is none.

- ``service``: the shell's Service by cluster DNS (``cloudshell-<name>.<namespace>.svc``), from
  a Jupyter server inside the cluster;
- ``apiserver``: the API server's service proxy, with the Jupyter server's own credentials
  (``services/proxy``), from anywhere that reaches the API server;
- ``url``: the ``status.accessUrl`` the operator wrote.

ttyd serves under its base path (``ttyd -b``): the route path in path-routed exposure modes,
then the shell's token (from its Secret), so both are part of every URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from jupyter_cloudtty.cloudshell.names import TTYD_PORT, object_name, ttyd_base_path

CONNECT_VIA = ("service", "apiserver", "url")


class Unreachable(Exception):
    """No address for the shell's terminal; ``str()`` says why, for the browser's close reason."""


def service_url(shell: dict[str, Any], token: str = "") -> str:
    meta = shell["metadata"]
    return f"ws://{object_name(shell)}.{meta['namespace']}.svc:{TTYD_PORT}{ttyd_base_path(shell, token)}/ws"


def apiserver_url(shell: dict[str, Any], apiserver: str, token: str = "") -> str:
    """The service proxy: ``/proxy/<path>`` reaches ``<path>`` on the Service's ttyd port."""
    meta = shell["metadata"]
    scheme, _, rest = apiserver.rstrip("/").partition("://")
    ws = {"https": "wss", "http": "ws"}.get(scheme)
    if ws is None:
        raise Unreachable(f"the API server's address {apiserver!r} is not an http(s) URL")
    proxy = f"/api/v1/namespaces/{meta['namespace']}/services/{object_name(shell)}:{TTYD_PORT}/proxy"
    return f"{ws}://{rest}{proxy}{ttyd_base_path(shell, token)}/ws"


def access_url(shell: dict[str, Any], token: str = "") -> str:
    """The WebSocket beside the page at ``status.accessUrl`` (``host:port``, or a URL with a path),
    under the token (the URL the operator writes never holds it: status is readable more widely)."""
    url = ((shell.get("status") or {}).get("accessUrl") or "").strip()
    if not url:
        raise Unreachable("the shell has no accessUrl yet")
    if url.startswith("/"):
        raise Unreachable(
            f"its accessUrl {url!r} has no host (VirtualService mode): "
            "use c.CloudTTY.connect_via 'service' or 'apiserver'"
        )
    parts = urlsplit(url if "://" in url else f"http://{url}")
    ws = {"https": "wss", "http": "ws"}.get(parts.scheme)
    if ws is None or not parts.netloc:
        raise Unreachable(f"its accessUrl {url!r} is not an address this server can connect to")
    path = parts.path.rstrip("/")  # the page's path; ttyd's WebSocket is beside it
    if token:
        path += f"/{token}"
    return f"{ws}://{parts.netloc}{path}/ws"


def terminal_url(shell: dict[str, Any], connect_via: str, apiserver: str, token: str = "") -> str:
    if connect_via == "service":
        return service_url(shell, token)
    if connect_via == "apiserver":
        return apiserver_url(shell, apiserver, token)
    return access_url(shell, token)
