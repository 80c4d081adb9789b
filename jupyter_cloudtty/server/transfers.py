"""Files between the Jupyter server and a shell, through the shell's own terminal (the trzsz protocol).

A transfer needs nothing from the shell but its terminal and ``trz``/``tsz`` in its image: no exec
rights, no port, the same path for a local PTY and a pod's ttyd behind the relay. It runs like this:

1. The session's output is diverted to the transfer (``Session.divert``): from now on the shell's
   output goes to the transfer only, not into the scrollback, the recording or the clients, and the
   clients' typing is held back (Ctrl-C cancels the transfer).
2. For a transfer the server starts (``POST .../transfers``: the file browser's drops, ``%cloudtty cp``),
   it types ``trz`` or ``tsz`` at the shell's prompt. A ``tsz`` the user typed is taken the same way when
   the client that typed it asked for downloads into Jupyter (the session's trigger watch, ``watch``).
3. Output up to trz/tsz's trigger line (``::TRZSZ:TRANSFER:…``) is passed on to the clients, the trigger
   itself replaced by a line of ours (so a tab's own trzsz filter does not answer it too).
4. A peer process (server/trzsz_peer.py: trzsz's own protocol code) answers: the diverted output is its
   stdin, its stdout is typed into the terminal, its stderr reports progress. Progress reaches the HTTP
   client (NDJSON) and, as a dim line, the terminal's clients.
5. At the peer's end the session flows again; trz/tsz's own closing message erases our lines.

Downloads land in a hidden folder beside their destination and are moved to their names only once
whole, so a cancelled or failed download leaves nothing half-written; a cancelled upload tells trz
"Stopped and deleted", which removes what it began.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from jupyter_cloudtty.cloudshell.errors import ShellError
from jupyter_cloudtty.cloudshell.sizes import size_text

from .paths import inside

log = logging.getLogger(__name__)

MARK = b"::TRZSZ:TRANSFER:"
# trz/tsz print `ESC 7 ::TRZSZ:TRANSFER:<R|D|S>:<version>:<unique id>[:<port>]\r\n`, then wait for an answer.
TRIGGER = re.compile(rb"::TRZSZ:TRANSFER:([SRD]):(\d+\.\d+\.\d+)((?::\d+)*)\r*\n")  # \r\r\n through ONLCR
CLOSING_TIMEOUT = 3.0  # seconds trz/tsz gets for its closing message after the peer's last frame
SETTLE_SECONDS = 1.0  # trz/tsz's input drain (0.5 s) and its exit, after its closing message
REPORT_LIMIT = 16 * 1024 * 1024  # longest line of the peer's reports (a download of many files' names)
TRIGGER_TIMEOUT = 10.0  # seconds from typing trz/tsz to its trigger
SEARCH_LIMIT = 256 * 1024  # output kept while looking for the trigger (never more)
PROGRESS_EVERY = 0.2  # seconds between two progress reports
PEER_EXIT_GRACE = 5.0  # seconds a stopped peer gets before its input is closed
# What trz/tsz (or the shell) print when they will not start: the transfer fails at once with that line.
REFUSALS = re.compile(
    rb"[^\r\n]*(?:command not found|: not found|No such file[^\r\n]*|Not a regular file[^\r\n]*"
    rb"|No permission to [^\r\n]*|Is a directory[^\r\n]*|Not a directory[^\r\n]*)"
)


class TransferRefused(ShellError):
    """A transfer that cannot start or did not finish; ``status`` is the HTTP status it answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Plan:
    """A checked request: what to send or fetch, and where."""

    direction: str  # "upload" (Jupyter -> shell) or "download" (shell -> Jupyter)
    local: list[Path] = field(default_factory=list)  # upload: files on the Jupyter side
    remote: list[str] = field(default_factory=list)  # download: paths in the shell
    to: str | Path = ""  # upload: a folder in the shell ("" = its current one); download: a folder here
    rename: str | None = None  # download of one file: the name it gets
    overwrite: bool = False
    total: int = 0  # upload: bytes to send

    def command(self, tools: dict[str, str] | None = None) -> str:
        """What is typed at the shell's prompt (binary mode: 8-bit clean, no base64); ``tools`` names trz and
        tsz where the shell's PATH may not (``Session.tools``)."""
        tools = tools or {}
        if self.direction == "upload":
            folders = any(path.is_dir() for path in self.local)
            flags = ("-d -b" if folders else "-b") + (" -y" if self.overwrite else "")
            trz = shlex.quote(tools.get("trz", "trz"))
            return f"{trz} {flags} {shlex.quote(str(self.to))}" if self.to else f"{trz} {flags}"
        return f"{shlex.quote(tools.get('tsz', 'tsz'))} -b " + " ".join(shlex.quote(path) for path in self.remote)


