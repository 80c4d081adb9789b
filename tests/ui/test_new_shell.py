"""A new shell's first prompt comes no later than in JupyterLab's own terminal, on the same server.

Both kinds of terminal run the same shell, one whose start takes half a second, as a login shell's
profile does (pyenv, conda, nvm): `bash --rcfile` with a `sleep`. Each kind is opened the way the user
does (the panel's **New shell** command, *File > New > Terminal*'s) and timed to its prompt in the page
(tests/harness/new_terminals.py; `python -m bench.newshell` is the same measurement with the user's
own login shell).

Why a median against JupyterLab's with a margin, and that margin: on a loaded 2-core machine both
kinds slow down together, and taken in turns they share the load. JupyterLab starts its shell when
the terminal is created, so its prompt comes after max(the browser opening the tab, the shell's start).
A local shell that started only once its tab's WebSocket had connected (as before issue 22) came after
their sum: ~120 ms later here (648 against 527 ms), where starting it with the shell gives 532 against
526. The margin, 60 ms, is half that difference. That the process starts before any client connects
is asserted without timing in tests/test_local_backend.py.
"""

from __future__ import annotations

import statistics
from typing import Iterator

import pytest
from playwright.sync_api import Page

from tests.harness.lab import Lab, open_lab
from tests.harness.new_terminals import KINDS, lab_with_shell, time_to_prompt

RUNS = 5
MARGIN_MS = 60
SLOW_START = "sleep 0.5\nPS1='slow\\$ '\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, output_dir) -> Iterator[Lab]:
    """A Lab whose local shells and JupyterLab terminals both run the slow-starting shell."""
    base = tmp_path_factory.mktemp("lab")
    rc = base / "slow-start.bashrc"
    rc.write_text(SLOW_START)
    log = output_dir / "test_new_shell-jupyter-lab.log"
    log.unlink(missing_ok=True)
    server = lab_with_shell(base, log, ["bash", "--rcfile", str(rc), "-i"]).start()
    yield server
    server.stop()


def test_a_new_shell_shows_its_prompt_no_later_than_jupyterlabs_terminal(page: Page, lab: Lab) -> None:
    open_lab(page, lab)
    for kind in KINDS:  # each kind's first terminal loads its xterm.js: not what is compared
        time_to_prompt(page, lab, kind)
    samples: dict[str, list[list[float | None]]] = {kind: [] for kind in KINDS}
    for run in range(RUNS):
        for kind in KINDS if run % 2 == 0 else KINDS[::-1]:
            samples[kind].append(time_to_prompt(page, lab, kind))

    shown = {kind: statistics.median(s[-1] for s in samples[kind]) for kind in KINDS}
    print(f"\nNew terminal -> prompt (median of {RUNS}, ms): local shell {shown['cloudtty']:.0f}, "
          f"JupyterLab's terminal {shown['jupyterlab']:.0f}; REST create and prompt of each run, by kind:")  # fmt: skip
    for kind in KINDS:
        print(f"  {kind}: " + ", ".join(f"{s[0]:.0f}/{s[-1]:.0f}" for s in samples[kind] if s[0] is not None))
    assert shown["cloudtty"] <= shown["jupyterlab"] + MARGIN_MS, (
        f"a new shell's prompt came {shown['cloudtty'] - shown['jupyterlab']:.0f} ms after JupyterLab's terminal's"
    )
