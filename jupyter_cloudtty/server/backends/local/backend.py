"""The local backend: each shell is a process on a PTY of the Jupyter server's machine."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import shutil
import signal
import socket
import sysconfig
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from terminado.management import PtyWithClients

from jupyter_cloudtty.cloudshell.errors import (
    InvalidShell,
    ShellEnded,
    ShellExists,
    ShellNotFound,
    ShellsDisabled,
    TooManyShells,
)
from jupyter_cloudtty.cloudshell.model import Phase, Shell, condition, now
from jupyter_cloudtty.cloudshell.spec import check_ttl, generate_name, ttl_seconds, with_idle_rule, with_ttl_bound
from jupyter_cloudtty.server import events
from jupyter_cloudtty.server.backends.base import Backend
from jupyter_cloudtty.server.recordings import RecordingPolicy
from jupyter_cloudtty.server.sessions import Session
from jupyter_cloudtty.ttyd.protocol import CloseCode, client_option_value, close_reason

from . import foreground, ptys
from .reaper import Reaper

log = logging.getLogger(__name__)

# Why each field cannot be honoured here; the request is refused rather than half-obeyed.
UNSUPPORTED_FIELDS = {
    "image": "local shells run on the Jupyter server's machine, not in a container image",
    "runAsUser": "local shells run as the Jupyter server's own user",
    "secretRef": "local shells use the Jupyter server user's own kubeconfig",
    "configmapName": "local shells use the Jupyter server user's own kubeconfig",
    "urlArg": "a local shell's one process is shared by all its clients, so no client's URL can give it arguments",
    "exposureMode": "a local shell is reached only through this server's terminal WebSocket",
    "ingressConfig": "a local shell is reached only through this server's terminal WebSocket",
    "virtualServiceConfig": "a local shell is reached only through this server's terminal WebSocket",
    "pathPrefix": "a local shell is reached only through this server's terminal WebSocket",
    "pathSuffix": "a local shell is reached only through this server's terminal WebSocket",
}

_ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


@dataclass(frozen=True)
class End:
    """Why a shell ends, and what its clients and status are told."""

    cause: str  # "exited", "failed", "expired", "idle", "once", "deleted", "stopping", "not recorded"
    code: int = CloseCode.NORMAL
    reason: str = ""


ONCE = End("once", CloseCode.NORMAL, "ended: its last client left (once)")
DELETED = End("deleted", CloseCode.DELETED, "the shell was deleted")
STOPPING = End("stopping", CloseCode.SERVER_STOPPING, "the Jupyter server is stopping")
EXITED = End("exited")


@functools.cache
def _server_trz_folder() -> str | None:
    """The folder of this server's own ``trz`` (PyPI's trzsz, a dependency): its environment's scripts,
    found from the interpreter even when the venv is not activated, or the user's (``pip --user``)."""
    folders = (sysconfig.get_path("scripts"), sysconfig.get_path("scripts", f"{os.name}_user"))
    found = shutil.which("trz", path=os.pathsep.join(folders))
    return os.path.dirname(found) if found else None


def with_trz(path: str) -> str:
    """A shell's ``PATH`` with the folder of the server's ``trz`` and ``tsz`` added when it has no ``trz``.

    trz/tsz are how files move through a terminal (issue 21): the tab's drops and ``tsz`` downloads need
    them in the shell. A server started from a venv it did not activate (``.venv/bin/jupyter lab``, a
    service unit, a spawner) has them in that venv's bin but not on PATH. Added last, not first: every
    other command the user runs (python, pip) stays the one their PATH already gives.
    """
    folder = _server_trz_folder()
    if folder is None or shutil.which("trz", path=path):
        return path
    return os.pathsep.join(part for part in (path, folder) if part)


def transfer_tools() -> dict[str, str]:
    """trz/tsz by absolute path, as the server's transfers type them in a local shell. A login shell's
    profile may set PATH anew (Debian's /etc/profile does), dropping the folder ``with_trz`` added."""
    folder = _server_trz_folder()
    return {tool: os.path.join(folder, tool) for tool in ("trz", "tsz")} if folder else {}


