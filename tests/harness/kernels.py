"""A kernel started by a real Jupyter server (as a notebook starts one), and what its cells show."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.harness.servers import JupyterProcess


@dataclass
class Output:
    """A cell's outputs as a notebook keeps them."""

    stdout: str = ""
    stderr: str = ""
    displays: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    def add(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            setattr(self, content["name"], getattr(self, content["name"]) + content["text"])
        elif kind == "display_data":
            self.displays.append(content["data"])
        elif kind == "execute_result":
            self.result = content["data"]
        elif kind == "error":
            self.error = content


class ServerKernel:
    """``POST <url>api/kernels`` on a server, then the kernel's channels through its connection file.

    ``runtime_dir`` is the server's, where the kernel's ``kernel-<id>.json`` is written (searched
    below it: a JupyterHub server's is under its user's home).
    """

    def __init__(self, url: str, headers: dict[str, str], runtime_dir: str | Path):
        self.url, self.headers, self.runtime_dir = url, headers, Path(runtime_dir)
        self.id = ""
        self.client: AsyncKernelClient | None = None

    @classmethod
    def of(cls, server: JupyterProcess) -> ServerKernel:
        return cls(f"http://127.0.0.1:{server.port}/", server.headers, server.env["JUPYTER_RUNTIME_DIR"])

    async def _fetch(self, path: str, method: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body)
        request = HTTPRequest(self.url + path, method=method, headers=self.headers, body=data)
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body) if response.body else None

    async def __aenter__(self) -> ServerKernel:
        self.id = (await self._fetch("api/kernels", "POST", {"name": "python3"}))["id"]
        connection_file = next(self.runtime_dir.rglob(f"kernel-{self.id}.json"))
        self.client = AsyncKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)
        return self

    async def run(self, code: str, timeout: float = 60) -> Output:
        assert self.client is not None
        output = Output()
        await self.client.execute_interactive(code, output_hook=output.add, timeout=timeout)
        return output

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.stop_channels()
        await self._fetch(f"api/kernels/{self.id}", "DELETE")
