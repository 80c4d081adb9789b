"""A real IPython shell for magics tests (IPython's own testing shell), and what a cell shows."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from IPython.utils.capture import CapturedIO, capture_output


def shell() -> Any:
    """IPython's test shell with the extension loaded; rich output on, as in a notebook's kernel."""
    from IPython.testing.globalipapp import get_ipython, start_ipython

    ip = start_ipython() or get_ipython()  # one per process: the second call finds the first
    ip.display_formatter.active_types = ["text/plain", "text/html"]
    ip.run_line_magic("load_ext", "jupyter_cloudtty")
    return ip


@dataclass
class Cell:
    """What running a cell showed: its value (and that value's mime bundle), streams, displays, error."""

    value: Any
    bundle: dict[str, str]
    stdout: str
    stderr: str
    displays: list[dict[str, str]] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def text(self) -> str:
        return self.bundle.get("text/plain", "")

    @property
    def html(self) -> str:
        return self.bundle.get("text/html", "")


def run_cell(ip: Any, code: str, during: Callable[[CapturedIO], None] | None = None) -> Cell:
    """Run ``code`` as a cell; ``during`` runs in a thread meanwhile, with the live captured output."""
    with capture_output() as captured:
        helper = threading.Thread(target=during, args=(captured,), daemon=True) if during else None
        if helper:
            helper.start()
        result = ip.run_cell(code, store_history=False)
        if helper:
            helper.join(30)
    value = result.result
    bundle = ip.display_formatter.format(value)[0] if value is not None else {}
    return Cell(
        value,
        bundle,
        captured.stdout,
        captured.stderr,
        [output.data for output in captured.outputs],
        result.error_in_exec or result.error_before_exec,
    )


def text_rows(text: str) -> list[dict[str, str]]:
    """Read an aligned text table back by its header's column positions (cells may hold spaces, and so
    may names: kubectl's ``NOMINATED NODE``; columns are apart by two spaces or more)."""
    import re

    header, *lines = text.splitlines()
    found = list(re.finditer(r"\S+(?: \S+)*", header))
    starts, names = [m.start() for m in found], [m.group() for m in found]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [{name: line[a:b].strip() for name, (a, b) in zip(names, bounds, strict=True)} for line in lines]
