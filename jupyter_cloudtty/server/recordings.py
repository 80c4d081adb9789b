"""The administrator's recording policy (``c.CloudTTY.recording``) and the recordings it leaves.

``RecordingPolicy`` decides which shells are recorded (``off``, ``optional``: those created with
``"record": true``, ``required``: all), starts a session's recording (cloudshell/recording.py writes it),
and serves the folder to the REST API: the list, a search over the recordings' text, one file,
its deletion. A session sees only ``ShellRecorder``: a recording to start, and whether it must be.

The folder holds only this server's files (0600 in a 0700 folder), and the list shows only its
owner's: where an administrator gives every server the same folder, one user's server does not
list another's recordings. That is a convenience, not a boundary (docs/security.md): a folder of
its own per user (a PVC's subPath) is what keeps users apart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from jupyter_cloudtty.cloudshell import asciicast
from jupyter_cloudtty.cloudshell.errors import InvalidShell, ShellError
from jupyter_cloudtty.cloudshell.model import Shell
from jupyter_cloudtty.cloudshell.recording import Recording
from jupyter_cloudtty.cloudshell.spec import validate_name

log = logging.getLogger(__name__)

MODES = ("off", "optional", "required")
EXTENSION = ".cast"
# A recording's name as recording.file_name makes it: a shell's name (a DNS label) and a time. No '/',
# no '..': a name from a URL never leaves the folder.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,250}\.cast")
MAX_QUERY = 200  # characters of a search
MAX_MATCHES = 5  # lines shown per recording found
MATCH_WIDTH = 160  # characters of a line shown around what was found
TAIL_BYTES = 64 * 1024  # read from a file's end for its last event (its duration)


class RecordingNotFound(ShellError):
    status = 404

    def __init__(self, file: str):
        super().__init__(f"recording {file!r} not found")


class RecordingsUnreadable(ShellError):
    """The folder cannot be read: the administrator's to fix (c.CloudTTY.recordings_dir)."""

    status = 503


class RecordingBusy(ShellError):
    status = 409

    def __init__(self, file: str):
        super().__init__(f"recording {file!r} is still being written (its terminal is open); end the shell first")


