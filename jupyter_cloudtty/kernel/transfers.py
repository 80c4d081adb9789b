"""``%cloudtty cp``: files between the kernel's side and a shell, through the server's transfers route.

The server moves the bytes (trzsz through the shell's terminal, server/transfers.py); the kernel names
what to move and shows the progress the server streams back (NDJSON lines). Paths on the kernel's side
are resolved against the kernel's working directory and must lie inside the Jupyter server's root,
which the server checks (a kernel elsewhere than its server gets the server's message saying so).

    copy(client, "data.csv", "shell-1:/tmp/")      upload into a folder of the shell (its current one when empty)
    copy(client, "shell-1:/tmp/out.yaml", "out/")  download into a folder, or to a file name
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

from jupyter_cloudtty.cloudshell.sizes import size_text

from .server_client import API, CloudTTYClient, ServerError, _message

REMOTE = re.compile(r"(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?):(?P<path>.*)", re.ASCII | re.DOTALL)
TIMEOUT = 120.0  # seconds without a byte from the server (progress comes at least per chunk of a file)
USAGE = "%cloudtty cp LOCAL NAME:PATH (upload) or %cloudtty cp NAME:PATH LOCAL (download)"


@dataclass(frozen=True)
class Copy:
    """A checked ``cp``: the shell, the direction and the REST body."""

    shell: str
    direction: str
    body: dict[str, Any]


def remote(arg: str) -> tuple[str, str] | None:
    """``NAME:PATH`` as (name, path); None for a local path (write ``./a:b`` for a local name with a colon)."""
    match = REMOTE.fullmatch(arg)
    return (match["name"], match["path"]) if match else None


def parse(source: str, dest: str, cwd: str | None = None) -> Copy:
    """The REST request for ``cp SOURCE DEST``; ``ValueError`` with the usage when neither or both are remote."""
    cwd = cwd or os.getcwd()
    src, dst = remote(source), remote(dest)
    if (src is None) == (dst is None):
        raise ValueError(f"one side must be a shell's NAME:PATH and the other a local path: {USAGE}")
    if dst is not None:
        name, folder = dst
        local = os.path.join(cwd, os.path.expanduser(source))
        return Copy(name, "upload", {"direction": "upload", "paths": [local], "to": folder})
    assert src is not None
    name, path = src
    if not path:
        raise ValueError(f"{source}: which file of the shell? {USAGE}")
    local = os.path.join(cwd, os.path.expanduser(dest))
    body: dict[str, Any] = {"direction": "download", "remote": [path], "overwrite": True}
    if os.path.isdir(local) or dest.endswith("/"):
        body["to"] = local
    else:
        body["to"], body["as"] = os.path.dirname(local) or cwd, os.path.basename(local)
    return Copy(name, "download", body)


Progress = Callable[[dict[str, Any]], None]


def run(client: CloudTTYClient, plan: Copy, progress: Progress | None = None) -> dict[str, Any]:
    """POST the transfer and follow its NDJSON stream to its last line: ``done``'s fields, or ``ServerError``."""
    server = client.server
    path = f"{API}/shells/{urllib.parse.quote(plan.shell, safe='')}/transfers"
    headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson"}
    if server.token:
        headers["Authorization"] = f"token {server.token}"
    request = urllib.request.Request(server.url_for(path), json.dumps(plan.body).encode(), headers, method="POST")
    last: dict[str, Any] = {}
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            for line in response:
                if not line.strip():
                    continue
                last = json.loads(line)
                if progress is not None and last.get("event") in ("start", "progress"):
                    progress(last)
    except urllib.error.HTTPError as e:
        raise ServerError(_message(e), e.code) from None
    except (urllib.error.URLError, OSError) as e:
        raise ServerError(f"the transfer stopped: {getattr(e, 'reason', e)}") from None
    if last.get("event") == "error":
        raise ServerError(last.get("message") or "the transfer failed", last.get("status"))
    if last.get("event") != "done":
        raise ServerError("the server ended the transfer without a result")
    return last


class Bar:
    """A progress bar in the cell's output (ipywidgets), or a line of text where widgets cannot show."""

    def __init__(self, label: str):
        self.label = label
        self._widget: Any = None
        self._shown = 0.0
        try:
            import ipywidgets
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None and getattr(get_ipython(), "kernel", None) is not None:
                self._bar = ipywidgets.FloatProgress(value=0, min=0, max=1, description=label[:20])
                self._text = ipywidgets.Label("")
                self._widget = ipywidgets.HBox([self._bar, self._text])
                display(self._widget)
        except ImportError:
            self._widget = None

    def update(self, event: dict[str, Any]) -> None:
        done, total = event.get("bytes", 0), event.get("total")
        text = f"{size_text(done)}" + (f" of {size_text(total)}" if total else "")
        if self._widget is not None:
            self._bar.value = done / total if total else 0
            self._text.value = text
        elif time.monotonic() - self._shown > 1:
            self._shown = time.monotonic()
            print(f"\r{self.label}: {text}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._widget is not None:
            self._widget.close()


def copy(client: CloudTTYClient, source: str, dest: str) -> dict[str, Any]:
    """``%cloudtty cp SOURCE DEST``: run it with a progress bar, print one line, and return the result (files
    with size and SHA-256). ``ValueError`` for arguments that name no shell, ``ServerError`` for a refusal."""
    plan = parse(source, dest)
    bar = Bar(f"{plan.direction} {source}")
    try:
        result = run(client, plan, bar.update)
    finally:
        bar.close()
    print(summary(plan.direction, plan.shell, result))
    return result


def summary(plan_direction: str, shell: str, result: dict[str, Any]) -> str:
    """One line for the cell: what went where, how big, how fast."""
    files = result.get("files") or []
    names = ", ".join(file.get("path") or file.get("name", "") for file in files)
    seconds = result.get("seconds") or 0
    rate = f", {size_text(result.get('bytes', 0) / seconds)}/s" if seconds else ""
    where = f"to {shell}" if plan_direction == "upload" else f"from {shell}"
    return f"copied {names} {where} ({size_text(result.get('bytes', 0))}{rate})"
