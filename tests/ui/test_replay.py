"""Terminal recordings replayed in a real JupyterLab and a real browser: a `.cast` file opened from the file
browser plays in a "Terminal Recording" tab, in JupyterLab's colours (its dark theme followed live) and from
the keyboard; `%cloudtty replay` in a notebook shows the same player, which plays the recorded command's
output; and the notebook's HTML export (nbconvert, in this process) plays it with no network and no
JupyterLab.

The recording is written by our server's own writer (jupyter_cloudtty.cloudshell.recording) with a clock of the
test's: a command typed at a prompt, its answer, a red line, then a tick a second for two minutes, so a
seek shows where it landed (the 50% mark is a tick that playing alone reaches only after a minute).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from jupyter_cloudtty.cloudshell.recording import Recording
from tests.harness.lab import Lab, change_theme, open_lab, open_notebook, open_panel, type_in_terminal, wait_for_text
from tests.harness.lab_pages import own_page, served
from tests.harness.notebooks import notebook
from tests.harness.player import player_text, wait_for_player_text

TICKS = 120


def write_recording(folder: Path) -> Path:
    """A session as our server records one: prompt, `echo replayed-$((6*7))`, its answer, then ticks."""
    times = iter([0.0, 0.3, 0.8, 1.0, 1.1, *(1.1 + i for i in range(1, TICKS + 1))])
    recording = Recording.start(
        folder, "work", (24, 80), owner="ada", clock=lambda: next(times), now=datetime(2026, 12, 7, tzinfo=timezone.utc)
    )
    recording.output(b"bash-5.2$ ")
    recording.output(b"echo replayed-$((6*7))\r\n")
    recording.output(b"replayed-42\r\nbash-5.2$ ")
    recording.output(b"\x1b[31mred-alert\x1b[0m\r\n")
    for i in range(1, TICKS + 1):
        recording.output(f"tick-{i:03d}\r\n".encode())
    recording.close()
    return recording.path


RED_ALERT = """(scope) => { const spans = document.querySelectorAll(scope + ' .ap-term-text .ap-line > span');
  const span = [...spans].find(s => s.textContent.includes('red-alert'));
  return span ? getComputedStyle(span).color : null; }"""  # the recorded red line, in the palette's red
BACKGROUND = """(scope) => { const p = document.querySelector(scope + ' .ap-player');
  return p && getComputedStyle(p).backgroundColor; }"""
LAYOUT_COLOR = """() => { const probe = document.createElement('span'); probe.style.color = 'var(--jp-layout-color0)';
  document.body.appendChild(probe); const color = getComputedStyle(probe).color; probe.remove(); return color; }"""
PLAYING = """(scope) => { const d = document.querySelector(scope + ' .ap-playback-button svg path');
  return d ? d.getAttribute('d') !== 'M1,0 L11,6 L1,12 Z' : null; }"""  # the play icon shows while paused
FOCUS_IN_PLAYER = "(scope) => !!document.activeElement && !!document.activeElement.closest(scope + ' .ap-wrapper')"


def test_a_cast_file_plays_in_a_tab_themed_and_from_the_keyboard(page: Page, lab: Lab, output_dir) -> None:
    write_recording(lab.root).rename(lab.root / "x.cast")
    open_lab(page, lab)
    page.locator(".jp-DirListing-item", has_text="x.cast").dblclick()
    tab = ".jp-CloudTTY-replay-document"
    expect(page.locator(tab)).to_be_visible()
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_have_text(re.compile(r"x\.cast"))

    # It plays by itself: the recorded command's answer (not the command: "$((6*7))" is what was typed).
    text = wait_for_player_text(page, tab, r"^replayed-42$")
    assert "echo replayed-$((6*7))" in text
    wait_for_player_text(page, tab, r"red-alert$")
    page.screenshot(path=output_dir / "replay-tab.png")

    # The keyboard: the opened tab gave the player the focus; Space pauses it.
    page.wait_for_function(FOCUS_IN_PLAYER, arg=tab)
    page.keyboard.press("Space")
    page.wait_for_function(f"(scope) => ({PLAYING})(scope) === false", arg=tab)

    # JupyterLab's colours, and its dark theme followed live: the background, and the ANSI red of the palette.
    assert page.evaluate(BACKGROUND, tab) == page.evaluate(LAYOUT_COLOR) == "rgb(255, 255, 255)"
    assert page.evaluate(RED_ALERT, tab) == "rgb(205, 49, 49)"
    change_theme(page, "JupyterLab Dark")
    page.wait_for_function(f"(scope) => ({BACKGROUND})(scope) === ({LAYOUT_COLOR})()", arg=tab)
    assert page.evaluate(BACKGROUND, tab) == "rgb(17, 17, 17)"
    page.wait_for_function(f"(scope) => ({RED_ALERT})(scope) === 'rgb(204, 0, 0)'", arg=tab)
    # Restarted where it was, still paused.
    assert re.search(r"^replayed-42$", page.evaluate(player_text(tab)), re.M)
    assert page.evaluate(PLAYING, tab) is False

    # The theme switch hid JupyterLab for a frame (the focus went): a click on the tab gives it back.
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="x.cast").click()
    page.wait_for_function(FOCUS_IN_PLAYER, arg=tab)
    page.screenshot(path=output_dir / "replay-tab-dark.png")
    # "5": half way (a tick playing alone reaches only after a minute); JupyterLab's keymap left it alone.
    page.keyboard.press("5")
    wait_for_player_text(page, tab, r"^tick-0[5-6]\d$", timeout=5000)
    change_theme(page, "JupyterLab Light")
    page.wait_for_function(f"(scope) => ({BACKGROUND})(scope) === 'rgb(255, 255, 255)'", arg=tab)


def test_a_replay_in_a_notebook_plays_and_its_html_export_plays_offline(
    page: Page, lab: Lab, browser: Browser, output_dir
) -> None:
    write_recording(lab.root).rename(lab.root / "x.cast")
    (lab.root / "Replay.ipynb").write_text(notebook("%load_ext jupyter_cloudtty\n%cloudtty replay x.cast"))
    open_notebook(page, lab, "Replay.ipynb")
    # Run it as a user does: click into the cell, Shift+Enter.
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    output = ".jp-Notebook .jp-Cell .jp-CloudTTY-replay-output"
    expect(page.locator(output)).to_be_visible(timeout=30000)
    # Our player, not the bundle's HTML fallback: one player, with JupyterLab's theme.
    expect(page.locator(".jp-Notebook .ap-player")).to_have_count(1)
    expect(page.locator(f"{output} .ap-player.asciinema-player-theme-jupyterlab")).to_have_count(1)

    # It waits for the user: Tab reaches it, Space plays the recorded command's output.
    page.locator(f"{output} .ap-term-text").focus()
    page.keyboard.press("Space")
    text = wait_for_player_text(page, output, r"^replayed-42$")
    assert "echo replayed-$((6*7))" in text
    page.screenshot(path=output_dir / "replay-notebook.png")
    # Keys in the player are the player's: "5" seeks half way, and "m" (mute) leaves the cell a code cell
    # ("m" in a notebook's command mode makes it Markdown).
    page.keyboard.press("5")
    wait_for_player_text(page, output, r"^tick-0[5-6]\d$", timeout=5000)
    page.keyboard.press("m")  # the notebook's keymap acts in the keydown itself: nothing later to wait for
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_have_class(re.compile(r"\bjp-CodeCell\b"))
    expect(page.locator(".jp-Notebook .jp-MarkdownCell")).to_have_count(0)

    # Saved with the notebook: the cast, and a player that needs nothing else.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")
    saved = json.loads((lab.root / "Replay.ipynb").read_text())
    [shown] = saved["cells"][0]["outputs"]
    cast = "".join(shown["data"]["application/x-asciicast"])
    assert cast == (lab.root / "x.cast").read_text()

    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(lab.root / "Replay.ipynb"))
    assert "var AsciinemaPlayer=" in body and "replayed-$((6*7))" in body
    export = output_dir / "replay-export.html"
    export.write_text(body)

    # Opened from disk with every network request refused: it plays all the same.
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    refused: list[str] = []
    context.route(re.compile(r"^(?!file:).*"), lambda route: (refused.append(route.request.url), route.abort())[-1])
    try:
        offline = context.new_page()
        offline.goto(export.as_uri())
        player = ".cloudtty-replay"
        expect(offline.locator(f"{player} .ap-player")).to_be_visible()
        offline.locator(f"{player} .ap-term-text").focus()
        offline.keyboard.press("Space")
        wait_for_player_text(offline, player, r"^replayed-42$")
        offline.screenshot(path=output_dir / "replay-export.png")
    finally:
        context.close()


@pytest.fixture(scope="module")
def recording_lab(tmp_path_factory, output_dir) -> Iterator[Lab]:
    """JupyterLab on a server where users choose to record a shell (c.CloudTTY.recording = 'optional')."""
    log = output_dir / "test_replay-recording-lab.log"
    yield from served(tmp_path_factory.mktemp("recording-lab"), log, options=("--CloudTTY.recording=optional",))


def test_a_recorded_shell_lists_its_sessions_in_the_panel(browser: Browser, recording_lab: Lab, output_dir) -> None:
    lab = recording_lab
    with own_page(browser) as page:
        open_lab(page, lab)
        open_panel(page)
        panel = page.locator("#jp-CloudTTY-panel")
        # The form offers the choice on this server; a shell made without it has no recordings to list.
        panel.get_by_role("button", name="Options…").click()
        panel.locator('input[name="name"]').fill("rec")
        panel.get_by_label("Record the session (replayable from the shell's Recordings)").check()
        panel.get_by_role("button", name="Create").click()
        wait_for_text(page, "rec", r"^bash-[\d.]+[#$] ")
        assert lab.api("GET", "shells/rec")[1]["record"] is True
        type_in_terminal(page, "rec", "echo WO''KE-$((6*7))")
        wait_for_text(page, "rec", r"^WOKE-42$")
        lab.api("POST", "shells", {"name": "plain"})
        expect(panel.locator('.jp-CloudTTY-shell[data-shell-name="plain"]')).to_have_count(1)
        expect(panel.locator('.jp-CloudTTY-shell[data-shell-name="plain"] .jp-CloudTTY-recordings')).to_have_count(0)

        # From the keyboard: the item's Recordings button, the list (newest first), Enter plays one in a tab.
        button = panel.locator('.jp-CloudTTY-shell[data-shell-name="rec"] .jp-CloudTTY-recordings')
        button.focus()
        page.keyboard.press("Enter")
        listed = panel.get_by_role("group", name="Recordings of rec").locator(".jp-CloudTTY-recording")
        expect(listed).to_have_count(1)
        expect(listed.first).to_be_focused()
        expect(listed.first).to_have_text(re.compile(r"^today \d\d:\d\d.* · \d+:\d\d · \d+(\.\d)? (B|KB)$"))
        page.screenshot(path=output_dir / "replay-panel.png")
        page.keyboard.press("Enter")
        tab = ".jp-CloudTTY-replay-document"
        expect(page.locator(tab)).to_be_visible()
        [recording] = lab.api("GET", "recordings?shell=rec")[1]["recordings"]
        current = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
        expect(current).to_have_text(re.compile(re.escape(recording["file"])))  # the file's own tab (the root's)
        wait_for_player_text(page, tab, r"^WOKE-42$")
        expect(listed).to_have_count(0)  # chosen: the list went, as a menu does

        # Escape closes the list and gives the focus back to its button.
        button.focus()
        page.keyboard.press("Enter")
        expect(listed.first).to_be_focused()
        page.keyboard.press("Escape")
        expect(listed).to_have_count(0)
        expect(button).to_be_focused()