def redacted(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` for a recording's header: env values may be secrets, so their names stay and the values go."""
    if "env" not in spec:
        return spec
    return {**spec, "env": [{"name": var.get("name")} for var in spec["env"]]}


@dataclass
class ShellRecorder:
    """What a session needs to record one shell: the policy, and the shell as it is when a recording starts."""

    policy: RecordingPolicy
    shell: Callable[[], Shell]

    @property
    def required(self) -> bool:
        """A session that cannot be recorded must not run (``required``); else it runs unrecorded."""
        return self.policy.mode == "required"

    def start(self, size: tuple[int, int]) -> Recording | None:
        """A new recording at ``size`` (rows, columns), None if this shell is not recorded; RecordingFailed
        saying why it cannot be."""
        return self.policy.start(self.shell(), size)


class RecordingPolicy:
    """``c.CloudTTY.recording``, ``record_input`` and ``recordings_dir``, as the backends and the REST API use them."""

    def __init__(
        self,
        mode: str = "off",
        folder: Path | str = "",
        *,
        record_input: bool = False,
        owner: str = "",
        root: Path | str | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"recording mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        self.folder = Path(folder)
        self.record_input = record_input
        self.owner = owner
        self.root = Path(root) if root is not None else None  # the Jupyter root, for paths the file browser opens
        self._writing: weakref.WeakSet[Recording] = weakref.WeakSet()

    # --- which shells, and their sessions ---------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``recording`` in ``GET /cloudtty/api/info``."""
        return {"mode": self.mode, "input": self.record_input}

    def choose(self, requested: Any) -> bool:
        """Whether a new shell is recorded, from its create request's ``record`` (None: not given);
        InvalidShell for what this server's mode does not allow."""
        if requested is None:
            return self.mode == "required"
        if not isinstance(requested, bool):
            raise InvalidShell("record", f"must be true or false, got {json.dumps(requested)[:40]}")
        if requested and self.mode == "off":
            raise InvalidShell("record", "recording is off on this server")
        if not requested and self.mode == "required":
            raise InvalidShell("record", "this server records every shell (c.CloudTTY.recording = 'required')")
        return requested

    def records(self, shell: Shell) -> bool:
        """Whether ``shell``'s sessions are recorded: every one's under ``required``, else as it was created."""
        return self.mode == "required" or (self.mode == "optional" and shell.record)

    def recorder(self, shell: Callable[[], Shell]) -> ShellRecorder | None:
        """What a session of ``shell`` (as it is then) records with; None when this server records nothing."""
        return None if self.mode == "off" else ShellRecorder(self, shell)

    def start(self, shell: Shell, size: tuple[int, int]) -> Recording | None:
        """A new recording of ``shell``'s session, None if it is not recorded; RecordingFailed saying why not."""
        if not self.records(shell):
            return None
        recording = Recording.start(
            self.folder, shell.name, size, owner=self.owner, spec=redacted(shell.spec), record_input=self.record_input
        )
        self._writing.add(recording)
        log.info("shell %s: recording its terminal to %s", shell.name, recording.path)
        return recording

    # --- the folder, for the REST API ----------------------------------------------------------

    @property
    def shown_dir(self) -> str:
        """The folder as the user knows it: relative to the Jupyter root when inside it."""
        relative = self._relative(self.folder)
        return relative if relative is not None else str(self.folder)

    def _relative(self, path: Path) -> str | None:
        if self.root is None:
            return None
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None

    def list(self, shell: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
        """The owner's recordings, newest first; of ``shell`` only, and with ``q`` only those whose text
        holds it (case-insensitive), each with its ``matches`` (a few lines)."""
        if shell is not None:
            validate_name(shell, "shell")
        if q is not None and len(q) > MAX_QUERY:
            raise InvalidShell("q", f"at most {MAX_QUERY} characters, got {len(q)}")
        found = []
        for path in self._files():
            entry = self._summary(path)
            if entry is None or (shell is not None and entry["shell"] != shell):
                continue
            if q:
                matches = search(path, q)
                if not matches:
                    continue
                entry["matches"] = matches
            found.append(entry)
        return sorted(found, key=lambda e: (e["started"], e["file"]), reverse=True)

    def _files(self) -> list[Path]:
        """The folder's ``.cast`` files (none before the first recording made it)."""
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise RecordingsUnreadable(f"cannot read the recordings' folder {self.folder}: {e.strerror or e}") from None
        return [Path(e.path) for e in entries if e.name.endswith(EXTENSION) and e.is_file(follow_symlinks=False)]

    def _summary(self, path: Path) -> dict[str, Any] | None:
        """What the list says of one file; None for a file that is not one of the owner's recordings."""
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                ours = _ours(f.readline())
                if ours is None or ours.get("owner") != self.owner:
                    return None
                duration = _last_time(f, size)
        except OSError as e:
            log.debug("not a recording: %s (%s)", path, e)
            return None
        return {
            "file": path.name,
            "path": self._relative(path),
            "shell": ours.get("shell"),
            "owner": ours.get("owner"),
            "started": ours.get("started"),
            "duration": duration,
            "size": size,
            "input": bool(ours.get("input")),
        }

    def path(self, file: str) -> Path:
        """The owner's recording named ``file``; InvalidShell for a name that is not a recording's,
        RecordingNotFound for one that is not there."""
        if not isinstance(file, str) or not FILE_NAME.fullmatch(file) or ".." in file:
            raise InvalidShell(
                "file", "not a recording's name (<shell>-<time>.cast: letters, digits, '.', '-', '_'; no '/' or '..')"
            )
        path = self.folder / file
        try:
            with path.open("rb") as f:
                ours = _ours(f.readline())
        except OSError:
            raise RecordingNotFound(file) from None
        if ours is None or ours.get("owner") != self.owner:
            raise RecordingNotFound(file)
        return path

    def open(self, file: str) -> IO[bytes]:
        """The recording ``file``, open for reading (bytes); see ``path`` for what is refused."""
        try:
            return self.path(file).open("rb")
        except OSError:
            raise RecordingNotFound(file) from None

    def delete(self, file: str) -> None:
        """Remove the recording ``file``; RecordingBusy while a session still writes it."""
        path = self.path(file)
        if any(r.path == path and not r.closed for r in list(self._writing)):
            raise RecordingBusy(file)
        try:
            path.unlink()
        except FileNotFoundError:
            raise RecordingNotFound(file) from None
        log.info("deleted the recording %s", path)


def _ours(line: bytes) -> dict[str, Any] | None:
    """What our server wrote in a recording's header (shell, owner, ...); None for a file that is not one."""
    header = asciicast.header(line)
    ours = header.get("cloudtty") if header is not None else None
    return ours if isinstance(ours, dict) else None


def _last_time(f: IO[bytes], size: int) -> float:
    """Seconds from a recording's start to its last event: read from the end of the file."""
    f.seek(max(size - TAIL_BYTES, 0))
    for line in reversed(f.read().split(b"\n")):
        event = asciicast.event(line)
        if event is not None:  # else cut where the tail starts, a server died mid-line, or the header
            return float(event[0])
    return 0.0


# --- the text of a recording, for the search ------------------------------------------------------

# One token of a terminal's output: an escape sequence (CSI with its final byte, OSC, DCS and its
# kin, any other), one control character, or a run of printable text.
_TOKEN = re.compile(
    r"""
    \x1b\[(?P<params>[0-?]*)[\x20-/]*(?P<final>[@-~])
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?
  | \x1b[\x20-/]*[0-~]?
  | (?P<control>[\x00-\x1f\x7f-\x9f])
  | (?P<text>[^\x00-\x1f\x7f-\x9f]+)
    """,
    re.VERBOSE,
)


def output_lines(text: str) -> list[str]:
    """Output as the lines a terminal showed: escapes dropped, a carriage return or backspace writes
    over what was there (readline's redraws, progress bars), erasing to the line's end followed."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    for token in _TOKEN.finditer(text):
        if token["text"] is not None:
            chunk = token["text"]
            line[column : column + len(chunk)] = chunk
            column += len(chunk)
        elif (control := token["control"]) is not None:
            if control == "\n":
                lines.append("".join(line).rstrip())
                line, column = [], 0
            elif control == "\r":
                column = 0
            elif control == "\b":
                column = max(column - 1, 0)
        elif token["final"] == "K":  # erase in line: to its end (0), its start (1), all of it (2)
            params = token["params"] or "0"
            if params == "0":
                del line[column:]
            elif params == "2":
                line, column = [" "] * column, column
    lines.append("".join(line).rstrip())
    return [line for line in lines if line.strip()]


def input_lines(text: str) -> list[str]:
    """What was typed, a line per Enter: escapes (arrow keys) dropped, a backspace takes a character back."""
    lines: list[str] = []
    line: list[str] = []
    for token in _TOKEN.finditer(text):
        if token["text"] is not None:
            line.extend(token["text"])
        elif (control := token["control"]) in ("\r", "\n"):
            lines.append("".join(line))
            line = []
        elif control in ("\x7f", "\b") and line:
            line.pop()
    lines.append("".join(line))
    return [line for line in lines if line.strip()]


def text_lines(path: Path) -> list[str]:
    """A recording's text: its output's lines, then what was typed (if input was recorded). A line that
    is not an event (the last one of a recording being written, say) is passed over."""
    output, typed = [], []
    with path.open(encoding="utf-8", errors="replace") as f:
        next(f, None)  # the header
        for line in f:
            event = asciicast.event(line)
            if event is None or not isinstance(event[2], str):
                continue
            code, data = event[1], event[2]
            if code == "o":
                output.append(data)
            elif code == "i":
                typed.append(data)
    return output_lines("".join(output)) + input_lines("".join(typed))


def search(path: Path, q: str) -> list[str]:
    """At most ``MAX_MATCHES`` lines of the recording that hold ``q`` (case-insensitive), each cut to
    ``MATCH_WIDTH`` characters around it; [] when none does (or the file cannot be read)."""
    needle = re.compile(re.escape(q), re.IGNORECASE)
    try:
        lines = text_lines(path)
    except (OSError, ValueError, IndexError, TypeError) as e:
        log.debug("cannot search %s: %s", path, e)
        return []
    matches = []
    for line in lines:
        found = needle.search(line)
        if found is None:
            continue
        at = found.start()
        start = max(0, min(at - (MATCH_WIDTH - len(q)) // 2, len(line) - MATCH_WIDTH))
        shown = line[start : start + MATCH_WIDTH].strip()
        matches.append(("…" if start > 0 else "") + shown + ("…" if start + MATCH_WIDTH < len(line) else ""))
        if len(matches) == MAX_MATCHES:
            break
    return matches