def resolve(root: Path, value: Any, name: str) -> Path:
    """A path the user names on the Jupyter side (relative to the server's root, or absolute inside it)."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise TransferRefused(f"{name}: a path relative to the Jupyter root")
    path = Path(os.path.realpath(root / value))  # an absolute value replaces root; links are followed
    if not inside(root, path):
        raise TransferRefused(f"{name}: {value!r} is outside the Jupyter root")
    return path


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(_size(child) for child in path.iterdir() if not child.is_symlink() or child.is_file())
    return path.stat().st_size


def plan(body: Any, root: Path, max_bytes: int) -> Plan:
    """Check a ``POST .../transfers`` body; ``TransferRefused`` naming the field, before anything starts."""
    root = Path(os.path.realpath(root))
    if not isinstance(body, dict):
        raise TransferRefused("the body must be a JSON object")
    unknown = set(body) - {"direction", "paths", "remote", "to", "as", "overwrite"}
    if unknown:
        raise TransferRefused(f"{sorted(unknown)[0]}: unknown field")
    direction = body.get("direction")
    overwrite = body.get("overwrite", direction == "upload")
    if not isinstance(overwrite, bool):
        raise TransferRefused("overwrite: true or false")
    if direction == "upload":
        paths = body.get("paths")
        if not isinstance(paths, list) or not paths:
            raise TransferRefused("paths: a list of files to send (relative to the Jupyter root)")
        local = []
        for i, value in enumerate(paths):
            path = resolve(root, value, f"paths[{i}]")
            if not path.exists():
                raise TransferRefused(f"paths[{i}]: no such file: {value}", 404)
            if not (path.is_file() or path.is_dir()):
                raise TransferRefused(f"paths[{i}]: not a regular file: {value}")
            local.append(path)
        to = body.get("to", "")
        if not isinstance(to, str) or "\0" in to or "\n" in to or "\r" in to:
            raise TransferRefused("to: a folder in the shell")
        try:
            total = sum(_size(path) for path in local)
        except OSError as e:
            raise TransferRefused(f"paths: cannot read {e.filename or 'a file'}: {e.strerror or e}", 403) from None
        if max_bytes and total > max_bytes:
            raise TransferRefused(f"paths: {total} bytes, over this server's limit of {max_bytes} bytes", 413)
        if "as" in body:
            raise TransferRefused("as: only for a download")
        return Plan("upload", local=local, to=to, overwrite=overwrite, total=total)
    if direction == "download":
        remote = body.get("remote")
        if not isinstance(remote, list) or not remote:
            raise TransferRefused("remote: a list of paths in the shell")
        for i, value in enumerate(remote):
            if not isinstance(value, str) or not value or "\0" in value or "\n" in value or "\r" in value:
                raise TransferRefused(f"remote[{i}]: a path in the shell")
        folder = resolve(root, body.get("to") or ".", "to")
        if not folder.is_dir():
            raise TransferRefused(f"to: not a folder: {body.get('to')}", 404)
        rename = body.get("as")
        if rename is not None:
            if len(remote) != 1:
                raise TransferRefused("as: a new name for a single file")
            if not isinstance(rename, str) or not rename or "/" in rename or rename in (".", "..") or "\0" in rename:
                raise TransferRefused("as: a file name (no '/')")
        return Plan("download", remote=list(remote), to=folder, rename=rename, overwrite=overwrite)
    raise TransferRefused("direction: 'upload' or 'download'")


def free_name(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, or ``stem (1).ext``, ``stem (2).ext``, ... as browsers name downloads."""
    target = folder / name
    stem, dot, suffix = name.partition(".") if not name.startswith(".") else (name, "", "")
    n = 1
    while target.exists() or target.is_symlink():
        target = folder / f"{stem} ({n}){dot}{suffix}"
        n += 1
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


