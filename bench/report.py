"""What a benchmark prints and hands on: tables, and the headline figures of `python -m bench`'s summary;
and the command line every benchmark shares.

Each script prints its own tables (Markdown, so they paste into docs/performance.md) and, with ``--json FILE``,
writes its headline figures there for the summary table. Nothing here times or asserts anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Coroutine


@dataclass
class Table:
    """A titled table; ``notes`` are printed under it."""

    title: str
    header: list[str]
    rows: list[list[object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append(list(cells))

    def render(self) -> str:
        cells = [self.header] + [[cell_text(c) for c in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.header))]

        def line(row: list[str]) -> str:
            return "| " + " | ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) + " |"

        lines = [f"\n{self.title}\n", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        lines += [line(row) for row in cells[1:]]
        return "\n".join(lines + [""] + self.notes)

    def print(self) -> None:
        print(self.render(), flush=True)


def cell_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


@dataclass
class Figure:
    """One line of the summary: a measured value, and the goal it is held against (if any)."""

    benchmark: str
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: no goal

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: ""}[self.met]

    @property
    def note(self) -> str:
        """The figure as a line under a table: its value, and its goal and verdict where it has one."""
        return f"{self.figure}: {self.value}" + (f" (goal {self.goal}: {self.verdict})" if self.goal else "")


def load_note(load: float) -> str:
    """What the run shared the machine with: the load average at its start (``load``) and now, the cores."""
    return f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; {os.cpu_count()} cores"


def write_figures(path: str | None, figures: list[Figure]) -> None:
    if path:
        Path(path).write_text(json.dumps([asdict(f) for f in figures]))


def finish(path: str | None, figures: list[Figure], *tables: Table) -> None:
    """A benchmark's end: its tables printed, its headline figures written to ``path`` (its ``--json``)."""
    for table in tables:
        table.print()
    write_figures(path, figures)


def read_figures(path: Path) -> list[Figure]:
    return [Figure(**f) for f in json.loads(path.read_text())] if path.exists() else []


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """(p50, p90, p99) of the samples."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9)], ordered[int(len(ordered) * 0.99)]


def command_line(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line, described by the first paragraph of its module's docstring (``doc``)."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0])


def terminal_options(parser: argparse.ArgumentParser, size_mb: float, keystrokes: int, rounds: int) -> None:
    """The options of a benchmark of terminal paths, with their defaults: the MB of output each path cats,
    the keystrokes it times, and how many turns the paths take."""
    parser.add_argument(
        "--size-mb", type=float, default=size_mb, help=f"MB of output each path cats (default {size_mb:g})"
    )
    parser.add_argument("--keystrokes", type=int, default=keystrokes,
                        help=f"keystrokes timed per path and round (default {keystrokes})")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=rounds, help=f"turns each path takes (default {rounds})")


def run(
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, None]], parser: argparse.ArgumentParser, pin: bool = False
) -> None:
    """Run a benchmark's ``main`` with the options ``parser`` reads, and those every benchmark ends with:
    ``--no-pin`` where it places its processes (``pin``: bench/relay.py's Placement), and ``--json``, where
    `python -m bench` has it write its headline figures."""
    if pin:
        parser.add_argument("--no-pin", dest="pin", action="store_false",
                            help="leave placement to the scheduler (see the module's docstring)")  # fmt: skip
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    asyncio.run(main(parser.parse_args()))
