"""Notebooks as a user's files, and the terminal widget (`jupyter_cloudtty.ShellTerminal`) as a notebook's
page shows it: its text, its colours, and running a cell as a user does (Playwright)."""

from __future__ import annotations

import json

from playwright.sync_api import Page


def notebook(*cells: str | tuple[str, str]) -> str:
    """An .ipynb for Python 3 of these cells: a source is a code cell, a (kind, source) pair any kind."""

    def cell(kind: str, source: str) -> dict:
        more = {"execution_count": None, "outputs": []} if kind == "code" else {}
        return {"cell_type": kind, "metadata": {}, "source": source, **more}

    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    made = [cell(*c) if isinstance(c, tuple) else cell("code", c) for c in cells]
    return json.dumps({"cells": made, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5})


def run_cell(page: Page, index: int) -> None:
    """Click into the cell's editor and press Shift+Enter, as a user runs a cell."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


# The terminal of the first ShellTerminal in the notebook: Lumino widgets, from the main area down.
_FIND = """
() => {
  const walk = (widget) => {
    if (widget.shellName !== undefined && widget.terminal !== undefined
        && widget.node.closest('.jp-CloudTTY-notebook-terminal')) { return widget; }
    for (const child of widget.children()) { const found = walk(child); if (found) { return found; } }
    return null;
  };
  for (const widget of window.jupyterapp.shell.widgets('main')) {
    const found = walk(widget);
    if (found) { return found; }
  }
  return null;
}
"""
WIDGET_TEXT = f"""
() => {{
  const term = ({_FIND})();
  if (!term || !term.terminal) {{ return null; }}
  const buffer = term.terminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) {{
    const line = buffer.getLine(i);
    if (line.isWrapped && lines.length) {{ lines[lines.length - 1] += line.translateToString(true); }}
    else {{ lines.push(line.translateToString(true)); }}
  }}
  return lines.join('\\n');
}}
"""
WIDGET_BACKGROUND = f"() => {{ const t = ({_FIND})(); return t && t.terminal && t.terminal.options.theme.background; }}"
LAYOUT_COLOR = "() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim()"


def wait_for_widget_text(page: Page, pattern: str, timeout: float = 20000) -> str:
    """Wait until the widget's xterm.js buffer matches the regular expression; returns the buffer."""
    page.wait_for_function(
        f"(pattern) => {{ const t = ({WIDGET_TEXT})(); return t !== null && new RegExp(pattern, 'm').test(t); }}",
        arg=pattern,
        timeout=timeout,
    )
    return page.evaluate(WIDGET_TEXT)
