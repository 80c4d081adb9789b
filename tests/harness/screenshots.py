"""The screenshots of docs/images/, made again from a real JupyterLab in Debian's Chromium.

    python -m tests.harness.screenshots [OUTDIR]     # docs/images/ by default

Six PNGs, each in JupyterLab's light and dark themes: ``panel-*`` (the Cluster shells side panel:
a shell open in a tab, one tailing a log, one ended), ``tab-*`` (a shell's terminal tab docked
to the right of a notebook) and ``widget-*`` (a notebook whose cell shows ``ShellTerminal``). The
server is the browser tests' (tests/harness/lab.py) with a home of its own, so the prompt, the files
and the names in the pictures are the same on every machine and say nothing of this one.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.harness.chromium import CHROMIUM, launch
from tests.harness.lab import (
    Lab,
    open_lab,
    open_notebook,
    terminal_state,
    type_in_terminal,
    wait_for_kernel,
    wait_for_state,
    wait_for_text,
)
from tests.harness.notebooks import LAYOUT_COLOR, WIDGET_BACKGROUND, notebook, run_cell, wait_for_widget_text
from tests.harness.shell_tabs import COLOR_OF, open_shell, shell_item, tab, use_theme

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTDIR = ROOT / "docs" / "images"
LOGS = ROOT / "tests" / "ui" / "output"  # where the browser tests' server logs go
VIEWPORT = {"width": 1280, "height": 720}
THEMES = ("light", "dark")  # tests/harness/shell_tabs.py's names, in the order they are shot
NAMES = [f"{shot}-{theme}.png" for shot in ("panel", "tab", "widget") for theme in THEMES]

# The shells' home is the Jupyter root: a short prompt, "~" where the notebooks are.
BASHRC = r"""PS1='\[\e[1;34m\]\w\[\e[0m\] \$ '
alias ls='ls --color=auto'
"""
PROMPT = r"^~ [#$] "
LOG = [
    "2025-01-14T09:41:02Z INFO  api: listening on :8080",
    "2025-01-14T09:41:05Z INFO  worker: queue ready (3 consumers)",
    "2025-01-14T09:41:17Z INFO  api: GET /healthz 200 0.4ms",
    "2025-01-14T09:42:03Z INFO  api: POST /v1/predict 200 38.1ms",
    "2025-01-14T09:42:04Z INFO  api: POST /v1/predict 200 35.7ms",
    "2025-01-14T09:42:31Z WARN  worker: batch 118 retried (timeout after 5s)",
    "2025-01-14T09:42:36Z INFO  worker: batch 118 done in 1.9s",
]
ANALYSIS = [
    (
        "markdown",
        "# Load test\nThe cells read the run's results; the shell on the right is one of the **Cluster shells**.",
    ),
    ("code", 'import csv\n\nwith open("data/runs.csv") as f:\n    runs = list(csv.DictReader(f))\nlen(runs)'),
    ("code", 'import statistics\n\nms = [float(run["ms"]) for run in runs]\nstatistics.median(ms)'),
]
SHELLS = {
    "work": {"commandAction": "bash", "ttlSecondsAfterStarted": 7200},  # in the tab beside the notebook
    "logs": {"commandAction": "tail -f logs/app.log"},  # runs on, not opened
    "debug": {"commandAction": "bash", "once": True},  # used, then left: ended
}
CHECKS = [
    (
        "code",
        "from jupyter_cloudtty import ShellTerminal\n\n"
        'term = ShellTerminal.new("checks", commandAction="bash", ttl=3600)\nterm',
    ),
    ("code", 'term.send("wc -l data/*.csv\\r")\nterm.wait_for(r"(\\d+) total$").group(1)'),
]


def make_home(root: Path) -> None:
    """What the shells and notebooks work on: a .bashrc, a log, some data, two notebooks."""
    (root / ".bashrc").write_text(BASHRC)
    (root / "logs").mkdir()
    (root / "logs" / "app.log").write_text("\n".join(LOG) + "\n")
    (root / "data").mkdir()
    runs = ["run,users,ms"] + [f"{i},{50 * (1 + i % 8)},{30 + (i * 37) % 23}.{i % 10}" for i in range(240)]
    (root / "data" / "runs.csv").write_text("\n".join(runs) + "\n")
    samples = ["id,text,label"] + [f"{i},sample {i},{i % 3}" for i in range(1200)]
    (root / "data" / "samples.csv").write_text("\n".join(samples) + "\n")
    (root / "load-test.ipynb").write_text(notebook(*ANALYSIS))
    (root / "data-checks.ipynb").write_text(notebook(*CHECKS))


def settled(page: Page) -> None:
    """Nothing half drawn: fonts loaded, no dialog, no splash screen."""
    page.evaluate("async () => { await document.fonts.ready; }")
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0)


def to_theme(page: Page, theme: str, terminals: list[str]) -> None:
    """JupyterLab's ``theme``, once the ``terminals`` have followed it."""
    use_theme(page, theme)
    background = page.evaluate(COLOR_OF, "var(--jp-layout-color0)")
    for name in terminals:
        wait_for_state(page, name, f"s.background && ({COLOR_OF})(s.background) === {json.dumps(background)}")


