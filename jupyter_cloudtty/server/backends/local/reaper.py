"""Ending every process of a terminal session, and the watchdog that does it when the server dies.

Every process started in a local shell, ``nohup``'ed or double-forked, keeps the terminal's session id
(the shell's pid) unless it calls setsid(): a scan of ``/proc`` finds them by it, whoever their parent
is now. The server ends a shell that way (ptys.SessionSignaller); when the server itself dies, this
module's watchdog does.

The watchdog is a process of its own: this file, run by the server's Python (``Reaper``: ``python -I
.../reaper.py GRACE``) with a pipe as its stdin, on which the server writes ``+SID`` for each shell it
starts and ``-SID`` once it has ended that shell itself. The end of the pipe is the server's death,
however it died, SIGKILL included: the kernel closes a dead process's files. The watchdog then hangs
up every session left (SIGHUP to each of its process groups; SIGKILL to what remains after GRACE
seconds) and exits. Isolated (``-I``), it imports nothing but the standard library, and not asyncio:
12 MB resident (6 MB its own) for the server's lifetime, and nothing of the environment to go wrong.

Why this design:

- When the server dies, the kernel hangs up each shell's PTY: the shell gets SIGHUP and passes it on
  to its jobs. A ``nohup`` job ignores it, and what a subshell that has exited started (a double
  fork) is nobody's job: both live on, reparented to init.
- PR_SET_PDEATHSIG reaches only the server's own child, the shell, which dies of the hang-up anyway.
- PR_SET_CHILD_SUBREAPER would keep orphans the server's children, which helps nobody once the server
  is gone; the session id finds them without it.
- Nothing of the server runs after SIGKILL, so no thread or exit handler of it can do this.

Out of reach: a process that leaves the terminal's session itself (``setsid``, a daemon) is found by
no session id; only a cgroup could follow it (systemd-run --user --scope, a container), as with every
terminal emulator.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from typing import IO, Iterable, Iterator, Sequence

log = logging.getLogger(__name__)


# --- the processes of a terminal session ---------------------------------------------------


def processes() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/<pid>/stat after its command name) for every process.

    Those fields start: state ppid pgrp session ...; the name itself may contain spaces and
    parentheses, hence the split after its last ")". Nothing without procfs (macOS).
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        yield int(entry), stat[stat.rindex(b")") + 2 :].split()


def session_process_groups(*sids: int) -> dict[int, set[int]]:
    """For each session ``sid``: the process groups with a member in it (job control gives each
    job its own). One scan of /proc serves them all."""
    groups = {sid: {sid} for sid in sids}  # without procfs, the leader's group is all we can name
    for _, fields in processes():
        found = groups.get(int(fields[3]))
        if found is not None:
            found.add(int(fields[2]))
    return groups


def signal_sessions(signals: Sequence[tuple[int, int]]) -> None:
    """For each ``(sid, sig)``, in order: send ``sig`` to every process of the terminal session led by ``sid``."""
    groups = session_process_groups(*{sid for sid, _ in signals})
    for sid, sig in signals:
        for group in groups[sid]:
            try:
                os.killpg(group, sig)
                if sig == signal.SIGHUP:
                    os.killpg(group, signal.SIGCONT)  # a stopped job must run to see its SIGHUP
            except (ProcessLookupError, PermissionError):
                pass


def signal_session(sid: int, sig: int) -> None:
    """Send ``sig`` to every process of the terminal session led by ``sid``."""
    signal_sessions([(sid, sig)])


def end_sessions(sids: Iterable[int], grace: float) -> None:
    """Hang up every process of these sessions; SIGKILL what is left after ``grace`` seconds."""
    sids = set(sids)
    signal_sessions([(sid, signal.SIGHUP) for sid in sids])
    _wait_gone([pid for pid, fields in processes() if int(fields[3]) in sids], grace)
    signal_sessions([(sid, signal.SIGKILL) for sid in sids])


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Until every one of ``pids`` has exited (each pidfd turns readable), or ``timeout``."""
    if not hasattr(os, "pidfd_open"):
        time.sleep(timeout)  # nothing to wait on: give them the grace
        return
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except OSError:  # gone already
            pass
    deadline = time.monotonic() + timeout
    try:
        waiting = list(fds)
        while waiting and (left := deadline - time.monotonic()) > 0:
            exited = select.select(waiting, [], [], left)[0]
            waiting = [fd for fd in waiting if fd not in exited]
    finally:
        for fd in fds:
            os.close(fd)


# --- the watchdog --------------------------------------------------------------------------


def watch(messages: IO[bytes], grace: float) -> None:
    """The watchdog: read ``+SID`` / ``-SID`` lines until the end, then end the sessions left."""
    sids: set[int] = set()
    for line in messages:  # until the server's end of the pipe closes
        sid = int(line[1:])
        if line[:1] == b"+":
            sids.add(sid)
        else:
            sids.discard(sid)
    if sids:
        end_sessions(sids, grace)


class Reaper:
    """The server's side of the watchdog: started with the first shell, told of every shell's session."""

    def __init__(self, grace: float):
        self.grace = grace
        self.process: subprocess.Popen[bytes] | None = None
        self._broken = False

    def watch(self, sid: int) -> None:
        """End the session ``sid`` (a shell's pid) if the server dies before it has ended it."""
        self._tell(b"+%d\n" % sid)

    def forget(self, sid: int) -> None:
        """The server has ended the session ``sid`` itself."""
        self._tell(b"-%d\n" % sid)

    def _tell(self, line: bytes) -> None:
        if self._broken:
            return
        try:
            if self.process is None:
                self.process = subprocess.Popen(
                    [sys.executable, "-I", __file__, str(self.grace)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    bufsize=0,  # each line reaches the watchdog as it is written
                    start_new_session=True,  # no terminal's Ctrl-C or hang-up (the server's own) reaches it
                )
            assert self.process.stdin is not None
            self.process.stdin.write(line)  # a few bytes on a pipe the watchdog drains: never blocks long
        except (OSError, ValueError) as e:  # could not start it; it died (EPIPE); closed (a shell after shutdown)
            self._broken = True
            log.error("local shells: no watchdog (%s): if this server is killed, their processes may outlive it", e)

    def close(self) -> None:
        """Stop the watchdog, once the server has ended every shell (it has nothing left to end); blocks
        until it has exited. Not async: asyncio alone would double the watchdog's memory."""
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the end of the pipe: it ends what it was told of, and exits
            try:
                self.process.wait(10 + self.grace)
            except subprocess.TimeoutExpired:
                log.error("local shells: the watchdog (pid %s) did not exit; killing it", self.process.pid)
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":
    watch(sys.stdin.buffer, float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
