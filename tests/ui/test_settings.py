"""What shapes a terminal, in a real JupyterLab and a real browser: the shell's own preferences
(`ttydClientOptions`), the user's settings, and JupyterLab's code font size."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.harness.lab import Lab, open_lab, open_panel, wait_for_text
from tests.harness.lab_pages import user_settings

PROMPT = r"^bash-[\d.]+[#$] "

OPTIONS = """(name) => {
  for (const w of window.jupyterapp.shell.widgets('main')) {
    if (w.content && w.content.shellName === name && w.content.terminal) {
      const o = w.content.terminal.options;
      return {fontSize: o.fontSize, cursorStyle: o.cursorStyle, scrollback: o.scrollback,
              background: o.theme.background, label: w.title.label};
    }
  }
  return null;
}"""


def options(page: Page, name: str) -> dict:
    return page.evaluate(OPTIONS, name)


def tab(page: Page, label: str):
    return page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=label)


def test_the_server_title_and_the_shells_preferences_apply(page: Page, lab: Lab) -> None:
    lab.api("POST", "shells", {"name": "plain"})
    spec = {"ttydClientOptions": {"fontSize": "19", "cursorStyle": "underline", "titleFixed": "pods watcher"}}
    lab.api("POST", "shells", {"name": "styled", "spec": spec})
    dark = {"ttydClientOptions": {"theme": json.dumps({"background": "#002b36"})}}
    lab.api("POST", "shells", {"name": "solarized", "spec": dark})
    open_lab(page, lab)
    open_panel(page)
    for name in ("plain", "styled", "solarized"):
        page.locator(f'.jp-CloudTTY-shell[data-shell-name="{name}"] .jp-CloudTTY-shell-open').click()
        wait_for_text(page, name, PROMPT)

    # The tab's label: the shell's name, then its window title (SET_WINDOW_TITLE) without the host.
    for name in ("plain", "solarized"):
        expect(tab(page, f"{name} — bash --norc --noprofile")).to_have_count(1)
    assert options(page, "plain")["fontSize"] == 13  # JupyterLab's code font size

    # ttyd's -t options: xterm.js options, and ttyd's own (titleFixed).
    styled = options(page, "styled")
    assert (styled["fontSize"], styled["cursorStyle"], styled["label"]) == (19, "underline", "styled — pods watcher")
    expect(tab(page, "styled — pods watcher")).to_have_count(1)

    # A theme the shell asks for wins over JupyterLab's.
    assert options(page, "solarized")["background"] == "#002b36"


def test_the_users_settings_and_jupyterlab_font_size(page: Page, lab: Lab) -> None:
    # As the Settings Editor saves them (the settings REST API, for the next page load).
    with user_settings(lab, defaultTtl="2h", defaultPreset="events", scrollback=500):
        open_lab(page, lab)

        # The launcher's card starts the default preset with the default time to live.
        page.locator(".jp-LauncherCard", has_text="Cluster Shell").click()
        terminal = page.locator(".jp-CloudTTY-terminal")
        expect(terminal).to_have_count(1)
        name = terminal.get_attribute("data-shell-name")
        spec = lab.api("GET", f"shells/{name}")[1]["spec"]
        assert spec == {"commandAction": "kubectl get events -A -w", "ttlSecondsAfterStarted": 7200}
        assert options(page, name)["scrollback"] == 500
        # (no kubectl on this machine: the shell fails, and its tab says why)
        expect(terminal.locator(".jp-CloudTTY-banner")).to_contain_text(
            re.compile("The shell failed: exited with code")
        )

        # With no font size of its own, the terminal follows JupyterLab's code font size, live.
        assert options(page, name)["fontSize"] == 13
        page.get_by_role("menuitem", name="Settings").click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
        page.locator(".lm-Menu-itemLabel", has_text="Increase Code Font Size").click()
        page.wait_for_function(f"(name) => ({OPTIONS})(name).fontSize === 14", arg=name)
