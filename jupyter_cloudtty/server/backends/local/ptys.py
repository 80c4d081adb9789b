"""Local terminals: a process on a PTY (spawned by terminado) and its byte stream.

terminado spawns the process (``PtyWithClients``: a new session, its own process group,
SIGPIPE restored). We do the I/O ourselves because terminado's reader decodes to ``str``
and polls inside the event loop with no flow control: here output is read as bytes,
64 KiB at a time, only while nobody has paused it, and input is written without blocking.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import struct
import termios
from typing import Callable, Sequence

from terminado.management import DEFAULT_TERM_TYPE, PtyWithClients

from jupyter_cloudtty.server.sessions import READ_SIZE, completed

from .reaper import processes, signal_session, signal_sessions  # noqa: F401 - ptys.* for the test harness too


def spawn(argv: Sequence[str], *, cwd: str, env: dict[str, str], rows: int = 24, columns: int = 80) -> PtyWithClients:
    """Start ``argv`` on a new PTY, as the leader of a new session and process group."""
    env = {**env, "TERM": env.get("TERM") or DEFAULT_TERM_TYPE, "COLUMNS": str(columns), "LINES": str(rows)}
    if not os.path.isdir(cwd):
        raise FileNotFoundError(errno.ENOENT, "no such directory", cwd)
    if not os.access(cwd, os.X_OK):
        raise PermissionError(errno.EACCES, "cannot enter the directory", cwd)
    parent = os.getpid()
    try:
        pty = PtyWithClients(list(argv), env, cwd)
    except BaseException:
        if os.getpid() != parent:
            # ptyprocess changes directory in the forked child outside its error handling:
            # never let that child run on as a copy of the Jupyter server.
            os.write(2, f"cannot start in {cwd}\r\n".encode(errors="replace"))
            os._exit(127)
        raise
    pty.ptyproc.setwinsize(rows, columns)
    # ptyprocess sleeps (blocking) in close()/__del__ unless told not to.
    pty.ptyproc.delayafterclose = 0
    pty.ptyproc.delayafterterminate = 0
    return pty


class PtyStream:
    """The ``TerminalStream`` of a local PTY: nonblocking bytes in and out."""

    def __init__(self, fd: int):
        self.fd = fd
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._loop = asyncio.get_running_loop()
        self._paused = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # a write waiting for room in the PTY
        self._turned = True  # the event loop has turned since read() last returned output
        self._done = completed()  # what write() returns when the PTY took it all

    async def read(self) -> bytes:
        while not self._closed:
            if not self._paused:
                try:
                    data = os.read(self.fd, READ_SIZE)  # b"" at EOF on BSDs
                except BlockingIOError:
                    pass
                except OSError as e:
                    if e.errno == errno.EIO:  # Linux: every slave fd is closed
                        return b""
                    raise
                else:
                    if data and not self._turned:
                        # Read without waiting, so the loop has not turned since the last chunk: let it
                        # turn, or a program that writes fast shuts out every other terminal and request.
                        await asyncio.sleep(0)
                    self._turned = False
                    return self._more(data) if data else data
            await self._readable()
            self._turned = True
        return b""

    def _more(self, data: bytes) -> bytes:
        """Add what is already readable, up to READ_SIZE, without waiting.

        A Linux PTY hands out at most 4 KiB a read; one frame per 4 KiB would cost a
        WebSocket frame and a loop turn each. Interactive output is unaffected: the next
        read finds nothing and returns at once.
        """
        if len(data) >= READ_SIZE:
            return data
        chunks, size = [data], len(data)
        while size < READ_SIZE:
            try:
                more = os.read(self.fd, READ_SIZE - size)
            except OSError:  # nothing more now, or the end (the next read reports it)
                break
            if not more:
                break
            chunks.append(more)
            size += len(more)
        return b"".join(chunks) if len(chunks) > 1 else data

    def _readable(self) -> asyncio.Future[None]:
        self._waiter = self._loop.create_future()
        if not self._paused:
            self._loop.add_reader(self.fd, self._wake)
        return self._waiter

    def _wake(self) -> None:
        self._loop.remove_reader(self.fd)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def pause(self) -> None:
        self._paused = True
        if not self._closed:
            self._loop.remove_reader(self.fd)

    def resume(self) -> None:
        self._paused = False
        if self._waiter is not None and not self._waiter.done() and not self._closed:
            self._loop.add_reader(self.fd, self._wake)

    def write(self, data: bytes) -> asyncio.Future[None]:
        """Write what the PTY takes now; the rest (a program not reading its input) in a task."""
        if self._closed:
            return self._done
        try:
            written = os.write(self.fd, data)
        except BlockingIOError:
            written = 0
        except OSError as e:
            if e.errno == errno.EIO:
                return self._done  # the program is gone; its end is reported elsewhere
            raise
        if written == len(data):
            return self._done
        return asyncio.ensure_future(self._write_rest(memoryview(data)[written:]))

    async def _write_rest(self, view: memoryview) -> None:
        while view and not self._closed:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                # The program is not reading its input: wait for room, buffer nothing.
                ready = self._writable = self._loop.create_future()
                self._loop.add_writer(self.fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    self._writable = None
                    if not self._closed:
                        self._loop.remove_writer(self.fd)
                continue
            except OSError as e:
                if e.errno == errno.EIO:
                    return  # the program is gone; its end is reported elsewhere
                raise
            view = view[written:]

    def resize(self, rows: int, columns: int) -> None:
        if not self._closed:
            fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def close(self) -> None:
        """Stop reading (the fd itself belongs to ptyprocess, which closes it)."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self.fd)
            self._loop.remove_writer(self.fd)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
            if self._writable is not None and not self._writable.done():
                self._writable.set_result(None)  # a write waiting for room: the loop ends it (closed)


# --- signalling terminal sessions -----------------------------------------------------------


class SessionSignaller:
    """Signals terminal sessions off the event loop, one /proc scan for the requests made meanwhile.

    A scan reads every process's stat (milliseconds with hundreds of processes): when many
    shells end together, scanning once per shell on the loop would stall every other terminal.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[int, int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def send(self, sid: int, sig: int) -> None:
        """Signal the session led by ``sid``; returns once it has been signalled."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append((sid, sig, done))
        if self._task is None:
            self._task = loop.create_task(self._run())
        await done

    async def _run(self) -> None:
        try:
            while self._pending:
                # A request made while a scan runs waits for the next scan, which sees its processes.
                batch, self._pending = self._pending, []
                error: BaseException | None = None
                try:
                    await asyncio.to_thread(signal_sessions, [(sid, sig) for sid, sig, _ in batch])
                except Exception as e:  # noqa: BLE001 - handed to every requester
                    error = e
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error) if error else done.set_result(None)
        finally:
            self._task = None


def watch_exit(pid: int, callback: Callable[[], None]) -> bool:
    """Call ``callback()`` once when ``pid`` exits, via a pidfd; False where there is none."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    loop = asyncio.get_running_loop()

    def fired() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        callback()

    loop.add_reader(pidfd, fired)
    return True