def panel_and_tab(page: Page, lab: Lab, outdir: Path) -> None:
    """The panel with three shells, and the one in front docked to the right of a notebook."""
    for name, spec in SHELLS.items():
        status, body = lab.api("POST", "shells", {"name": name, "spec": spec})
        assert status == 201, body
    open_lab(page, lab)
    use_theme(page, "light")

    # debug: used, then left (its tab closed).
    open_shell(page, "debug", PROMPT)
    type_in_terminal(page, "debug", "exit")
    expect(tab(page, "debug")).to_contain_text("ended")
    tab(page, "debug").locator(".lm-TabBar-tabCloseIcon").click()
    expect(tab(page, "debug")).to_have_count(0)

    # work: a few commands, then the notebook docked to its left.
    open_shell(page, "work", PROMPT)
    type_in_terminal(page, "work", "ls -l")
    wait_for_text(page, "work", r"logs$")
    type_in_terminal(page, "work", "head -4 data/runs.csv")
    wait_for_text(page, "work", r"^2,")
    options = {"mode": "split-left", "ref": terminal_state(page, "work")["widgetId"]}
    page.evaluate(
        "async (args) => { await window.jupyterapp.commands.execute('docmanager:open', args); }",
        {"path": "load-test.ipynb", "factory": "Notebook", "kernel": {"name": "python3"}, "options": options},
    )
    expect(page.locator(".jp-Notebook")).to_be_visible()
    wait_for_kernel(page)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    expect(page.locator(".jp-Notebook .jp-OutputArea-output")).to_have_count(2, timeout=60000)
    wait_for_kernel(page)
    save(page)
    settled(page)
    # The terminal in front, as the user left it: the panel marks its shell.
    page.locator('.jp-CloudTTY-terminal[data-shell-name="work"] .xterm').click()
    expect(shell_item(page, "work").locator('[aria-current="true"]')).to_have_count(1)

    for theme in THEMES:
        to_theme(page, theme, ["work"])
        settled(page)
        page.screenshot(path=outdir / f"tab-{theme}.png")
        page.screenshot(path=outdir / f"panel-{theme}.png", clip=panel_clip(page))


def panel_clip(page: Page) -> dict:
    """The side bar and its panel down to the last shell, with a little of the main area."""
    panel = page.locator("#jp-CloudTTY-panel").bounding_box()
    last = page.locator("#jp-CloudTTY-panel .jp-CloudTTY-shell").last.bounding_box()
    assert panel and last
    return {"x": 0, "y": 0, "width": panel["x"] + panel["width"] + 40, "height": last["y"] + last["height"] + 40}


def widget(page: Page, lab: Lab, outdir: Path) -> None:
    """A notebook whose cell shows a shell's terminal, typed into by the user and by the next cell."""
    open_notebook(page, lab, "data-checks.ipynb")
    use_theme(page, "light")
    page.evaluate("async () => { await window.jupyterapp.commands.execute('application:toggle-left-area'); }")
    expect(page.locator("#filebrowser")).to_be_hidden()
    run_cell(page, 0)
    terminal = page.locator(".jp-CloudTTY-notebook-terminal")
    expect(terminal.locator(".xterm-screen")).to_be_visible(timeout=60000)
    wait_for_widget_text(page, PROMPT)
    terminal.locator(".xterm").click()
    page.keyboard.type("du -sh data")
    page.keyboard.press("Enter")
    wait_for_widget_text(page, r"\sdata$")
    # The last cell run as Ctrl+Enter does: no new empty cell below it.
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    wait_for_widget_text(page, r"total$")
    expect(page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")).to_have_text("'1442'")
    wait_for_kernel(page)
    save(page)
    terminal.locator(".xterm").click()
    page.locator(".jp-Notebook .jp-Cell").first.evaluate("(cell) => cell.scrollIntoView({ block: 'start' })")
    for theme in THEMES:
        use_theme(page, theme)
        page.wait_for_function(f"() => ({WIDGET_BACKGROUND})() === ({LAYOUT_COLOR})()")
        settled(page)
        page.screenshot(path=outdir / f"widget-{theme}.png")


def save(page: Page) -> None:
    """Save the notebook in front, as Ctrl+S does (no unsaved-changes dot on its tab)."""
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty")).to_have_count(0)
    expect(page.locator("#jp-main-statusbar").get_by_text("Saving completed")).to_have_count(0, timeout=10000)


def make_screenshots(outdir: Path = DEFAULT_OUTDIR) -> list[Path]:
    """Start JupyterLab and Chromium, write the six PNGs into ``outdir``; returns their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cloudtty-screenshots-") as tmp, sync_playwright() as playwright:
        base = Path(tmp)
        LOGS.mkdir(exist_ok=True)
        lab = Lab(base, LOGS / "screenshots-jupyter-lab.log")
        make_home(lab.root)
        lab.env["HOME"] = str(lab.root)  # the shells' .bashrc, not this machine's
        lab.start()
        browser = launch(playwright)
        errors: list[str] = []
        try:
            for shoot in (panel_and_tab, widget):
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                shoot(page, lab, outdir)
                context.close()
        finally:
            browser.close()
            lab.stop()
        assert not errors, f"uncaught errors in the page: {errors}; see {lab.log}"
    return [outdir / name for name in NAMES]


def main(argv: list[str]) -> int:
    if len(argv) > 1 or argv and argv[0].startswith("-"):
        print("usage: python -m tests.harness.screenshots [OUTDIR]  (default: docs/images/)", file=sys.stderr)
        return 2
    outdir = Path(argv[0]) if argv else DEFAULT_OUTDIR
    if outdir.exists() and not outdir.is_dir():
        print(f"{outdir} is not a directory", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"Debian's Chromium is required ({CHROMIUM}): apt-get install chromium", file=sys.stderr)
        return 1
    for path in make_screenshots(outdir):
        print(f"{path} ({path.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