Report = Callable[[dict[str, Any]], None]


async def _settled(session: Any) -> None:
    """Wait out the end of the session's last transfer: trz/tsz drains its input for half a second after
    its last frame and reads it in a thread until it has exited, so a command typed sooner is lost."""
    since = time.monotonic() - session.transfer_ended
    if since < SETTLE_SECONDS:
        await asyncio.sleep(SETTLE_SECONDS - since)


async def _drained(peer: asyncio.subprocess.Process) -> None:
    """The peer has taken what it was given, or has gone (its end is read from its reports, not here)."""
    assert peer.stdin is not None
    try:
        await peer.stdin.drain()
    except (ConnectionError, OSError):
        pass


class Transfer:
    """One transfer through a session's terminal: divert, trigger, peer, and back.

    ``take`` is what the session calls with each chunk of output while diverted to this transfer.
    ``report`` gets ``{"event": ...}`` objects (start, progress, done, error) for the HTTP client.
    """

    def __init__(self, session: Any, plan: Plan, *, max_bytes: int, report: Report | None = None,
                 typed: bool = True):  # fmt: skip
        self.session = session
        self.plan = plan
        self.max_bytes = max_bytes
        self._report = report or (lambda event: None)
        self.typed = typed  # we type the command (False: the user did, and its trigger is on its way)
        self._buffer = b""  # output before the trigger
        self._shown = 0  # bytes at the buffer's start the clients have had already
        self._seen = b""  # the output's end before the trigger, searched for a refusal
        self._last_words = False  # the peer has typed its last frame (EXIT or fail): what follows is not its
        self._closing = False  # trz/tsz's closing message has begun
        self._closed = asyncio.Event()  # ... and has ended
        self._force: asyncio.TimerHandle | None = None  # closes the peer's input if a stop is not enough
        self._unsaved: str | None = None  # why a whole download could not be moved to its name
        self._answer: int | None = None  # download: the pipe the peer reads its closing message from
        self._control: int | None = None  # the pipe that stops the peer
        self._started = time.monotonic()
        self._triggered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._peer: asyncio.subprocess.Process | None = None
        self._staging: Path | None = None
        self._cancelled = False
        self._progress_at = 0.0
        self._files: list[dict[str, Any]] | None = None  # a download's files once moved
        self.root: Path | None = None  # the Jupyter root, to name where downloads went
        self._bytes = 0
        self._total = plan.total

    # --- the session's side ------------------------------------------------------------

    def take(self, chunk: bytes) -> Awaitable[None] | None:
        """Output while diverted: before the trigger it is searched (and what precedes it shown); after, it
        is the peer's input (awaited: a slow peer holds back the shell, as a slow client does)."""
        peer = self._peer
        if peer is not None:
            if self._last_words:
                # What the shell's side still sends of the protocol (a data chunk in flight when a transfer
                # stops) is dropped; its closing message starts with ESC 8 (the cursor it saved before its
                # trigger), and from there on the output is the user's again.
                at = chunk.find(b"\x1b8") if not self._closing else 0
                if at != -1:
                    self._closing = True
                    self.session.inject(chunk[at:])
                    if b"\x1b[?25h" in chunk[at:]:  # the end of its closing message: it is exiting
                        self._closed.set()
                return None
            if peer.returncode is not None or peer.stdin is None or peer.stdin.is_closing():
                return None
            peer.stdin.write(chunk)
            return _drained(peer)
        self._buffer += chunk
        if self._triggered.done():
            return None  # between the trigger and the peer's start (a few ms): kept for the peer
        match = TRIGGER.search(self._buffer)
        if match is None and self.typed:
            self._seen = (self._seen + chunk)[-4096:]
            refusal = REFUSALS.search(self._seen)
            if refusal is not None:
                self._show_upto(len(self._buffer))
                line = refusal.group(0).decode(errors="replace").strip()
                self._triggered.set_exception(TransferRefused(self._refused(line), 422))
                return None
        if match is None:
            mark = self._buffer.find(MARK)  # the trigger's line has begun but not ended
            self._show_upto(mark if mark != -1 else max(len(self._buffer) - len(MARK) + 1, 0))
            if len(self._buffer) > SEARCH_LIMIT:  # no line is that long: not a trigger after all
                self._show_upto(len(self._buffer) - len(MARK) + 1)
            return None
        self._show_upto(match.start())
        self._buffer = self._buffer[match.end() - match.start() :]
        self._triggered.set_result(match.group(1))
        return None

    def prime(self, seen: bytes) -> None:
        """Output the clients have been shown already, where the trigger may have begun (the watch's tail)."""
        self._buffer, self._shown = seen, len(seen)

    def _show_upto(self, n: int) -> None:
        """Pass the buffer's first ``n`` bytes on to the clients (less what they had) and drop them."""
        if n <= 0:
            return
        if n > self._shown:
            self.session.inject(self._buffer[self._shown : n])
        self._buffer, self._shown = self._buffer[n:], max(self._shown - n, 0)

    # --- the session's view of this client (it attaches as one, so the stream flows) -----

    def send_output(self, data: bytes) -> None:
        return None  # diverted, output comes through take

    def end(self, code: int, reason: str) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Stop it (a client's Ctrl-C, the HTTP client gone, the shell's end): the peer tells trz/tsz to delete
        what it began. A peer still running after ``PEER_EXIT_GRACE`` (the shell no longer answers, so it
        waits for a frame that will not come) has its input closed, which ends its wait."""
        if self._cancelled:
            return
        self._cancelled = True
        if not self._triggered.done():
            self._triggered.cancel()
        self._stop_peer()
        self._force = asyncio.get_running_loop().call_later(PEER_EXIT_GRACE, self._end_peer_input)

    def _stop_peer(self) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                os.write(self._control, b"s")  # the peer stops at its next frame (see trzsz_peer)

    def _end_peer_input(self) -> None:
        peer = self._peer
        if peer is not None and peer.returncode is None and peer.stdin is not None:
            peer.stdin.close()  # trzsz's reader sees the end: EndOfInput, and the peer reports and exits
            # ... unless it is blocked writing to a terminal that is gone: then it is killed.
            self._force = asyncio.get_running_loop().call_later(PEER_EXIT_GRACE, self._kill_peer)

    def _kill_peer(self) -> None:
        if self._peer is not None and self._peer.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._peer.kill()

    def _line(self, text: str) -> None:
        # Over the same line each time (CR, erase line); trz/tsz's closing message restores the cursor
        # saved before its trigger and clears below it, so these lines go with it.
        self.session.inject(f"\r\x1b[2K\x1b[2m[{text}]\x1b[0m".encode())

    # --- running it --------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        """The transfer from start to end: the ``done`` event's fields, or ``TransferRefused``."""
        session = self.session
        session.divert(self)  # the watch has diverted it already for a tsz the user typed
        label = "upload" if self.plan.direction == "upload" else "download"
        session.mark(f"{label} started")
        try:
            if self.typed:
                await _settled(session)
                if self._cancelled:
                    raise TransferRefused("cancelled", 499)
                written = session.type(f"{self.plan.command(session.tools)}\r".encode())
                if written is not None:
                    await written
            try:
                mode = await asyncio.wait_for(asyncio.shield(self._triggered), TRIGGER_TIMEOUT)
            except asyncio.TimeoutError:
                raise TransferRefused(self._no_trigger(), 422) from None
            except TransferRefused:
                raise
            except asyncio.CancelledError:
                if self._cancelled:
                    raise TransferRefused("cancelled", 499) from None
                raise
            expected = b"S" if self.plan.direction == "download" else (b"R", b"D")
            if mode not in expected:
                raise TransferRefused(f"the shell answered with a {mode.decode()} transfer, not a {label}", 409)
            self._line(f"{label}ing through Jupyter…")
            result = await self._run_peer()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closed.wait(), CLOSING_TIMEOUT)
            session.mark(f"{label} done: {', '.join(f['name'] for f in result['files'])}")
            return result
        except TransferRefused as e:
            session.mark(f"{label} failed: {e}")
            raise
        finally:
            self._cleanup()
            session.undivert(self)
            session.transfer_ended = time.monotonic()
            if self._force is not None:
                self._force.cancel()

    def _refused(self, line: str) -> str:
        tool = "trz" if self.plan.direction == "upload" else "tsz"
        if "command not found" in line or line.endswith(f"{tool}: not found"):
            return f"{tool} is not installed in the shell's image (PyPI's trzsz provides trz and tsz)"
        return f"the shell says: {line}"

    def _no_trigger(self) -> str:
        tool = "trz" if self.plan.direction == "upload" else "tsz"
        return (f"{tool} did not start within {TRIGGER_TIMEOUT:.0f} s: the shell must be at its prompt, with "
                f"{tool} installed (PyPI's trzsz)")  # fmt: skip

    async def _run_peer(self) -> dict[str, Any]:
        plan = self.plan
        control, self._control = os.pipe()
        args = [sys.executable, "-m", "jupyter_cloudtty.server.trzsz_peer", "--max-bytes", str(self.max_bytes),
                "--control-fd", str(control)]  # fmt: skip
        if plan.direction == "upload":
            if any(path.is_dir() for path in plan.local):
                args.append("--directory")
            args += ["upload", *(str(path) for path in plan.local)]
        else:
            assert isinstance(plan.to, Path)
            try:
                self._staging = Path(tempfile.mkdtemp(prefix=".cloudtty-download-", dir=plan.to))
            except OSError as e:
                where = plan.to.name or "the root"
                raise TransferRefused(f"to: cannot write in {where}: {e.strerror or e}", 403) from None
            answer, self._answer = os.pipe()
            args += ["--dest", str(self._staging), "--answer-fd", str(answer), "download"]
        names = [path.name for path in plan.local] if plan.direction == "upload" else list(plan.remote)
        self._report({"event": "start", "direction": plan.direction, "files": names, "total": self._total or None})
        passed = (control, answer) if plan.direction == "download" else (control,)
        try:
            self._peer = peer = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=passed, limit=REPORT_LIMIT,
            )  # fmt: skip
        finally:
            for fd in passed:
                os.close(fd)
        if self._cancelled:  # while the peer was starting
            self._stop_peer()
        if self._buffer:
            assert peer.stdin is not None
            peer.stdin.write(self._buffer)
            self._buffer = b""
        typing = asyncio.ensure_future(self._type_peer_output(peer))
        try:
            outcome = await self._read_reports(peer)
            await peer.wait()
            # What it typed last reaches the shell, unless the shell is gone (then nothing takes it).
            await asyncio.wait({typing}, timeout=PEER_EXIT_GRACE)
        finally:
            typing.cancel()
        if outcome.get("event") != "done":
            if self._cancelled:  # whatever the peer met on its way out (a dying shell's last words), it was stopped
                raise TransferRefused("cancelled", 499)
            raise TransferRefused(outcome.get("message") or "the transfer failed", outcome.get("status") or 422)
        if self._unsaved is not None:
            raise TransferRefused(self._unsaved, 507)
        if self._files is None:
            self._files = await asyncio.to_thread(self._finish, outcome.get("names") or [])
        files = self._files
        seconds = time.monotonic() - self._started
        total = sum(file["size"] for file in files)
        return {"event": "done", "files": files, "bytes": total, "seconds": round(seconds, 3)}

    async def _type_peer_output(self, peer: asyncio.subprocess.Process) -> None:
        assert peer.stdout is not None
        while data := await peer.stdout.read(256 * 1024):
            written = self.session.type(data)
            if written is not None:
                await written

    async def _read_reports(self, peer: asyncio.subprocess.Process) -> dict[str, Any]:
        assert peer.stderr is not None
        self._started = time.monotonic()
        outcome: dict[str, Any] = {}
        said: deque[str] = deque(maxlen=5)  # its other words (a crash's traceback): for the log
        while True:
            try:
                line = await peer.stderr.readline()
            except ValueError:  # a line over REPORT_LIMIT: not one of its reports
                continue
            if not line:
                break
            try:
                event = json.loads(line)
            except ValueError:
                said.append(line.decode(errors="replace").rstrip())
                continue
            kind = event.get("event")
            if kind in ("done", "error"):
                outcome = event
            elif kind == "last":
                # It is about to send its last frame: what the shell prints from now on answers it (its
                # closing message) and is the user's to see. Said on stderr, not looked for in what it types:
                # an upload's binary data may hold anything.
                self._last_words = True
            elif kind == "received":
                await self._answer_peer(event.get("names") or [])
            elif kind == "size" and not self.plan.total:
                self._total += event.get("size", 0)
            elif kind == "step":
                self._bytes = event.get("bytes", 0)
                self._progress(event.get("name", ""))
        if not outcome and self._cancelled:
            outcome = {"event": "error", "status": 499, "message": "cancelled"}  # killed after a stop (_kill_peer)
        elif not outcome:
            log.warning("a transfer's process ended without a result: %s", " | ".join(said))
            outcome = {"event": "error", "message": "the transfer's process ended without a result"}
        return outcome

    async def _answer_peer(self, names: list[str]) -> None:
        """A download is whole: move its files to their names (off the loop: it hashes them), and give tsz the
        message it closes with."""
        try:
            self._files = files = await asyncio.to_thread(self._finish, names)
            seconds = time.monotonic() - self._started
            total = sum(file["size"] for file in files)
            rate = f", {size_text(total / seconds)}/s" if seconds > 0 else ""
            where = self.where(files)
            message = f"Saved {', '.join(file['name'] for file in files)} to {where} ({size_text(total)}{rate})"
        except OSError as e:
            message = self._unsaved = f"received, but it could not be saved in Jupyter: {e.strerror or e}"
        if self._answer is not None:
            with contextlib.suppress(OSError):
                os.write(self._answer, (json.dumps(message) + "\n").encode())
                os.close(self._answer)
            self._answer = None

    def where(self, files: list[dict[str, Any]]) -> str:
        """Where downloads went, as the user finds them: a folder of the Jupyter root."""
        folder = self.plan.to
        relative = os.path.relpath(folder, self.root) if self.root is not None and isinstance(folder, Path) else "."
        return "the Jupyter root" if relative == "." else f"{relative}/ in Jupyter"

    def _progress(self, name: str) -> None:
        now = time.monotonic()
        if now - self._progress_at < PROGRESS_EVERY:
            return
        self._progress_at = now
        total = self._total or None
        self._report({"event": "progress", "file": name, "bytes": self._bytes, "total": total})
        share = f" {100 * self._bytes // total}%" if total else ""
        self._line(f"{self.plan.direction}ing {name}{share} ({size_text(self._bytes)})")

    def _finish(self, names: list[str]) -> list[dict[str, Any]]:
        """Uploads: what trz saved. Downloads: move each whole file from the staging folder to its name."""
        plan = self.plan
        if plan.direction == "upload":
            return [{"name": path.name, "path": None, "size": _size(path), "sha256": sha256(path) if path.is_file()
                     else None} for path in plan.local]  # fmt: skip
        assert self._staging is not None and isinstance(plan.to, Path)
        files = []
        for entry in sorted(self._staging.iterdir()):
            name = plan.rename if plan.rename and len(names) <= 1 else entry.name
            target = plan.to / name if plan.overwrite else free_name(plan.to, name)
            if target.is_dir() and not target.is_symlink():
                # A folder is never replaced by a download (os.replace onto a folder fails: OSError, 507).
                target = free_name(plan.to, name)
            os.replace(entry, target)
            files.append({"name": target.name, "path": str(target), "size": _size(target),
                          "sha256": sha256(target) if target.is_file() else None})  # fmt: skip
        return files

    def _cleanup(self) -> None:
        for fd in (self._answer, self._control):
            if fd is not None:
                os.close(fd)
        self._answer = self._control = None
        if self._peer is not None and self._peer.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._peer.kill()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)


