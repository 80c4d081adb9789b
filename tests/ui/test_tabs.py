"""Terminal tabs as a demanding user sees them (issue 22), in JupyterLab's light and dark themes, in a
real JupyterLab and a real browser: every banner readable (WCAG AA text contrast, from the computed
colours), failures in the error style; tabs labelled by their shells' names, ended ones saying so, the
same after a reload; tabs of deleted shells forgotten without an error in the console; *Show Cluster
Shells* taking the keyboard to the panel; the panel marking the shell of the current tab."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.harness.contrast import AA, CONTRASTS
from tests.harness.lab import Lab, open_lab, open_notebook, open_panel, type_in_terminal, wait_for_text
from tests.harness.shell_tabs import (
    COLOR_OF,
    DEFAULT_COMMAND,
    PROMPT,
    THEMES,
    open_shell,
    reload,
    shell_item,
    tab,
    terminal,
    use_theme,
)
from tests.harness.tcp_proxy import TcpProxy

# The workspace as the server keeps it (what a reload restores); a synchronous request, as
# wait_for_function's predicate cannot await.
WORKSPACE = """() => {
  const request = new XMLHttpRequest();
  const workspace = JSON.parse(document.getElementById('jupyter-config-data').textContent).workspace;
  request.open('GET', `/lab/api/workspaces/${workspace}`, false);
  request.send();
  return request.status === 200 ? JSON.parse(request.responseText).data : {};
}"""
# The server's window title saved with a tab: it labels the tab after a reload, before it connects.
SAVED_TITLE = (
    f"(key) => {{ const saved = ({WORKSPACE})()[key]; return !!saved && typeof saved.data.title === 'string'; }}"
)
# The tab in front when the layout was saved.
SAVED_CURRENT = f"""(key) => {{ const layout = ({WORKSPACE})()['layout-restorer:data'];
  return !!layout && !!layout.main && layout.main.current === key; }}"""


@pytest.fixture(params=sorted(THEMES))
def theme(request) -> str:
    return request.param


def assert_readable(banner, page: Page, accent: str, screenshot) -> None:
    """Every text of the banner (its message, its buttons) at AA contrast, its stripe the kind's colour."""
    contrasts = banner.locator(".jp-CloudTTY-banner-message, button").evaluate_all(CONTRASTS)
    assert contrasts and all(c["ratio"] >= AA for c in contrasts), contrasts
    stripe = banner.evaluate("(node) => getComputedStyle(node).borderLeftColor")
    assert stripe == page.evaluate(COLOR_OF, f"var({accent})"), stripe
    banner.screenshot(path=screenshot)


def test_every_banner_is_readable_and_failures_look_like_errors(page: Page, lab: Lab, theme: str, output_dir) -> None:
    proxy = TcpProxy(lab.port)  # the network the reconnecting banner needs cut
    try:
        shells = {
            f"ends-{theme}": {"commandAction": "echo ready; read line"},
            f"fails-{theme}": {"commandAction": "echo ready; read line; exit 3"},
            f"deleted-{theme}": {},
            f"drops-{theme}": {},
        }
        for name, spec in shells.items():
            assert lab.api("POST", "shells", {"name": name, "spec": spec})[0] == 201
        open_lab(page, lab, f"http://127.0.0.1:{proxy.port}")
        use_theme(page, theme)

        def banner_of(name: str):
            return terminal(page, name).locator(".jp-CloudTTY-banner")

        # A shell that ends: the info style.
        open_shell(page, f"ends-{theme}", "^ready")
        type_in_terminal(page, f"ends-{theme}", "")
        banner = banner_of(f"ends-{theme}")
        expect(banner).to_contain_text("The shell ended: exited")
        expect(banner).to_have_attribute("role", "status")
        assert_readable(banner, page, "--jp-info-color1", output_dir / f"banner-ended-{theme}.png")

        # A shell that fails: the error style, announced as an alert.
        open_shell(page, f"fails-{theme}", "^ready")
        type_in_terminal(page, f"fails-{theme}", "")
        banner = banner_of(f"fails-{theme}")
        expect(banner).to_contain_text("The shell failed: exited with code 3")
        expect(banner).to_have_attribute("role", "alert")
        assert_readable(banner, page, "--jp-error-color1", output_dir / f"banner-failed-{theme}.png")

        # A shell deleted under its tab.
        open_shell(page, f"deleted-{theme}")
        assert lab.api("DELETE", f"shells/deleted-{theme}")[0] == 204
        banner = banner_of(f"deleted-{theme}")
        expect(banner).to_contain_text("The shell was deleted.")
        assert_readable(banner, page, "--jp-info-color1", output_dir / f"banner-deleted-{theme}.png")

        # A shell whose time to live runs out.
        status, expiring = lab.api("POST", "shells", {"spec": {"ttlSecondsAfterStarted": 3}})
        assert status == 201, expiring
        open_shell(page, expiring["name"], None)  # it may have expired before: its tab says so as well
        banner = banner_of(expiring["name"])
        expect(banner).to_contain_text("its time to live ran out", timeout=30000)
        assert_readable(banner, page, "--jp-info-color1", output_dir / f"banner-expired-{theme}.png")

        # The network drops: "Reconnecting…", the warning style.
        open_shell(page, f"drops-{theme}")
        proxy.down()
        banner = banner_of(f"drops-{theme}")
        expect(banner).to_contain_text("Reconnecting")
        assert_readable(banner, page, "--jp-warn-color1", output_dir / f"banner-reconnecting-{theme}.png")
        proxy.up()
        expect(banner).to_be_hidden(timeout=30000)
        page.screenshot(path=output_dir / f"tabs-{theme}.png")
    finally:
        proxy.close()


