"""Where a shell's ttyd answers, for each c.CloudTTY.connect_via (pure)."""

from __future__ import annotations

import pytest

from jupyter_cloudtty.server.backends.kubernetes import terminal_url as upstream
from jupyter_cloudtty.server.backends.kubernetes.backend import end_of


def shell(mode: str = "ClusterIP", access_url: str | None = None, **spec) -> dict:
    obj = {"metadata": {"name": "s1", "namespace": "team"}, "spec": {"exposureMode": mode, **spec}}
    if access_url is not None:
        obj["status"] = {"accessUrl": access_url}
    return obj


@pytest.mark.parametrize(
    "obj, url",
    [
        (shell("ClusterIP"), "ws://cloudshell-s1.team.svc:7681/ws"),
        (shell("NodePort"), "ws://cloudshell-s1.team.svc:7681/ws"),
        (shell("Ingress"), "ws://cloudshell-s1.team.svc:7681/apis/v1alpha1/cloudshell/s1/ws"),
        (
            shell("GatewayAPI", pathPrefix="/t/", pathSuffix="x"),
            "ws://cloudshell-s1.team.svc:7681/t/apis/v1alpha1/cloudshell/s1/x/ws",
        ),
    ],
)
def test_service(obj, url):
    assert upstream.terminal_url(obj, "service", "https://api:6443") == url


def test_apiserver_service_proxy():
    assert upstream.terminal_url(shell("ClusterIP"), "apiserver", "https://10.0.0.1:6443/") == (
        "wss://10.0.0.1:6443/api/v1/namespaces/team/services/cloudshell-s1:7681/proxy/ws"
    )
    assert upstream.terminal_url(shell("VirtualService"), "apiserver", "http://127.0.0.1:8001") == (
        "ws://127.0.0.1:8001/api/v1/namespaces/team/services/cloudshell-s1:7681/proxy/apis/v1alpha1/cloudshell/s1/ws"
    )


@pytest.mark.parametrize(
    "access_url, url",
    [
        ("10.96.0.7:7681", "ws://10.96.0.7:7681/ws"),
        ("10.96.0.7:7681?ttl=3600", "ws://10.96.0.7:7681/ws"),
        ("192.168.1.4:31234", "ws://192.168.1.4:31234/ws"),
        (
            "https://shells.example.com/apis/v1alpha1/cloudshell/s1/?ttl=60",
            "wss://shells.example.com/apis/v1alpha1/cloudshell/s1/ws",
        ),
        ("http://gw/p/apis/v1alpha1/cloudshell/s1/", "ws://gw/p/apis/v1alpha1/cloudshell/s1/ws"),
    ],
)
def test_access_url(access_url, url):
    assert upstream.terminal_url(shell(access_url=access_url), "url", "") == url


@pytest.mark.parametrize("via", ["service", "apiserver", "url"])
@pytest.mark.parametrize("mode", ["ClusterIP", "Ingress"])
def test_the_token_is_the_last_part_of_ttyd_s_base_path_in_every_way(via, mode):
    """ttyd serves under ``<route path>/<token>`` (names.ttyd_base_path): every URL has the token
    right before ``/ws``, after the route path of a path-routed shell; never in accessUrl itself."""
    access = "https://h/apis/v1alpha1/cloudshell/s1/?ttl=60" if mode == "Ingress" else "10.96.0.7:7681"
    obj = shell(mode, access_url=access)
    url = upstream.terminal_url(obj, via, "https://10.0.0.1:6443", "T0k-en_")
    route = "/apis/v1alpha1/cloudshell/s1" if mode == "Ingress" else ""
    assert url.endswith(f"{route}/T0k-en_/ws") and url.count("T0k-en_") == 1
    assert upstream.terminal_url(obj, via, "https://10.0.0.1:6443", "") == url.replace("/T0k-en_", "")


@pytest.mark.parametrize(
    "access_url, why",
    [
        (None, "the shell has no accessUrl yet"),
        ("/apis/v1alpha1/cloudshell/s1/", "has no host (VirtualService mode)"),
        ("ftp://x/y", "is not an address this server can connect to"),
    ],
)
def test_access_url_that_cannot_be_used(access_url, why):
    with pytest.raises(upstream.Unreachable, match=why.replace("(", r"\(").replace(")", r"\)")):
        upstream.terminal_url(shell(access_url=access_url), "url", "")


@pytest.mark.parametrize(
    "status, end",
    [
        ({"phase": "Ready"}, None),
        ({"phase": ""}, None),
        (
            {"phase": "Failed", "conditions": [{"type": "Failed", "message": "image pull failing"}]},
            (4000, "image pull failing"),
        ),
        (
            {"phase": "Complete", "conditions": [{"type": "Ready", "reason": "Expired", "message": "TTL ran out"}]},
            (4001, "TTL ran out"),
        ),
        (
            {"phase": "Complete", "conditions": [{"type": "Ready", "reason": "OnceEnded", "message": "once"}]},
            (1000, "once"),
        ),
    ],
)
def test_how_a_terminal_ends_by_the_shells_status(status, end):
    assert end_of({"metadata": {"name": "s1"}, "status": status}) == end


def test_a_gone_or_going_shell_ends_terminals_as_deleted():
    assert end_of(None) == (4002, "the shell was deleted")
    assert end_of({"metadata": {"deletionTimestamp": "2026-11-25T00:00:00Z"}}) == (4002, "the shell was deleted")