class Transfers:
    """The server's transfers: at most one at a time per session, and the watch that takes a ``tsz`` the
    user typed into the Jupyter root (for a client that asked for downloads there)."""

    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(os.path.realpath(root))
        self.max_bytes = max_bytes
        self._watched: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    def plan(self, body: Any) -> Plan:
        return plan(body, self.root, self.max_bytes)

    def relative(self, path: str | None) -> str | None:
        """A path on the Jupyter side as the file browser names it (relative to the root)."""
        if path is None:
            return None
        return os.path.relpath(path, self.root)

    def transfer(self, session: Any, plan: Plan, report: Report | None = None) -> Transfer:
        """A transfer the server starts (``run`` it); 409 while another one runs in the session."""
        if session.diverted is not None:
            raise TransferRefused("another transfer is running in this shell; wait for it or cancel it", 409)
        transfer = Transfer(session, plan, max_bytes=self.max_bytes, report=report)
        transfer.root = self.root
        return transfer

    async def run(self, transfer: Transfer) -> dict[str, Any]:
        """Run it to its end: the ``done`` event (paths relative to the root), or ``TransferRefused``."""
        session = transfer.session
        if session.diverted is not None:
            raise TransferRefused("another transfer is running in this shell; wait for it or cancel it", 409)
        session.attach(transfer)  # as a client: a stream nobody has attached to yet is held, not read
        try:
            result = await transfer.run()
        finally:
            session.detach(transfer)
        for file in result["files"]:
            file["path"] = self.relative(file["path"])
        return result

    def watch(self, session: Any, chunk: bytes) -> None:
        """The session's output watch (``Session.watch``), before a chunk is delivered: a ``tsz`` trigger
        the typist's client wants in Jupyter diverts the session to a download into the root."""
        tail = session.watch_tail
        session.watch_tail = chunk[-len(MARK) :]
        at = chunk.find(MARK + b"S")
        seen = b""
        if at == -1:
            joined = tail + chunk[: len(MARK) + 1]
            split = joined.find(MARK + b"S")
            if split == -1 or split >= len(tail):
                return
            seen = tail[split:]  # shown already: the trigger began in the last chunk
        typist = session.typist
        if getattr(typist, "downloads", "jupyter") != "jupyter" or session.diverted is not None:
            return  # the tab's own trzsz filter answers it (browser downloads)
        transfer = Transfer(session, Plan("download", to=self.root), max_bytes=self.max_bytes, typed=False)
        transfer.root = self.root
        transfer.prime(seen)
        session.divert(transfer)
        task = asyncio.ensure_future(self._run_watched(session, transfer))
        self._watched.add(task)
        task.add_done_callback(self._watched.discard)

    async def _run_watched(self, session: Any, transfer: Transfer) -> None:
        session.attach(transfer)
        try:
            result = await transfer.run()
            log.info(
                "tsz saved %s in the Jupyter root", ", ".join(self.relative(f["path"]) or "" for f in result["files"])
            )
        except TransferRefused as e:
            log.info("a download from a terminal did not finish: %s", e)
            session.notice(f"download failed: {e}")
        except Exception:
            log.exception("a download from a terminal failed")
            session.notice("download failed: an error of the Jupyter server (its log says more)")
        finally:
            session.detach(transfer)

    async def shutdown(self) -> None:
        for task in list(self._watched):
            task.cancel()
        await asyncio.gather(*self._watched, return_exceptions=True)
