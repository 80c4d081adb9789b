"""The Jupyter side of one trzsz transfer, as a process of its own: ``python -m jupyter_cloudtty.server.trzsz_peer``.

trzsz's own protocol code (PyPI's trzsz-libs) talks through process-wide state: the terminal's output on
stdin, what it types on stdout, a signal handler for its timeouts. So each transfer runs it in a fresh
process, as trzsz's iTerm2 client does, and the server (server/transfers.py) pipes a terminal's output
into this process's stdin and its stdout into the terminal's input. Progress and the outcome are JSON
lines on stderr, one object each: ``{"event": "name"|"size"|"step"|"received"|"last"|"done"|"error",
...}`` (``last``: its last frame follows; ``error`` carries the HTTP ``status`` the server answers).

    upload FILE...          answer a ``trz`` in the shell: send these files (``--directory``: and folders)
    download --dest DIR     answer a ``tsz`` in the shell: receive its files into DIR (a fresh folder the
                            server made; the server moves them to their names once whole)

Both take ``--max-bytes N`` (the administrator's cap on one transfer). A download never writes outside
DIR: a name from the shell that would (``../x``, an absolute path, a link out) fails the transfer.
A byte on (or the end of) ``--control-fd`` stops a transfer: the shell's side is told "Stopped and
deleted", so trz removes what it began, and a download removes what it wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

from trzsz.libs import transfer, utils

from .paths import inside

VERSION = "1.1.7"  # the trzsz protocol release we speak (trz/tsz check only their major version)
STOPPED = "Stopped and deleted"  # what makes trz/tsz delete the files it created


def report(event: str, **fields: Any) -> None:
    sys.stderr.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stderr.flush()


class OverCap(utils.TrzszError):
    """A file that would take the transfer past the administrator's cap (HTTP 413)."""

    def __init__(self, message: str):
        super().__init__(message, trace=False)


class Progress(utils.TrzszCallback):
    """trzsz's callbacks as JSON lines, and the cap on the bytes of the whole transfer."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.done_bytes = 0  # of the files finished
        self.file_bytes = 0
        self.name = ""

    def on_num(self, num: int) -> None:
        pass

    def on_name(self, name: str) -> None:
        self.name = name
        self.file_bytes = 0
        report("name", name=name)

    def on_size(self, size: int) -> None:
        if self.max_bytes and self.done_bytes + size > self.max_bytes:
            raise OverCap(f"{self.name} is {size} bytes: over this server's limit of {self.max_bytes} bytes a transfer")
        report("size", name=self.name, size=size)

    def on_step(self, step: int) -> None:
        self.file_bytes = step
        report("step", name=self.name, bytes=self.done_bytes + step)

    def on_done(self) -> None:
        self.done_bytes += self.file_bytes
        self.file_bytes = 0


def confine(folder: str) -> None:
    """Refuse any file or folder trzsz would create outside ``folder``: the names come from the shell,
    and a shell is not trusted to name files of the Jupyter server."""
    root = os.path.realpath(folder)
    create_file, create_directory = transfer.do_create_file, transfer.do_create_directory

    def checked(create: Any) -> Any:
        def create_inside(path: str) -> Any:
            if not inside(root, os.path.realpath(path)):
                raise utils.TrzszError(f"refused a file name from the shell that leads outside: {path}", trace=False)
            return create(path)

        return create_inside

    transfer.do_create_file = checked(create_file)
    transfer.do_create_directory = checked(create_directory)


def upload(files: list[str], progress: Progress, directory: bool = False) -> list[str]:
    file_list = utils.check_paths_readable(files, directory)
    total = sum(os.path.getsize(file["abs_path"]) for file in file_list if not file["is_dir"])
    if progress.max_bytes and total > progress.max_bytes:
        raise OverCap(f"{total} bytes: over this server's limit of {progress.max_bytes} bytes a transfer")
    transfer.send_action(True, VERSION, False)
    config = transfer.recv_config()
    if config.overwrite:
        utils.check_duplicate_names(file_list)
    return transfer.send_files(file_list, progress)


def download(dest: str, progress: Progress) -> list[str]:
    utils.check_path_writable(dest)
    confine(dest)
    transfer.send_action(True, VERSION, False)
    transfer.recv_config()
    return transfer.recv_files(dest, progress)


def last_words(names: list[str], answer_fd: int | None) -> str:
    """What trz/tsz prints as the transfer's end. tsz prints ours: with ``--answer-fd`` the server says it
    (where the files went under which names, once it has moved them), after our ``received`` report."""
    if answer_fd is None:
        return utils.format_saved_files(names, "")
    report("received", names=names)
    with os.fdopen(answer_fd, "r", encoding="utf-8") as answer:
        return json.loads(answer.readline() or '""') or utils.format_saved_files(names, "")


STOP = threading.Event()


DEFAULT_ESCAPES = [["\xee", "\xee\xee"], ["\x7e", "\xee\x31"]]  # what trz -b asks for (utils.get_escape_chars)


def escape_quickly() -> None:
    """trzsz escapes an upload's bytes with ``re.sub`` and a Python call per match: 33 MB/s, most of the
    peer's time (bench/transfers.py). For the escapes trz -b asks for, two ``bytes.replace`` give the
    same bytes (the escape byte doubled first, so no escape made by the second is doubled) at ten times
    that; any other table goes to trzsz's own."""
    own = utils.escape_data

    def escape_data(data: bytes, escape_chars: list[list[str]]) -> bytes:
        if escape_chars != DEFAULT_ESCAPES:
            return own(data, escape_chars)
        return data.replace(b"\xee", b"\xee\xee").replace(b"\x7e", b"\xee\x31")

    utils.escape_data = escape_data


