"""A new shell's first prompt in a real browser: the panel's local shell against JupyterLab's own terminal.

    python -m bench.newshell [--runs 5] [--shell "bash --rcfile RC -i"] [--json FILE]

Starts `jupyter lab` with the extension (tests/harness/lab.py) and opens it in Debian's Chromium
(Playwright). Both terminals run the server's default shell, the user's login shell as each runs it
when the server has no terminal (``$SHELL -l``: its profile is sourced), unless ``--shell`` gives
both another command. Timed in the page, the same way for both: from running the command that the
panel's **New shell** button and *File > New > Terminal* run (``cloudtty:new``,
``terminal:create-new``) until the terminal's cursor line shows a prompt (text ending in ``$``,
``#``, ``%`` or ``>`` with the cursor after it), checked at every frame.

Two series, taken in turns: the first terminal of each kind in a page just loaded (its xterm.js is
loaded then), and further ones in the same page (tests/harness/new_terminals.py times each). For
each, where the time goes: the REST create, the terminal's WebSocket made, opened, its first frame (a
wrapper around the page's ``WebSocket`` notes the times), the prompt shown. Prints tables; asserts
nothing.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from playwright.sync_api import Browser, Page, sync_playwright

from bench.report import Figure, Table, write_figures
from tests.harness.chromium import launch
from tests.harness.lab import Lab, open_lab
from tests.harness.new_terminals import KINDS, SOCKET_LOG, STEPS, lab_with_shell, time_to_prompt

LABELS = {"cloudtty": "Cluster shells: local shell", "jupyterlab": "JupyterLab terminal (terminado)"}


@dataclass
class Series:
    """Samples of one kind in one series: each a list of STEPS' times (ms after the command)."""

    samples: dict[str, list[list[float | None]]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def median(self, kind: str, step: int = -1) -> float | None:
        values = [sample[step] for sample in self.samples[kind] if sample[step] is not None]
        return statistics.median(values) if values else None


@contextmanager
def fresh_page(browser: Browser, lab: Lab) -> Iterator[Page]:
    """A page of its own (no cache, no module loaded yet) with JupyterLab loaded."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(SOCKET_LOG)
    try:
        page = context.new_page()
        open_lab(page, lab)
        yield page
    finally:
        context.close()


def measure(lab: Lab, runs: int) -> tuple[Series, Series]:
    """(first terminal of a page, further terminals in one page), ``runs`` of each kind, in turns."""
    first, again = Series(), Series()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for run in range(runs):
                order = KINDS if run % 2 == 0 else KINDS[::-1]
                for kind in order:
                    with fresh_page(browser, lab) as page:
                        first.samples[kind].append(time_to_prompt(page, lab, kind))
            with fresh_page(browser, lab) as page:
                for kind in KINDS:  # each kind's first terminal loads its xterm.js: not counted here
                    time_to_prompt(page, lab, kind)
                for run in range(runs):
                    for kind in KINDS if run % 2 == 0 else KINDS[::-1]:
                        again.samples[kind].append(time_to_prompt(page, lab, kind))
        finally:
            browser.close()
    return first, again


def table(title: str, series: Series) -> Table:
    result = Table(title, ["terminal", *(f"{step} (ms)" for step in STEPS)])
    for kind in KINDS:
        cells = [series.median(kind, i) for i in range(len(STEPS))]
        result.add(LABELS[kind], *("-" if c is None else f"{c:.0f}" for c in cells))
    each = {kind: ", ".join(f"{s[-1]:.0f}" for s in series.samples[kind]) for kind in KINDS}
    result.notes.append("medians; each run's prompt (ms): " + "; ".join(f"{LABELS[k]} {each[k]}" for k in KINDS))
    return result


def main(runs: int, shell: list[str] | None, json_path: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lab = lab_with_shell(Path(tmp), Path(tmp) / "jupyter-lab.log", shell).start()
        try:
            first, again = measure(lab, runs)
        finally:
            lab.stop()
    what = " ".join(shell) if shell else "the server's default: the login shell"
    tables = [
        table(f"New terminal -> first prompt, the first in a page just loaded ({runs} runs; shell: {what})", first),
        table(f"New terminal -> first prompt, another in the same page ({runs} runs; shell: {what})", again),
    ]
    for t in tables:
        t.print()
    figures = []
    for label, series in [("first in a page", first), ("same page", again)]:
        ours, theirs = series.median("cloudtty"), series.median("jupyterlab")
        assert ours is not None and theirs is not None
        # Medians of 5 taken in turns still differ by tens of ms on a loaded machine: 10% is "no slower".
        figures.append(
            Figure("newshell", f"new shell -> prompt, {label}: local shell vs JupyterLab terminal (median)",
                   f"{ours:.0f} vs {theirs:.0f} ms", "≤ JupyterLab's (+10%)", ours <= theirs * 1.1)
        )  # fmt: skip
    write_figures(json_path, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="terminals of each kind per series (default 5)")
    parser.add_argument("--shell", help="a command line both terminals run (default: the server's login shell)")
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    args = parser.parse_args()
    main(args.runs, shlex.split(args.shell) if args.shell else None, args.json)
