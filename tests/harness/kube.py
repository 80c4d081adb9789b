"""A Jupyter server's view of a cluster in tests: kmock's emulator, a kubeconfig for it, and pods.

The emulator is a real HTTP server speaking the Kubernetes API (tests/harness/emulator.py). What the
operator and the kubelet would do for a CloudShell (a pod running ttyd, the status Ready with
an accessUrl) ``ShellPods`` does: the real ttyd, in the shell image's files at a 127.0.x.y address
of its own (tests/harness/pods.py), answers for the pod.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Awaitable, TypeVar

import yaml

from tests.harness.emulator import Api, VersionedEmulator, emulated_kubernetes
from tests.harness.pods import Pod, ttyd_pod

T = TypeVar("T")

NS = "team"
SHELL = ["bash", "--norc", "--noprofile"]


class EmulatorThread:
    """kmock's emulator on an event loop of its own thread: any test loop (or none) can use it.

    pytest-jupyter tears its loop down on its own schedule; the API server of the tests must
    outlive the Jupyter servers that watch it, as a real one does.
    """

    def __init__(self, cloudshells: bool = True) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulator", daemon=True)
        self._context = emulated_kubernetes(cloudshells)
        self.k8s: VersionedEmulator
        self.api: ThreadedApi

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        self.k8s = self.run(self._context.__aenter__())
        self.api = ThreadedApi(self, Api(self.k8s))
        return self

    @property
    def url(self) -> str:
        return str(self.k8s.url)

    def run(self, coroutine: Awaitable[T], timeout: float = 30) -> T:
        """Run on the emulator's loop and wait (blocking) for the result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)  # type: ignore[arg-type]

    async def call(self, coroutine: Awaitable[T]) -> T:
        """Run on the emulator's loop; await the result from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        # A watching client (a Jupyter server stopped after this fixture) holds a stream open; a
        # real API server going away would drop it, so do not wait for it to end.
        async def stop() -> None:
            try:
                await asyncio.wait_for(self._context.__aexit__(None, None, None), 2)
            except asyncio.TimeoutError:
                pass
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:  # requests still being served: end them here, not at garbage collection
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        try:
            self.run(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


class ThreadedApi:
    """tests.harness.emulator.Api's calls (the test's own, as another controller's), from any loop."""

    def __init__(self, emulator: EmulatorThread, api: Api):
        self._emulator, self._api = emulator, api

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._emulator.call(self._api.create(obj))

    async def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return await self._emulator.call(self._api.get(kind, namespace, name))

    async def patch(self, kind: str, namespace: str | None, name: str, patch: Any, sub: str | None = None) -> dict:
        return await self._emulator.call(self._api.patch(kind, namespace, name, patch, sub))

    async def delete(self, kind: str, namespace: str | None, name: str) -> None:
        await self._emulator.call(self._api.delete(kind, namespace, name))

    async def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        from tests.harness.emulator import path

        async def listing() -> list[dict[str, Any]]:
            response = await self._api.k8s.get(path(kind, namespace))
            return (await response.json()).get("items") or []

        return await self._emulator.call(listing())


TOKEN = "emulator-token"  # the kubeconfig's bearer token


def write_kubeconfig(path: Path, server: str, namespace: str = NS) -> Path:
    """A kubeconfig for the emulator (plain HTTP; the token is sent, as to any API server)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": TOKEN}}],
                "contexts": [
                    {"name": "emulator", "context": {"cluster": "emulator", "user": "tester", "namespace": namespace}}
                ],
                "current-context": "emulator",
            }
        )
    )
    return path


def server_args(kubeconfig: Path, owner: str = "alice") -> tuple[str, ...]:
    """A ``jupyter server``'s options (harness/servers.py) for the emulator's shells, reached at their accessUrl."""
    return (
        "--CloudTTY.backend=kubernetes",
        f"--CloudTTY.kubeconfig={kubeconfig}",
        f"--CloudTTY.owner={owner}",
        "--CloudTTY.connect_via=url",
    )


def ready_condition(message: str = "ttyd answers") -> dict[str, str]:
    return {"type": "Ready", "status": "True", "reason": "Running", "message": message,
            "lastTransitionTime": "2026-11-25T00:00:00Z"}  # fmt: skip


class ShellPods:
    """Plays the operator and the kubelet: a real ttyd pod per shell (tests/harness/pods.py), its status
    written as the operator would. Each pod's home is ``<cwd>/<shell name>``."""

    def __init__(self, api: ThreadedApi, cwd: Path, namespace: str = NS):
        self.api = api
        self.cwd = cwd
        self.namespace = namespace
        self.servers: list[Pod] = []

    async def ready(self, name: str, argv: list[str] = SHELL, env: dict[str, str] | None = None, **flags: Any) -> Pod:
        """Start the shell's pod (``ttyd -W [flags] argv``, ``tests.harness.pods.ttyd_command``'s flags) and
        mark the CloudShell Ready with its ClusterIP-style accessUrl."""
        pod = ttyd_pod(argv, home=self.cwd / name, env={"PS1": "$ ", **(env or {})}, name=name, **flags)
        await pod.__aenter__()
        self.servers.append(pod)
        await self.status(name, phase="Ready", accessUrl=pod.address, conditions=[ready_condition()])
        return pod

    async def status(self, name: str, **status: Any) -> dict[str, Any]:
        return await self.api.patch("CloudShell", self.namespace, name, {"status": status}, "status")

    async def stop(self) -> None:
        for server in self.servers:
            await server.__aexit__(None, None, None)