def stop_when_told(control_fd: int) -> None:
    """Stop between two data frames once the server writes to (or closes) ``control_fd``.

    Not by a signal, and not by trzsz's own ``stopped`` flag: both end the transfer in the middle of an
    exchange. A signal cut a binary data frame short; the flag raises before the acknowledgement of the
    frame in flight is read. Either way our "Stopped" reached the shell's side glued to the frame before
    it, and trz read it as file data (its read of a frame takes all that has arrived) and waited for the
    rest until its timeout, keeping what it began. So the stop waits until the exchange in flight is
    over: before sending the next frame, or before acknowledging the one received."""

    def watch() -> None:
        try:
            os.read(control_fd, 1)
        except OSError:
            pass
        STOP.set()

    threading.Thread(target=watch, daemon=True).start()
    send_data, recv_data = utils.send_data, utils.recv_data

    def send_unless_stopped(data: bytes) -> None:
        if STOP.is_set():
            raise utils.TrzszError("Stopped", trace=False)
        send_data(data)

    def recv_unless_stopped() -> bytes:
        data = recv_data()
        if STOP.is_set():
            raise utils.TrzszError("Stopped", trace=False)
        return data

    utils.send_data, utils.recv_data = send_unless_stopped, recv_unless_stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_cloudtty.server.trzsz_peer")
    parser.add_argument("direction", choices=["upload", "download"])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--dest")
    parser.add_argument("--max-bytes", type=int, default=0)
    parser.add_argument("--directory", action="store_true", help="upload: folders too (the shell ran trz -d)")
    parser.add_argument("--answer-fd", type=int, help="download: read the closing message from this fd")
    parser.add_argument("--control-fd", type=int, help="stop the transfer when this fd is written to or closed")
    args = parser.parse_args(argv)
    escape_quickly()
    if args.control_fd is not None:
        stop_when_told(args.control_fd)
    utils.GLOBAL.trzsz_io.start_stdin_reader()
    progress = Progress(args.max_bytes)
    try:
        if args.direction == "upload":
            names = upload(args.files, progress, args.directory)
            message = utils.format_saved_files(names, "")
        else:
            names = download(args.dest, progress)
            message = last_words(names, args.answer_fd)
        report("last")
        transfer.client_exit(message)
    except BaseException as e:  # noqa: BLE001 - every end must reach the shell's side, or trz/tsz waits
        # Stopped: by the server (a cancel; or its input closed after one, EndOfInput) or by trzsz's SIGTERM.
        stopped = STOP.is_set() or (isinstance(e, utils.TrzszError) and str(e) in ("Stopped", "Terminated"))
        # What the user reads: the error's own words, never a traceback.
        message = STOPPED if stopped else (str(e) or type(e).__name__)
        if args.direction == "download":
            utils.delete_created_files()
        # Tell the shell's side, unless it ended the transfer itself. Not with trzsz's client_error: it first
        # drains stdin with a select and a blocking read that races trzsz's own stdin reader thread, and
        # the loser blocks for good while trz/tsz waits for this very answer.
        remote_ended = isinstance(e, utils.TrzszError) and (e.is_remote_exit() or e.is_remote_fail())
        report("last")
        if not remote_ended:
            try:
                utils.send_string("fail", message)
            except Exception:  # noqa: BLE001 - the terminal may be gone; the report below is what counts
                pass
        status = 499 if stopped else 413 if isinstance(e, OverCap) else 422
        report("error", status=status, message="cancelled" if stopped else message)
        return 1
    report("done", names=names, bytes=progress.done_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
