"""A terminal session recorded as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/), as
its frames pass through our server: output, resizes, markers, and input only when asked.

One JSON header line (the terminal's size, when it started, and ours: the shell's name, owner and
spec), then one line per event ``[seconds since the start, code, data]``: ``o`` output, ``i``
input, ``r`` a resize (``"COLSxROWS"``), ``m`` a marker. Output is bytes cut wherever the PTY
read ended, so a character may be split across two reads: an incremental UTF-8 decoder keeps the
first half until the second comes. The file and its folder are the owner's only (0600, 0700):
a terminal shows what its user typed and saw.

The file is line-buffered: each event is one ``write`` to the OS (microseconds, far under a
keystroke's budget), so a server that dies leaves a recording whole up to its last event. A failed
write raises ``RecordingFailed`` with the reason, so a policy that requires recording can end the
session.
"""

from __future__ import annotations

import codecs
import json
import os
import time
from datetime import datetime, timezone
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # C-accelerated
from pathlib import Path
from typing import IO, Any, Callable


class RecordingFailed(OSError):
    """The recording could not be started or written; the message says why (for the user and the log)."""


def file_name(shell: str, started: datetime, count: int = 1) -> str:
    """``<shell>-<UTC time>.cast``: sorted by shell, then by when; ``-2``, ``-3``... after the time for a
    second recording of the shell in the same second."""
    suffix = f"-{count}" if count > 1 else ""
    return f"{shell}-{started.strftime('%Y%m%dT%H%M%SZ')}{suffix}.cast"


# Recordings of one shell started in one second (a shell deleted and made again at once) get a suffix each.
MAX_SAME_SECOND = 100


class Recording:
    """One session's ``.cast`` file; ``start`` makes it, each method adds an event."""

    def __init__(self, path: Path, out: IO[str], clock: Callable[[], float], record_input: bool):
        self.path = path
        self._out = out
        self._clock = clock
        self._began = clock()
        self._decoders = {"o": codecs.getincrementaldecoder("utf-8")("replace"),
                          "i": codecs.getincrementaldecoder("utf-8")("replace")}  # fmt: skip
        self.record_input = record_input
        self.closed = False

    @classmethod
    def start(
        cls,
        folder: Path,
        shell: str,
        size: tuple[int, int],
        *,
        owner: str = "",
        spec: dict[str, Any] | None = None,
        record_input: bool = False,
        clock: Callable[[], float] = time.monotonic,
        now: datetime | None = None,
        file_mode: int = 0o600,
    ) -> Recording:
        """A new recording of ``shell`` in ``folder`` (made 0700 if missing) at ``size`` (rows, columns);
        RecordingFailed if the folder or file cannot be made. ``file_mode``: the owner's alone by default
        (the pod's recorder makes them readable by its group, the administrator's)."""
        started = now or datetime.now(timezone.utc)
        rows, columns = size
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            path, fd = _create(folder, shell, started, file_mode)
            out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)  # a line, an event: whole if we die
        except OSError as e:
            # The cause first: a close reason (123 bytes) may cut a long folder's name short.
            raise RecordingFailed(f"cannot record the terminal ({e.strerror or e}) in {folder}") from None
        header = {
            "version": 2,
            "width": columns,
            "height": rows,
            "timestamp": int(started.timestamp()),
            "title": shell,
            "env": {"TERM": "xterm-256color"},
            # Ours; players ignore keys they do not know.
            "cloudtty": {
                "shell": shell,
                "owner": owner,
                "spec": spec or {},
                "input": record_input,
                "started": started.isoformat().replace("+00:00", "Z"),
            },  # fmt: skip
        }
        recording = cls(path, out, clock, record_input)
        recording._line(header)
        return recording

    def _line(self, item: Any) -> None:
        self._write(json.dumps(item, ensure_ascii=False) + "\n")

    def _write(self, line: str) -> None:
        if self.closed:
            return
        try:
            self._out.write(line)
        except OSError as e:
            self.closed = True
            raise RecordingFailed(f"the terminal's recording {self.path.name} failed: {e.strerror or e}") from None

    def _event(self, code: str, data: str, at: float | None = None) -> None:
        # json.dumps's own line, without a new encoder per event (``ensure_ascii=False`` makes one): a
        # busy terminal writes an event per read, and that cost a fifth of a recorder's CPU.
        seconds = round((self._clock() if at is None else at) - self._began, 6)
        self._write(f'[{seconds!r}, "{code}", {encode_basestring(data)}]\n')

    def output(self, data: bytes, at: float | None = None) -> None:
        """Output shown, at ``at`` (the clock's time it came; default now: a batch's is its first byte's)."""
        text = self._decoders["o"].decode(data)
        if text:
            self._event("o", text, at)

    def input(self, data: bytes) -> None:
        """What was typed, only if the administrator asked for input to be recorded."""
        if self.record_input:
            text = self._decoders["i"].decode(data)
            if text:
                self._event("i", text)

    def resize(self, rows: int, columns: int) -> None:
        self._event("r", f"{columns}x{rows}")

    def marker(self, label: str = "") -> None:
        self._event("m", label)

    def discard(self) -> None:
        """Close and remove the file: a session whose terminal never opened has nothing to replay."""
        self.closed = True
        try:
            self._out.close()
        finally:
            self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """The end: what a split character left is written as it is, then the file is closed."""
        if self.closed:
            return
        rest = self._decoders["o"].decode(b"", final=True)
        if rest:
            self._event("o", rest)
        self.closed = True
        try:
            self._out.close()
        except OSError as e:
            raise RecordingFailed(f"the terminal's recording {self.path.name} failed: {e.strerror or e}") from None


def _create(folder: Path, shell: str, started: datetime, mode: int = 0o600) -> tuple[Path, int]:
    """A new file (never one that exists: another recording's) and its descriptor."""
    count = 1
    while True:
        path = folder / file_name(shell, started, count)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            os.fchmod(fd, mode)  # whatever the umask took away
            return path, fd
        except FileExistsError:
            if count >= MAX_SAME_SECOND:
                raise
            count += 1


def read(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """(header, events) of a ``.cast`` file, for tests. The package's readers take recordings apart with
    cloudshell/asciicast.py; this file imports nothing of the package (the operator's recorder runs it alone).
    Lines end at "\n" only: the writer leaves U+2028 and U+0085 in an event's text as they are."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:] if line]
