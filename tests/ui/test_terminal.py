"""Terminal tabs and the panel's other paths, in a real JupyterLab and a real browser: a shell
that ends, the running-sessions panel, context menus, reload, settings, copy/paste. (The New shell
form's errors, at their fields, are tests/ui/test_panel_a11y.py's.)"""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.harness.lab import (
    Lab,
    open_lab,
    open_panel,
    terminal_state,
    type_in_terminal,
    wait_for_state,
    wait_for_text,
)
from tests.harness.new_terminals import SOCKET_LOG

PROMPT = r"^bash-[\d.]+[#$] "


# Whether the saved layout (the workspace on the server) has a widget; a synchronous request,
# as wait_for_function's predicate cannot await.
WORKSPACE_HAS = """(id) => {
  const request = new XMLHttpRequest();
  const workspace = JSON.parse(document.getElementById('jupyter-config-data').textContent).workspace;
  request.open('GET', `/lab/api/workspaces/${workspace}`, false);
  request.send();
  if (request.status !== 200) { return false; }
  const layout = JSON.parse(request.responseText).data['layout-restorer:data'];
  return !!layout && JSON.stringify(layout.main || {}).includes(id);
}"""


def terminal(page: Page, name: str):
    return page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"]')


def shell_item(page: Page, name: str):
    return page.locator(f'#jp-CloudTTY-panel .jp-CloudTTY-shell[data-shell-name="{name}"]')


def test_a_shell_that_fails_says_so_and_starts_again(page: Page, lab: Lab) -> None:
    command = "echo ready; read line; exit 3"
    assert lab.api("POST", "shells", {"name": "fails", "spec": {"commandAction": command}})[0] == 201
    open_lab(page, lab)
    open_panel(page)
    expect(shell_item(page, "fails").locator(".jp-CloudTTY-shell-command")).to_have_text(command)
    shell_item(page, "fails").locator(".jp-CloudTTY-shell-open").click()
    wait_for_text(page, "fails", "^ready")
    type_in_terminal(page, "fails", "")
    banner = terminal(page, "fails").locator(".jp-CloudTTY-banner")
    expect(banner).to_contain_text("The shell failed: exited with code 3")
    expect(shell_item(page, "fails").locator(".jp-CloudTTY-phase")).to_have_text("Failed")
    # The running-sessions panel lists running shells only.
    assert terminal_state(page, "fails")["state"] == "ended"

    banner.get_by_role("button", name="Start a new one like it").click()
    tab = page.locator(".jp-CloudTTY-terminal")
    expect(tab).not_to_have_attribute("data-shell-name", "fails")
    new_name = tab.get_attribute("data-shell-name")
    assert new_name and new_name != "fails"
    wait_for_text(page, new_name, "^ready")
    expect(tab.locator(".jp-CloudTTY-banner")).to_be_hidden()
    expect(shell_item(page, new_name).locator(".jp-CloudTTY-shell-command")).to_have_text(command)
    assert lab.api("GET", f"shells/{new_name}")[1]["spec"]["commandAction"] == command


