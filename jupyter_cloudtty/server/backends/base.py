"""The interface every backend implements; the server sees nothing else."""

from __future__ import annotations

import abc
from typing import Any

from jupyter_cloudtty.cloudshell.model import Shell
from jupyter_cloudtty.server.events import ShellEvents
from jupyter_cloudtty.server.recordings import RecordingPolicy
from jupyter_cloudtty.server.sessions import Session


class Backend(abc.ABC):
    """Creates, lists and deletes shells and opens their terminal sessions.

    Every change of a shell (created, status changed, gone) is published on ``events``; which
    sessions are recorded, and where, is ``recordings``' to say (c.CloudTTY.recording).
    """

    #: shown in logs and in ``GET /cloudtty/api/info``
    kind: str

    def __init__(self, recordings: RecordingPolicy | None = None) -> None:
        self.events = ShellEvents()
        self.recordings = recordings or RecordingPolicy()

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start background work, once the server's event loop runs."""

    def info(self) -> dict[str, Any]:
        """What ``GET /cloudtty/api/info`` tells about this backend, beyond its kind."""
        return {"namespace": None}

    def check_spec(self, spec: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Raise ``InvalidShell`` for a (valid) spec field this backend cannot honour."""

    @abc.abstractmethod
    async def create(self, name: str | None, spec: dict[str, Any], record: bool = False) -> Shell:
        """Start a shell from a validated spec; a name is generated when None. ``record``: the shell was
        asked to be recorded (``recordings.choose`` has checked it), which it keeps."""

    @abc.abstractmethod
    async def list(self) -> list[Shell]: ...

    @abc.abstractmethod
    async def get(self, name: str) -> Shell:
        """Raise ``ShellNotFound`` when there is no such shell."""

    @abc.abstractmethod
    async def set_ttl(self, name: str, ttl: int) -> Shell:
        """Give a running shell a new lifetime (seconds from when it was first Ready); ``ShellEnded``
        if it has ended, ``InvalidShell`` past the administrator's longest."""

    @abc.abstractmethod
    async def delete(self, name: str) -> None:
        """End the shell and forget it; raise ``ShellNotFound`` when there is none."""

    @abc.abstractmethod
    async def open(self, name: str) -> Session:
        """The terminal session of a shell, for a client to attach to."""

    @abc.abstractmethod
    async def shutdown(self) -> None:
        """End every shell this backend started (the server is stopping)."""
