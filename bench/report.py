"""What a benchmark prints and hands on: tables, and the headline figures of `python -m bench`'s summary.

Each script prints its own tables (Markdown, so they paste into docs/performance.md) and, with ``--json FILE``,
writes its headline figures there for the summary table. Nothing here times or asserts anything.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path


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


def write_figures(path: str | None, figures: list[Figure]) -> None:
    if path:
        Path(path).write_text(json.dumps([asdict(f) for f in figures]))


def read_figures(path: Path) -> list[Figure]:
    return [Figure(**f) for f in json.loads(path.read_text())] if path.exists() else []


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """(p50, p90, p99) of the samples."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9)], ordered[int(len(ordered) * 0.99)]