def test_running_panel_context_menu_reload_and_font_size(page: Page, lab: Lab) -> None:
    lab.api("POST", "shells", {"name": "listed"})
    open_lab(page, lab)

    # JupyterLab's "Running Terminals and Kernels" panel lists the shell; clicking opens it.
    page.locator('.jp-SideBar.jp-mod-left [data-id="jp-running-sessions"]').click()
    section = page.get_by_role("region", name="Cluster Shells Section")
    item = section.locator(".jp-RunningSessions-item", has_text="listed")
    expect(item).to_be_visible()
    item.locator(".jp-RunningSessions-itemLabel").click()
    wait_for_text(page, "listed", PROMPT)
    type_in_terminal(page, "listed", "echo kept-$((20+22))")
    wait_for_text(page, "listed", "^kept-42$")
    page.locator(".lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabCloseIcon").click()
    expect(terminal(page, "listed")).to_have_count(0)

    # The panel's context menu opens it again.
    open_panel(page)
    shell_item(page, "listed").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Open Cluster Shell$")).click()
    wait_for_text(page, "listed", "^kept-42$")

    # A reload restores the tab, its scrollback with it (once JupyterLab has saved the layout).
    page.wait_for_function(WORKSPACE_HAS, arg="cloudtty:listed")
    page.reload()
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started")
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    wait_for_text(page, "listed", "^kept-42$", timeout=30000)

    # Font size from the settings (Settings menu): the terminal re-fits, the shell sees its new size.
    before = terminal_state(page, "listed")
    page.get_by_role("menuitem", name="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text="Increase Cluster Shell Font Size").click()
    wait_for_state(page, "listed", f"s.cols < {before['cols']}")
    after = terminal_state(page, "listed")
    type_in_terminal(page, "listed", "echo size $(stty size)")
    wait_for_text(page, "listed", rf"^size {after['rows']} {after['cols']}$")


def test_copy_and_paste(page: Page, lab: Lab) -> None:
    lab.api("POST", "shells", {"name": "clip"})
    open_lab(page, lab)
    open_panel(page)
    shell_item(page, "clip").locator(".jp-CloudTTY-shell-open").click()
    wait_for_text(page, "clip", PROMPT)
    type_in_terminal(page, "clip", "echo copy-$((3*3))")
    text = wait_for_text(page, "clip", "^copy-9$")
    line = text.split("\n").index("copy-9")
    # Select the line (as a triple click does), then the terminal's context menu: Copy.
    page.evaluate(
        "([name, line]) => { for (const w of window.jupyterapp.shell.widgets('main')) {"
        " if (w.content && w.content.shellName === name) { w.content.terminal.selectLines(line, line); } } }",
        ["clip", line],
    )
    terminal(page, "clip").locator(".xterm-screen").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Copy$")).click()
    assert page.evaluate("() => navigator.clipboard.readText()").strip() == "copy-9"

    # Paste it back as input: the shell runs it as a command.
    page.evaluate("() => navigator.clipboard.writeText('echo pasted-$((5+5))')")
    terminal(page, "clip").locator(".xterm-screen").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Paste$")).click()
    wait_for_text(page, "clip", r"echo pasted-\$\(\(5\+5\)\)$")  # at the prompt, not yet run
    page.keyboard.press("Enter")
    wait_for_text(page, "clip", "^pasted-10$")


def test_a_flood_of_output_arrives_whole_and_the_terminal_answers(page: Page, lab: Lab) -> None:
    """8 MB at once through the flow-controlled path: every byte arrives, the terminal answers
    right after. (In this headless Chromium the page's own WebSocket backpressure keeps xterm.js's
    backlog under ttyd's high-water mark, so PAUSE is not sent here: the unit tests cover it.)"""
    lab.api("POST", "shells", {"name": "flood"})
    open_lab(page, lab)
    open_panel(page)
    shell_item(page, "flood").locator(".jp-CloudTTY-shell-open").click()
    wait_for_text(page, "flood", PROMPT)
    type_in_terminal(page, "flood", "yes $(printf 'x%.0s' $(seq 199)) | head -n 40000; echo flood-$((2*2))")
    text = wait_for_text(page, "flood", "^flood-4$", timeout=120000)
    lines = text.split("\n")
    assert lines[lines.index("flood-4") - 1] == "x" * 199
    assert terminal_state(page, "flood")["received"] > 40000 * 200
    type_in_terminal(page, "flood", "echo still-$((6*7))")
    wait_for_text(page, "flood", "^still-42$")


def _end_of(locator) -> dict:
    """A point over the last word of a one-line element."""
    box = locator.evaluate(
        "(node) => { const range = document.createRange(); range.selectNodeContents(node);"
        " const r = range.getBoundingClientRect(), b = node.getBoundingClientRect();"
        " return {x: r.right - b.left - 8, y: r.top - b.top + r.height / 2}; }"
    )
    return {"x": box["x"], "y": box["y"]}


def test_find_in_a_terminal_and_open_a_shell_named_in_a_notebook(page: Page, lab: Lab) -> None:
    lab.api("POST", "shells", {"name": "named"})
    (lab.root / "Ops.ipynb").write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "execution_count": 1,
                        "metadata": {},
                        "outputs": [{"output_type": "stream", "name": "stdout", "text": ["logs are in named\n"]}],
                        "source": ["print('logs are in named')"],
                    }
                ],
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    open_lab(page, lab)

    # Select the shell's name in a notebook; the context menu offers to open it.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:open', {path: 'Ops.ipynb'}); }")
    output = page.locator(".jp-OutputArea-output pre", has_text="logs are in named")
    output.dblclick(position=_end_of(output))  # a double click selects the word under it
    assert page.evaluate("() => window.getSelection().toString().trim()") == "named"
    output.click(button="right", position=_end_of(output))
    page.locator(".lm-Menu-itemLabel", has_text='Open Cluster Shell "named"').click()
    wait_for_text(page, "named", PROMPT)

    # Find (the tab's context menu, or Edit → Find…): JupyterLab's search box, over the scrollback.
    type_in_terminal(page, "named", "echo 42 and $((6*7))")
    wait_for_text(page, "named", "^42 and 42$")
    terminal(page, "named").locator(".xterm-screen").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Find…$")).click()
    page.keyboard.type("42")
    expect(page.locator(".jp-DocumentSearch-index-counter")).to_have_text(re.compile(r"^\d/3$"))


