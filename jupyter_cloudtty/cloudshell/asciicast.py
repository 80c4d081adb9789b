"""A terminal recording's format, asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/, what our
server writes: cloudshell/recording.py) and v3 (asciinema 3's), as every reader of ours takes it apart (pure).

A JSON object on the first line, the header (the terminal's size, a title, ours under ``cloudtty``), then one
JSON array per event, ``[time, code, data]``: v2's times count from the start, v3's from the event before,
and v3 allows ``#`` comment lines. The readers differ in what a bad line means: the replay refuses the file
(``parse``), the list and the search pass the line over (``header``, ``event``: the last line of a
recording being written may be cut short).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERSIONS = (2, 3)


class NotACast(ValueError):
    """Text that is not a whole recording; ``str()`` says what is wrong, and where, in a few words."""


class NoHeader(NotACast):
    """Not a recording at all: its first line is not an asciicast v2 or v3 header."""


@dataclass(frozen=True)
class Cast:
    """A recording taken apart: its header and events, and what they say."""

    header: dict[str, Any]
    events: list[list[Any]]
    columns: int
    rows: int
    title: str  # the header's (ours: the shell's name), or ""
    duration: float  # seconds from the start to the last event


def header(line: str | bytes) -> dict[str, Any] | None:
    """A first line as a recording's header (a JSON object of asciicast v2 or v3); None when it is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("version") in VERSIONS else None


def event(line: str | bytes) -> list[Any] | None:
    """A line as an event, ``[time, code, data, ...]`` with a number of seconds; None for a line that is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], (int, float)) else None


def terminal_size(header: dict[str, Any]) -> tuple[int, int] | None:
    """(columns, rows) of the recorded terminal, None when the header does not say."""
    if header.get("version") == 2:
        size = header.get("width"), header.get("height")
    else:
        term = header.get("term") if isinstance(header.get("term"), dict) else {}
        size = term.get("cols"), term.get("rows")
    return size if all(isinstance(n, int) and n > 0 for n in size) else None


def parse(text: str) -> Cast:
    """A recording's text; ``NoHeader`` or ``NotACast`` saying what is wrong, and where, when it is not one."""
    # Lines end at "\n" only: an event's text may hold U+2028 or U+0085 as they are (our writer does not
    # escape them), which str.splitlines() would take for line ends.
    lines = text.split("\n")
    first = header(lines[0])
    if first is None:
        raise NoHeader("no asciicast v2 or v3 header on its first line")
    size = terminal_size(first)
    if size is None:
        raise NotACast("its header has no terminal size")
    events, duration = [], 0.0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or (first["version"] == 3 and line.startswith("#")):
            continue
        found = event(line)
        if found is None:
            raise NotACast(f"line {number} is not an event ([time, code, data])")
        events.append(found)
        # v2 times count from the start; v3 times are intervals from the previous event.
        duration = float(found[0]) if first["version"] == 2 else duration + float(found[0])
    title = first.get("title") if isinstance(first.get("title"), str) else ""
    return Cast(first, events, *size, title, duration)
