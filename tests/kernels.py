"""A kernel started by a real Jupyter server (as a notebook starts one), and what its cells show."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient

from tests.servers import JupyterProcess


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
    """``POST /api/kernels`` on ``server``, then its channels through its connection file."""

    def __init__(self, server: JupyterProcess):
        self.server = server
        self.id = ""
        self.client: AsyncKernelClient | None = None

    async def __aenter__(self) -> ServerKernel:
        response = await self.server.fetch("api/kernels", method="POST", body={"name": "python3"})
        self.id = json.loads(response.body)["id"]
        runtime = self.server.env["JUPYTER_RUNTIME_DIR"]
        self.client = AsyncKernelClient(connection_file=f"{runtime}/kernel-{self.id}.json")
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
        await self.server.fetch(f"api/kernels/{self.id}", method="DELETE")
