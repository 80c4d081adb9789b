"""Fixtures: a real Jupyter server (pytest-jupyter) with the extension, and a ttyd client; markers by folder.

``pytest -m "not slow and not browser"`` is the fast suite (pyproject.toml registers the markers).
A whole folder is marked here (``FOLDER_MARKS``); a test or module that takes seconds elsewhere says
so itself (``@pytest.mark.slow``, ``pytestmark``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import url_path_join
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.harness.kube_fixtures", "tests.harness.controlplane_fixtures"]

HERE = Path(__file__).parent
# Every test of a folder: tests/ui starts `jupyter lab` and Chromium for each module (seconds).
FOLDER_MARKS = {HERE / "ui": ("browser", "slow")}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        for folder, marks in FOLDER_MARKS.items():
            if folder in item.path.parents:
                for mark in marks:
                    item.add_marker(mark)


def pytest_report_header(config) -> str:
    """The ttyd the pods run (tests/harness/pods.py), built first if this machine has none (tests/harness/rootfs.py)."""
    from tests.harness import rootfs

    try:
        return f"ttyd: {rootfs.ttyd_version()} (Debian {rootfs.suite()}, {rootfs.rootfs()})"
    except (rootfs.RootfsError, OSError, subprocess.CalledProcessError) as e:
        return f"ttyd: none, the pods' tests will fail: {e}"


@pytest.fixture
def cloudtty_config() -> dict[str, Any]:
    """Per-test overrides of ``c.CloudTTY``."""
    return {}


@pytest.fixture
def jp_server_config(cloudtty_config, tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_cloudtty": True}},
        # A plain, predictable shell for tests; the default is the user's login shell.
        "CloudTTY": {"shell_command": ["bash", "--norc", "--noprofile"], "kill_timeout": 1.0, **cloudtty_config},
    }


@pytest.fixture
def api(jp_fetch):
    """Call the REST API; returns (status, JSON body or None), never raises on 4xx."""

    async def call(method: str, *path: str, body: Any = None, headers: dict | None = None, raw: bytes | None = None):
        kwargs: dict[str, Any] = {"method": method}
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method == "POST":
            kwargs["body"] = b""
        try:
            response = await jp_fetch("cloudtty", "api", "shells", *path, headers=headers, **kwargs)
        except HTTPClientError as e:
            response = e.response
            assert response is not None, e
        data = json.loads(response.body) if response.body else None
        return response.code, data, response

    return call


@pytest.fixture
def create_shell(api):
    """POST a shell and return its JSON; fails the test on any error."""

    async def create(name: str | None = None, **spec: Any) -> dict:
        body: dict[str, Any] = {"spec": spec}
        if name:
            body["name"] = name
        status, data, _ = await api("POST", body=body)
        assert status == 201, data
        return data

    return create


@pytest.fixture
def terminal_url(jp_http_port, jp_base_url):
    def url(name: str) -> str:
        return f"ws://127.0.0.1:{jp_http_port}" + url_path_join(jp_base_url, "cloudtty/api/shells", name, "terminal")

    return url


@pytest.fixture
def connect(terminal_url, jp_auth_header):
    """Open a terminal of a shell with our ttyd client (authenticated by default)."""
    clients: list[TtydClient] = []

    async def open_terminal(name: str, headers: dict | None = None, **kwargs: Any) -> TtydClient:
        client = await TtydClient.connect(terminal_url(name), headers=headers or jp_auth_header, **kwargs)
        clients.append(client)
        return client

    yield open_terminal
    for client in clients:
        client.connection.close()