def duration(seconds: float) -> str:
    """``90`` -> ``1m 30s``: how long, as a person says it."""
    seconds = int(seconds)
    parts = [(seconds // 86400, "d"), (seconds // 3600 % 24, "h"), (seconds // 60 % 60, "m"), (seconds % 60, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


# How often a shell whose foreground job runs past its idle timeout is asked again.
BUSY_RECHECK_SECONDS = 10.0


def last_lines(output: bytes, count: int = 5, limit: int = 400) -> str:
    """The last few non-blank lines of terminal output, without escape sequences."""
    text = _ANSI.sub(b"", output).replace(b"\r", b"").decode(errors="replace")
    lines = [line.rstrip() for line in text.split("\n") if line.strip()]
    return "\n".join(lines[-count:])[-limit:]


class LocalShell:
    """One shell: its process (started for its first client), session, TTL, and end."""

    def __init__(self, backend: LocalBackend, name: str, spec: dict[str, Any], record: bool = False):
        self.backend = backend
        self.model = Shell(name, spec, created=now(), record=record)
        command = spec.get("commandAction")
        self.argv = ["/bin/sh", "-c", command] if command else list(backend.shell_command)
        self.pty: PtyWithClients | None = None
        self._exited = asyncio.Event()
        self._end_task: asyncio.Task[None] | None = None
        self._ttl_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self.session = Session(
            self._spawn,
            title=f"{command or ' '.join(self.argv)} ({backend.hostname})",
            preferences={k: client_option_value(v) for k, v in spec.get("ttydClientOptions", {}).items()},
            scrollback_bytes=backend.scrollback_bytes,
            on_last_detach=(lambda: self.end_soon(ONCE)) if spec.get("once") else None,
            on_end=self._session_ended,
            recorder=backend.recordings.recorder(lambda: self.model),
        )
        self.session.tools = transfer_tools()

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def pid(self) -> int | None:
        return self.pty.ptyproc.pid if self.pty else None

    @property
    def starts_at_create(self) -> bool:
        """Whether the process starts with the shell rather than for its first client (see ``start``).

        The server's own shell, unrecorded, starts at once, as JupyterLab's terminals do: a login shell's
        profile (pyenv, conda, nvm: hundreds of ms) runs while the browser opens the tab, not after. It
        waits at its prompt, its output unread until a client attaches, and takes that client's size then
        (a SIGWINCH: the shell redraws its prompt). A ``commandAction`` may print once at the size it
        starts at (``ls``, ``stty size``), and a recording's header is its first client's size: those
        start for their first client, at its size, as ttyd starts its command.
        """
        return not self.model.spec.get("commandAction") and not self.backend.recordings.records(self.model)

    def start(self) -> None:
        """Ready: like ttyd listening in a pod, the process starts when a client connects (or now: see
        ``starts_at_create``, which ``LocalBackend.create`` follows)."""
        started = now()
        self.model.phase = Phase.READY
        self.model.access_url = self.backend.terminal_url(self.name)
        self.model.last_schedule_time = started
        self.model.conditions = [condition("Ready", True, "Waiting", "waiting for its first client", started)]
        self._schedule_ttl()
        if idle := self.model.spec.get("idleTimeoutSeconds"):
            self._idle_timer = asyncio.get_running_loop().call_later(idle, self._check_idle)

    def _schedule_ttl(self) -> None:
        """End the shell when its TTL, counted from when it started, runs out."""
        if self._ttl_timer:
            self._ttl_timer.cancel()
        ttl = ttl_seconds(self.model.spec)
        if ttl and self.model.last_schedule_time:
            left = ttl - (now() - self.model.last_schedule_time).total_seconds()
            expired = End("expired", CloseCode.EXPIRED, f"expired: its TTL of {ttl}s ran out")
            self._ttl_timer = asyncio.get_running_loop().call_later(max(left, 0), self.end_soon, expired)

    def set_ttl(self, ttl: int) -> None:
        self.model.spec = {**self.model.spec, "ttlSecondsAfterStarted": ttl}
        self._schedule_ttl()

    def _check_idle(self) -> None:
        """At the idle timeout: end the shell if nothing went in or out since, and no foreground job runs."""
        self._idle_timer = None
        if self._end_task is not None:
            return
        timeout = self.model.spec["idleTimeoutSeconds"]
        quiet = time.monotonic() - self.session.last_activity
        loop = asyncio.get_running_loop()
        if quiet < timeout:
            self._idle_timer = loop.call_later(timeout - quiet, self._check_idle)
        elif self.pty is not None and not foreground.at_prompt(self.pty.ptyproc.fd, self.pty.ptyproc.pid, self.argv):
            self._idle_timer = loop.call_later(min(timeout, BUSY_RECHECK_SECONDS), self._check_idle)
        else:
            self.end_soon(End("idle", CloseCode.IDLE, f"ended: no input or output for {duration(timeout)}"))

    async def _spawn(self, rows: int, columns: int) -> ptys.PtyStream | None:
        backend, spec = self.backend, self.model.spec
        env = dict(os.environ)
        env.update((var["name"], var.get("value", "")) for var in spec.get("env", ()))
        env["PATH"] = with_trz(env.get("PATH", os.defpath))
        try:
            self.pty = ptys.spawn(self.argv, cwd=backend.cwd, env=env, rows=rows, columns=columns)
        except OSError as e:
            why = f"could not start {self.argv[0]!r} in {backend.cwd!r}: {e.strerror or e}"
            log.error("shell %s: %s", self.name, why)
            self.end_soon(End("failed", CloseCode.FAILED, why))
            return None
        backend.reaper.watch(self.pty.ptyproc.pid)  # its session ends with the server, however the server ends
        log.info("shell %s: started %s as pid %s", self.name, self.argv, self.pid)
        self.model.conditions = [condition("Ready", True, "Running", f"running as pid {self.pid}", now())]
        backend._changed(self)
        if not ptys.watch_exit(self.pty.ptyproc.pid, self._on_exit):
            # No pidfd (not Linux): the end of output is the best sign we have.
            asyncio.get_running_loop().create_task(self._exit_after_eof())
        asyncio.get_running_loop().create_task(self._end_when_output_ends())
        return ptys.PtyStream(self.pty.ptyproc.fd)

    def _session_ended(self, code: int, reason: str) -> None:
        # A terminal that must be recorded and cannot be is refused (before its process starts) or ended:
        # the shell fails with the reason, rather than wait for a client it will never serve.
        if code == CloseCode.NOT_RECORDED:
            self.end_soon(End("not recorded", code, reason))

    def _on_exit(self) -> None:
        self._exited.set()
        self.end_soon(EXITED)

    async def _exit_after_eof(self) -> None:
        await self.session.drained()
        assert self.pty is not None
        await asyncio.to_thread(self.pty.ptyproc.wait)  # already exiting: returns at once
        self._exited.set()
        self.end_soon(EXITED)

    async def _end_when_output_ends(self) -> None:
        # Every holder of the terminal is gone, e.g. `exec` into a program that closed it.
        await self.session.drained()
        self.end_soon(EXITED)

    def end_soon(self, end: End) -> None:
        if self._end_task is None:
            self._end_task = asyncio.get_running_loop().create_task(self._end(end))

    async def end(self, end: End) -> None:
        """End the shell for ``end`` unless it is already ending; wait until it has ended."""
        self.end_soon(end)
        assert self._end_task is not None
        await asyncio.shield(self._end_task)

    async def _end(self, end: End) -> None:
        for timer in (self._ttl_timer, self._idle_timer):
            if timer:
                timer.cancel()
        if self.pty is not None:
            await self._stop_processes()
            self.backend.reaper.forget(self.pty.ptyproc.pid)
            if end.cause == "exited":
                end = self._exit_end()
        self._record_end(end)
        self.session.end(end.code, close_reason(end.reason))
        if self.pty is not None:
            self.pty.ptyproc.close()
        self.backend._ended(self)

    async def _stop_processes(self) -> None:
        assert self.pty is not None and self.pid is not None
        grace = self.backend.kill_timeout
        # Hang up, as closing a terminal window does (bash passes it on to its jobs),
        # then kill whatever is left of the terminal's session: no orphans, even `nohup`.
        await self.backend.signaller.send(self.pid, signal.SIGHUP)
        await _wait(self._exited.wait(), grace)
        await self.backend.signaller.send(self.pid, signal.SIGKILL)
        if not await _wait(self._exited.wait(), grace):
            log.error("shell %s: pid %s survived SIGKILL", self.name, self.pid)
        # Nothing writes any more: what the terminal holds is read whoever paused or is slow, and each client
        # gets it before its close. (Released earlier, a program still writing would not be held back.)
        self.session.release()
        if not await _wait(self.session.drained(), grace):
            log.warning("shell %s: its terminal stayed open after SIGKILL; closing it", self.name)
            if self.session.stream is not None:
                self.session.stream.close()
        self.pty.ptyproc.isalive()  # reaps, recording the exit status

    def _exit_end(self) -> End:
        assert self.pty is not None
        proc = self.pty.ptyproc
        if proc.exitstatus == 0:
            return End("exited", CloseCode.NORMAL, "exited")
        if proc.signalstatus is not None:
            what = f"killed by {signal.Signals(proc.signalstatus).name}"
        else:
            what = f"exited with code {proc.exitstatus}"
        return End("failed", CloseCode.FAILED, what)

    def _record_end(self, end: End) -> None:
        at, model = now(), self.model
        if end.cause == "not recorded":
            model.phase = Phase.FAILED
            model.conditions = [
                condition("Ready", False, "NotRecorded", end.reason, at),
                condition("Failed", True, "NotRecorded", end.reason, at),
            ]
        elif end.cause == "failed":
            model.phase = Phase.FAILED
            tail = last_lines(self.session.scrollback.tail(8192))
            summary = f"the command {end.reason}" if self.pty else end.reason
            message = summary + (f"; last output:\n{tail}" if tail else "")
            model.conditions = [
                condition("Ready", False, "Failed", summary, at),
                condition("Failed", True, "CommandFailed" if self.pty else "StartFailed", message, at),
            ]
        else:
            model.phase = Phase.COMPLETE
            reason = {
                "exited": "Exited",
                "expired": "Expired",
                "idle": "IdleTimeout",
                "once": "OnceEnded",
                "deleted": "Deleted",
                "stopping": "ServerStopping",
            }[end.cause]
            model.conditions = [condition("Ready", False, reason, end.reason, at)]


async def _wait(awaitable: Any, timeout: float) -> bool:
    try:
        await asyncio.wait_for(awaitable, timeout)
        return True
    except asyncio.TimeoutError:
        return False


class LocalBackend(Backend):
    """Shells as PTYs of the server's machine, run as the server's user."""

    kind = "local"

    def __init__(
        self,
        *,
        shell_command: Sequence[str],
        cwd: str,
        terminal_url: Callable[[str], str],
        max_shells: int = 32,
        scrollback_bytes: int = 512 * 1024,
        kill_timeout: float = 2.0,
        max_ttl: int = 0,
        idle_timeout: int = 0,
        disabled: str = "",
        recordings: RecordingPolicy | None = None,
    ):
        self.disabled = disabled  # why no shell may start here, if the administrator said so
        self.shell_command = list(shell_command)
        self.cwd = cwd
        self.terminal_url = terminal_url
        self.max_shells = max_shells
        self.scrollback_bytes = scrollback_bytes
        self.kill_timeout = kill_timeout
        self.max_ttl = max_ttl  # the administrator's longest TTL (0: none), as for cluster shells
        self.idle_timeout = idle_timeout
        self.signaller = ptys.SessionSignaller()  # one /proc scan for the shells that end together
        self.reaper = Reaper(kill_timeout)  # for when the server dies without ending its shells
        self.hostname = socket.gethostname()
        self._shells: dict[str, LocalShell] = {}
        super().__init__(recordings)

    def check_spec(self, spec: dict[str, Any]) -> None:
        for field, why in UNSUPPORTED_FIELDS.items():
            if field in spec:
                raise InvalidShell(f"spec.{field}", f"not supported by the local backend: {why}")
        for i, var in enumerate(spec.get("env", ())):
            if "valueFrom" in var:
                raise InvalidShell(f"spec.env[{i}].valueFrom", "not supported by the local backend: give a value")
            if var["name"].startswith("TTYD_"):
                raise InvalidShell(
                    f"spec.env[{i}].name",
                    f"{var['name']} configures ttyd, which the local backend does not run",
                )

    async def create(self, name: str | None, spec: dict[str, Any], record: bool = False) -> Shell:
        if self.disabled:
            raise ShellsDisabled(self.disabled)
        self.check_spec(spec)
        if name is not None and name in self._shells:
            raise ShellExists(name)
        if len(self._shells) >= self.max_shells:
            count = f"{len(self._shells)} shell" + ("s" if len(self._shells) != 1 else "")
            raise TooManyShells(
                f"this server already has {count}, the most it allows (c.CloudTTY.max_shells); delete one first"
            )
        spec = with_idle_rule(with_ttl_bound(spec, self.max_ttl), self.idle_timeout)
        while name is None or name in self._shells:
            name = generate_name()
        shell = LocalShell(self, name, spec, record)
        shell.start()
        self._shells[name] = shell
        log.info("created shell %s", name)
        self.events.publish(events.ADDED, shell.model.to_json())
        if shell.starts_at_create:
            # The process at the default size (its first client resizes it): the fork costs the response
            # a few ms, and the shell's start, which takes longer, runs while the browser opens the tab.
            await shell.session.open(None)
        return shell.model

    def _shell(self, name: str) -> LocalShell:
        try:
            return self._shells[name]
        except KeyError:
            raise ShellNotFound(name) from None

    async def list(self) -> list[Shell]:
        return [shell.model for shell in self._shells.values()]

    async def get(self, name: str) -> Shell:
        return self._shell(name).model

    async def open(self, name: str) -> Session:
        return self._shell(name).session

    async def set_ttl(self, name: str, ttl: int) -> Shell:
        shell = self._shell(name)
        if shell.model.ended:
            raise ShellEnded(name)
        shell.set_ttl(check_ttl(ttl, self.max_ttl))
        self._changed(shell)
        return shell.model

    async def delete(self, name: str) -> None:
        shell = self._shells.pop(name, None)
        if shell is None:
            raise ShellNotFound(name)
        await shell.end(DELETED)
        log.info("deleted shell %s", name)
        self.events.publish(events.DELETED, shell.model.to_json())

    def _changed(self, shell: LocalShell) -> None:
        if self._shells.get(shell.name) is shell:  # a deleted shell's end is told as DELETED
            self.events.publish(events.MODIFIED, shell.model.to_json())

    def _ended(self, shell: LocalShell) -> None:
        log.info("shell %s ended: %s", shell.name, shell.model.conditions[-1]["message"])
        if shell.model.spec.get("cleanup") and self._shells.get(shell.name) is shell:
            del self._shells[shell.name]
            self.events.publish(events.DELETED, shell.model.to_json())
        else:
            self._changed(shell)

    async def shutdown(self) -> None:
        shells = list(self._shells.values())
        if shells:
            log.info("ending %d shell(s)", len(shells))
        await asyncio.gather(*(shell.end(STOPPING) for shell in shells))
        await asyncio.to_thread(self.reaper.close)
        self.events.close()