def test_the_notebook_widget_banner_is_readable(page: Page, lab: Lab, theme: str, output_dir) -> None:
    name = f"widget-{theme}"
    assert lab.api("POST", "shells", {"name": name})[0] == 201
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": f"from jupyter_cloudtty import ShellTerminal\n\nShellTerminal({name!r})",
    }
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    (lab.root / f"Widget-{theme}.ipynb").write_text(
        json.dumps({"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5})
    )
    open_notebook(page, lab, f"Widget-{theme}.ipynb")
    use_theme(page, theme)
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    widget = page.locator(".jp-CloudTTY-notebook-terminal")
    expect(widget.locator(".xterm-screen")).to_be_visible(timeout=60000)
    assert lab.api("DELETE", f"shells/{name}")[0] == 204
    banner = widget.locator(".jp-CloudTTY-banner")
    expect(banner).to_contain_text("The shell was deleted.")
    assert_readable(banner, page, "--jp-info-color1", output_dir / f"banner-widget-{theme}.png")


def test_tabs_are_labelled_by_their_shells_and_keep_it_across_reloads(page: Page, lab: Lab, theme: str) -> None:
    pods, tails = f"pods-{theme}", f"tails-{theme}"
    assert lab.api("POST", "shells", {"name": pods})[0] == 201
    command = "echo ready; read line"
    assert lab.api("POST", "shells", {"name": tails, "spec": {"commandAction": command}})[0] == 201
    open_lab(page, lab)
    use_theme(page, theme)

    # The shell's name, then its command: tabs of shells running the same thing still differ.
    open_shell(page, pods)
    expect(tab(page, pods)).to_have_text(f"{pods} — {DEFAULT_COMMAND}")
    expect(tab(page, pods)).to_have_attribute("title", re.compile(rf"^Cluster shell {pods}\n{DEFAULT_COMMAND} \("))
    open_shell(page, tails, "^ready")
    expect(tab(page, tails)).to_have_text(f"{tails} — {command}")
    expect(tab(page, tails)).to_have_attribute("title", f"Cluster shell {tails}\nCommand: {command}")

    # Its shell ends: the tab says so, in its label and its look.
    type_in_terminal(page, tails, "")
    expect(tab(page, tails)).to_have_text(f"{tails} — ended")
    label = tab(page, tails).locator(".lm-TabBar-tabLabel")
    assert label.evaluate("(node) => getComputedStyle(node).fontStyle") == "italic"
    assert tab(page, pods).locator(".lm-TabBar-tabLabel").evaluate("(node) => getComputedStyle(node).fontStyle") == (
        "normal"
    )

    # A reload with the running shell's tab in front: both tabs read as before, the ended one (not shown,
    # not connected) as ended, not "starting".
    tab(page, pods).click()
    page.wait_for_function(SAVED_CURRENT, arg=f"cloudtty:{pods}")
    page.wait_for_function(SAVED_TITLE, arg=f"cloudtty:{pods}")
    reload(page)
    expect(tab(page, pods)).to_have_text(f"{pods} — {DEFAULT_COMMAND}")
    expect(tab(page, tails)).to_have_text(f"{tails} — ended")
    open_panel(page)
    expect(shell_item(page, tails)).to_be_visible()
    expect(shell_item(page, tails)).not_to_contain_text("starting")
    assert label.evaluate("(node) => getComputedStyle(node).fontStyle") == "italic"

    # Shown, it says how the shell ended.
    tab(page, tails).click()
    banner = terminal(page, tails).locator(".jp-CloudTTY-banner")
    expect(banner).to_contain_text("The shell ended: exited")
    expect(banner.get_by_role("button", name="Start a new one like it")).to_be_visible()

    # And the other way round: the running shell's tab, restored but not shown, keeps its label.
    page.wait_for_function(SAVED_CURRENT, arg=f"cloudtty:{tails}")
    reload(page)
    expect(tab(page, tails)).to_have_text(f"{tails} — ended")
    expect(tab(page, pods)).to_have_text(f"{pods} — {DEFAULT_COMMAND}")
    expect(terminal(page, pods)).to_be_hidden()


def test_tabs_of_deleted_shells_are_forgotten_without_errors(page: Page, lab: Lab, theme: str) -> None:
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on(
        "response", lambda response: response.status >= 400 and problems.append(f"{response.status} {response.url}")
    )
    kept, deleted, away = f"kept-{theme}", f"deleted-{theme}", f"away-{theme}"
    for name in (kept, deleted, away):
        assert lab.api("POST", "shells", {"name": name})[0] == 201
    open_lab(page, lab)
    use_theme(page, theme)
    for name in (deleted, away, kept):
        open_shell(page, name)
    page.wait_for_function(SAVED_CURRENT, arg=f"cloudtty:{kept}")  # the layout with all three

    # One is deleted while its tab is open: the tab says so.
    assert lab.api("DELETE", f"shells/{deleted}")[0] == 204
    expect(tab(page, deleted)).to_have_text(f"{deleted} — deleted")

    # Another while the page is away.
    workspace = page.url
    page.goto("about:blank")
    assert lab.api("DELETE", f"shells/{away}")[0] == 204
    page.goto(workspace)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=60000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    wait_for_text(page, kept, PROMPT)
    expect(tab(page, deleted)).to_have_count(0)
    expect(tab(page, away)).to_have_count(0)

    # Twice more: nothing of them comes back, and nothing asks the server about them.
    for _ in range(2):
        reload(page)
        wait_for_text(page, kept, PROMPT)
        expect(tab(page, deleted)).to_have_count(0)
        expect(tab(page, away)).to_have_count(0)
    assert problems == []


def test_show_cluster_shells_takes_the_keyboard_to_the_panel(page: Page, lab: Lab, theme: str) -> None:
    name = f"keys-{theme}"
    assert lab.api("POST", "shells", {"name": name})[0] == 201
    open_lab(page, lab)
    use_theme(page, theme)
    page.evaluate("(name) => window.jupyterapp.commands.execute('cloudtty:open', {name})", name)
    wait_for_text(page, name, PROMPT)
    type_in_terminal(page, name, "echo here")
    panel = page.locator("#jp-CloudTTY-panel")
    expect(panel).to_be_hidden()

    # From the keyboard: the command palette, then the command.
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Show Cluster Shells")
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    # The focus is on the current tab's shell in the list.
    page.wait_for_function(
        "(name) => { const item = document.activeElement && document.activeElement.closest('.jp-CloudTTY-shell');"
        " return !!item && item.closest('#jp-CloudTTY-panel') !== null && item.dataset.shellName === name; }",
        arg=name,
    )
    # Enter opens it: the keyboard is back in its terminal.
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(name) => !!document.activeElement"
        " && !!document.activeElement.closest(`.jp-CloudTTY-terminal[data-shell-name='${name}']`)",
        arg=name,
    )


def test_the_panel_marks_the_shell_of_the_current_tab(page: Page, lab: Lab, theme: str) -> None:
    first, second = f"first-{theme}", f"second-{theme}"
    for name in (first, second):
        assert lab.api("POST", "shells", {"name": name})[0] == 201
    open_lab(page, lab)
    use_theme(page, theme)
    open_shell(page, first)
    open_shell(page, second)
    current = page.locator('#jp-CloudTTY-panel [aria-current="true"]')
    expect(current).to_have_count(1)
    expect(shell_item(page, second).locator('[aria-current="true"]')).to_have_count(1)

    tab(page, first).click()
    expect(shell_item(page, first).locator('[aria-current="true"]')).to_have_count(1)
    expect(current).to_have_count(1)
    # Another kind of tab in front: no shell is marked.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('launcher:create'); }")
    expect(current).to_have_count(0)
    tab(page, second).click()
    expect(shell_item(page, second).locator('[aria-current="true"]')).to_have_count(1)
    expect(current).to_have_count(1)
