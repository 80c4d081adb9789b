"""A user's whole story with the Cluster shells panel, in a real JupyterLab and a real browser.

Open the panel, create a local shell, type in it, resize it, switch JupyterLab to the dark
theme, close and reopen its tab (the scrollback is still there), delete it.
"""

from __future__ import annotations

import io
import json
import re

from PIL import Image, ImageStat
from playwright.sync_api import Page, expect

from tests.harness.lab import (
    Lab,
    open_lab,
    open_panel,
    terminal_state,
    terminal_text,
    type_in_terminal,
    wait_for_state,
    wait_for_text,
)

PROMPT = r"^bash-[\d.]+[#$] "


def stty_size(page: Page, name: str, marker: str) -> tuple[int, int]:
    """Run `stty size` and read its answer (rows, columns) from the terminal."""
    type_in_terminal(page, name, f"echo {marker} $(stty size)")
    text = wait_for_text(page, name, rf"^{marker} \d+ \d+$")
    rows, cols = re.findall(rf"^{marker} (\d+) (\d+)$", text, re.M)[-1]
    return int(rows), int(cols)


def test_create_type_resize_theme_reopen_delete(page: Page, lab: Lab, output_dir) -> None:
    open_lab(page, lab)
    open_panel(page)
    panel = page.locator("#jp-CloudTTY-panel")
    expect(panel.get_by_text("No shells yet.")).to_be_visible()
    expect(panel.locator(".jp-CloudTTY-backend")).to_have_text("Local backend")  # from /cloudtty/api/info
    page.screenshot(path=output_dir / "panel-empty.png")

    # New shell: a tab opens and the prompt comes.
    panel.get_by_role("button", name="New shell").click()
    item = panel.locator(".jp-CloudTTY-shell")
    expect(item).to_have_count(1)
    name = item.get_attribute("data-shell-name")
    assert name
    expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Ready")
    wait_for_text(page, name, PROMPT)
    elapsed = page.evaluate(
        """() => {
          const click = performance.getEntriesByName('cloudtty:new-shell-click').pop();
          const first = performance.getEntriesByName('cloudtty:first-output').pop();
          return first.startTime - click.startTime;
        }"""
    )
    print(f"\n'New shell' click to the first prompt byte: {elapsed:.0f} ms (local backend)")

    # WebGL where the browser has it (SwiftShader's counts), xterm.js's DOM renderer otherwise.
    webgl2 = page.evaluate("() => !!document.createElement('canvas').getContext('webgl2')")
    assert terminal_state(page, name)["renderer"] == ("webgl" if webgl2 else "dom")

    # Type, and see the answer.
    type_in_terminal(page, name, "echo $((6*7))")
    wait_for_text(page, name, r"^42$")

    # The terminal's size is the shell's; resizing the window changes both.
    state = terminal_state(page, name)
    assert stty_size(page, name, "size1") == (state["rows"], state["cols"])
    page.set_viewport_size({"width": 1000, "height": 600})
    wait_for_state(page, name, f"s.cols < {state['cols']} && s.rows < {state['rows']}")
    smaller = terminal_state(page, name)
    assert stty_size(page, name, "size2") == (smaller["rows"], smaller["cols"])
    page.set_viewport_size({"width": 1400, "height": 900})

    # A notebook beside the terminal.
    (lab.root / "Notes.ipynb").write_text(NOTEBOOK)
    options = {"mode": "split-right", "ref": state["widgetId"]}
    page.evaluate(
        "async (args) => { await window.jupyterapp.commands.execute('docmanager:open', args); }",
        {"path": "Notes.ipynb", "factory": "Notebook", "kernel": {"name": "python3"}, "options": options},
    )
    expect(page.locator(".jp-Notebook")).to_be_visible()
    expect(page.locator(".jp-Notebook .jp-MarkdownOutput").first).to_contain_text("Cluster shells")
    page.screenshot(path=output_dir / "terminal-beside-notebook.png")

    # JupyterLab's dark theme: the terminal follows, and looks dark.
    assert mean_luminance(page, name) > 0.7
    layout_color = "() => getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim()"
    light = page.evaluate(layout_color)
    page.get_by_role("menuitem", name="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    page.wait_for_function(f"(light) => ({layout_color})() !== light", arg=light, timeout=30000)
    dark = page.evaluate(layout_color)
    wait_for_state(page, name, f"s.background === {json.dumps(dark)}")
    expect(page.locator("#jupyterlab-splash")).to_have_count(0)
    assert mean_luminance(page, name) < 0.3
    page.screenshot(path=output_dir / "terminal-dark.png")

    # Close the tab; the shell goes on, and reopening it shows its scrollback.
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=re.compile("bash"))
    tab.first.locator(".lm-TabBar-tabCloseIcon").click()
    expect(page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"]')).to_have_count(0)
    expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Ready")
    item.locator(".jp-CloudTTY-shell-open").click()
    text = wait_for_text(page, name, r"^42$")
    assert "echo $((6*7))" in text

    # Delete it (after confirming): it leaves the list, and its tab says so.
    item.get_by_role("button", name=f"Delete {name}").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f'Delete the shell "{name}"?')
    dialog.get_by_role("button", name="Delete").click()
    expect(panel.locator(".jp-CloudTTY-shell")).to_have_count(0)
    expect(panel.get_by_text("No shells yet.")).to_be_visible()
    expect(page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"] .jp-CloudTTY-banner')).to_contain_text(
        "The shell was deleted."
    )
    assert lab.api("GET", f"shells/{name}")[0] == 404
    assert "42" in terminal_text(page, name)


def mean_luminance(page: Page, name: str) -> float:
    """How bright the terminal looks on screen (0 black … 1 white), from a screenshot of it."""
    png = page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"]').screenshot()
    image = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(image).mean[0] / 255


NOTEBOOK = json.dumps(
    {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": [
                    "# Cluster shells next to a notebook\n",
                    "The terminal on the left is a shell from the **Cluster shells** panel.",
                ],
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ["import requests  # talk to your services while the shell tails their logs"],
            },
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)