def test_a_tab_connects_while_xterm_loads_and_its_program_starts_at_the_tabs_size(page: Page, lab: Lab) -> None:
    # A slow network for the terminal's code: the extension's chunks asked for after the page has
    # loaded (xterm.js, its addons, trzsz) are held until the test lets them go.
    page.add_init_script(SOCKET_LOG)
    open_lab(page, lab)
    held: list = []

    def ours(url: str) -> bool:  # the chunks' URLs may carry a query (`?v=` in a production build)
        return "/lab/extensions/jupyter-cloudtty/static/" in url and url.split("?")[0].endswith(".js")

    page.route(ours, lambda route: held.append(route))
    # A command that says the size it started at: the size of the tab's first handshake.
    command = "stty size; echo EAR''LY; exec bash --norc --noprofile"
    assert lab.api("POST", "shells", {"name": "early", "spec": {"commandAction": command}})[0] == 201
    page.evaluate("() => { window.jupyterapp.commands.execute('cloudtty:open', { name: 'early' }); }")

    # The tab connected and the shell answered while xterm.js was still held back.
    page.wait_for_function(
        "() => (window.__sockets || []).some(s => s.url.includes('/shells/early/') && s.first !== null)"
    )
    assert held, "xterm.js was not asked for after the page loaded"
    for route in held:
        route.continue_()
    page.unroute(ours)

    # Once loaded, the terminal shows all of it, and its size is the size the program started at.
    text = wait_for_text(page, "early", r"^EARLY$")
    state = wait_for_state(page, "early", "s.state === 'open'")
    started = re.search(r"^(\d+) (\d+)$", text, re.M)
    assert started, text
    assert (int(started.group(2)), int(started.group(1))) == (state["cols"], state["rows"]), text
    type_in_terminal(page, "early", "echo $((6*7))")
    wait_for_text(page, "early", r"^42$")
    assert page.evaluate("() => window.__sockets.filter(s => s.url.includes('/shells/early/')).length") == 1


def test_a_tab_whose_terminal_code_cannot_load_says_so_and_tries_again(page: Page, lab: Lab) -> None:
    open_lab(page, lab)

    def ours(url: str) -> bool:  # the terminal's chunks, asked for when the first tab opens
        return "/lab/extensions/jupyter-cloudtty/static/" in url and url.split("?")[0].endswith(".js")

    page.route(ours, lambda route: route.abort("connectionrefused"))
    assert lab.api("POST", "shells", {"name": "offline"})[0] == 201
    page.evaluate("() => { window.jupyterapp.commands.execute('cloudtty:open', { name: 'offline' }); }")
    banner = terminal(page, "offline").locator(".jp-CloudTTY-banner")
    expect(banner).to_contain_text("The terminal's code could not be loaded")
    expect(banner).to_have_attribute("role", "alert")

    page.unroute(ours)  # the network is back
    banner.get_by_role("button", name="Try again").click()
    wait_for_text(page, "offline", PROMPT)
    expect(banner).to_be_hidden()
    type_in_terminal(page, "offline", "echo $((6*7))")
    wait_for_text(page, "offline", "^42$")
