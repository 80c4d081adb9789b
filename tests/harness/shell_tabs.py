"""A shell's terminal tab and panel item as JupyterLab's page shows them, in its light and dark themes
(Playwright): what the tab and the panel tests, and the docs' screenshots, find and do."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.harness.lab import change_theme, open_panel, wait_for_text

PROMPT = r"^bash-[\d.]+[#$] "
DEFAULT_COMMAND = "bash --norc --noprofile"  # tests/harness/lab.py's shell
# Each theme's name and its --jp-layout-color0 as computed.
THEMES = {"light": ("JupyterLab Light", "rgb(255, 255, 255)"), "dark": ("JupyterLab Dark", "rgb(17, 17, 17)")}

COLOR_OF = """(value) => { const probe = document.createElement('span'); probe.style.color = value;
  document.body.appendChild(probe); const color = getComputedStyle(probe).color; probe.remove(); return color; }"""


def use_theme(page: Page, theme: str) -> None:
    """What Settings > Theme does (its command), for "light" or "dark"; then the theme's colours are in force."""
    name, layout = THEMES[theme]
    change_theme(page, name)
    page.wait_for_function(f"(layout) => ({COLOR_OF})('var(--jp-layout-color0)') === layout", arg=layout, timeout=30000)


def terminal(page: Page, name: str):
    return page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"]')


def shell_item(page: Page, name: str):
    return page.locator(f'#jp-CloudTTY-panel .jp-CloudTTY-shell[data-shell-name="{name}"]')


def tab(page: Page, name: str):
    """The main area's tab of a shell: its label starts with the shell's name."""
    return page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=re.compile(rf"^{re.escape(name)}( — |$)"))


def open_shell(page: Page, name: str, ready: str | None = PROMPT) -> None:
    """Open the shell's terminal from the panel; wait for ``ready`` in it unless None."""
    open_panel(page)
    shell_item(page, name).locator(".jp-CloudTTY-shell-open").click()
    if ready is not None:
        wait_for_text(page, name, ready)


def reload(page: Page) -> None:
    page.reload()
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=60000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
