"""Recording required (``c.CloudTTY.recording = 'required'``), in a real JupyterLab and a real browser: a shell's
session, typed in its tab, replays in a notebook cell (`%cloudtty recordings` names the file, `%cloudtty replay`
plays it) with the command typed and its output; and on a server whose recordings' folder cannot be made, a new
shell's tab refuses to open the terminal (close code 4007), says why, does not reconnect in a loop, and the panel
shows the shell as failed.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.harness.lab import (
    Lab,
    open_lab,
    open_notebook,
    open_panel,
    terminal_text,
    type_in_terminal,
    wait_for_state,
    wait_for_text,
)
from tests.harness.lab_pages import own_page, served
from tests.harness.notebooks import notebook
from tests.harness.player import wait_for_player_text

PROMPT = r"^bash-[\d.]+[#$] "
TYPED = "echo rep''layed-$((6*7))"  # what the recording must show as typed (the shell echoes it)
ANSWER = r"^replayed-42$"  # and its output: not in what was typed
RECORDING = r"rec-\d{8}T\d{6}Z\.cast"  # recording.file_name of the shell "rec"
# The tab's words for close code 4007 (labextension/src/protocol.ts), then the server's reason.
REFUSED = "This server records every terminal, and could not record this one: cannot record the terminal"
REQUIRED = "--CloudTTY.recording=required"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, output_dir) -> Iterator[Lab]:
    """JupyterLab on a server that records every shell, into the default folder (.cloudtty/recordings)."""
    log = output_dir / "test_recording_required-jupyter-lab.log"
    yield from served(tmp_path_factory.mktemp("required"), log, options=(REQUIRED,))


@pytest.fixture(scope="module")
def unrecordable_lab(tmp_path_factory, output_dir) -> Iterator[Lab]:
    """The same on a server whose recordings' folder cannot be made: its parent is a regular file (a
    permission would not stop us: the tests run as root)."""
    base = tmp_path_factory.mktemp("unrec")
    (base / "f").write_text("a file, not a folder\n")
    log = output_dir / "test_recording_required-unrecordable-jupyter-lab.log"
    yield from served(base, log, options=(REQUIRED, f"--CloudTTY.recordings_dir={base / 'f' / 'r'}"))


def is_terminal(socket: WebSocket) -> bool:
    """A shell's terminal WebSocket (not a kernel's, nor JupyterLab's events)."""
    return re.search(r"/cloudtty/api/shells/[^/?]+/terminal\b", socket.url) is not None


def test_a_required_recording_replays_in_a_notebook_with_the_commands_typed(page: Page, lab: Lab, output_dir) -> None:
    open_lab(page, lab)
    open_panel(page)
    panel = page.locator("#jp-CloudTTY-panel")

    # The form offers no choice on this server: it says every session is recorded.
    panel.get_by_role("button", name="Options…").click()
    expect(panel.locator(".jp-CloudTTY-form-note")).to_have_text("This server records every shell's session.")
    expect(panel.locator('input[name="record"]')).to_have_count(0)
    panel.locator('input[name="name"]').fill("rec")
    panel.get_by_role("button", name="Create").click()
    wait_for_text(page, "rec", PROMPT)
    assert lab.api("GET", "shells/rec")[1]["record"] is True
    type_in_terminal(page, "rec", TYPED)
    wait_for_text(page, "rec", ANSWER)

    # Deleted from the panel: the row goes once the shell has ended, and its recording was closed with it.
    item = panel.locator('.jp-CloudTTY-shell[data-shell-name="rec"]')
    item.get_by_role("button", name="Delete rec").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0)

    # In a notebook: `%cloudtty recordings` names the shell's recording...
    (lab.root / "Recorded.ipynb").write_text(notebook("%load_ext jupyter_cloudtty\n%cloudtty recordings --shell rec"))
    open_notebook(page, lab, "Recorded.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")  # runs it, and adds a cell below to type into
    listing = cells.first.locator(".jp-OutputArea-output", has_text=re.compile(RECORDING))
    expect(listing).to_have_count(1, timeout=30000)
    [file] = re.findall(RECORDING, listing.inner_text())
    [recording] = lab.api("GET", "recordings?shell=rec")[1]["recordings"]
    assert recording["file"] == file and recording["path"] == f".cloudtty/recordings/{file}", recording

    # ...and `%cloudtty replay FILE`, typed in the next cell, plays it: the command as typed, then its output.
    expect(cells).to_have_count(2)
    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.type(f"%cloudtty replay {file}")
    page.keyboard.press("Shift+Enter")
    output = ".jp-Notebook .jp-CloudTTY-replay-output"
    expect(cells.nth(1).locator(".jp-CloudTTY-replay-output")).to_be_visible(timeout=30000)
    page.locator(f"{output} .ap-term-text").focus()
    page.keyboard.press("Space")  # the player in a cell waits for the user
    text = wait_for_player_text(page, output, ANSWER, timeout=30000)
    assert re.search(PROMPT + re.escape(TYPED) + "$", text, re.M), text
    page.screenshot(path=output_dir / "recording-required-replay.png")


def test_a_shell_that_cannot_be_recorded_refuses_to_open(browser: Browser, unrecordable_lab: Lab, output_dir) -> None:
    lab = unrecordable_lab
    with own_page(browser) as page:
        sockets: list[WebSocket] = []
        page.on("websocket", lambda socket: sockets.append(socket) if is_terminal(socket) else None)
        open_lab(page, lab)
        open_panel(page)
        panel = page.locator("#jp-CloudTTY-panel")

        # New shell: its tab opens and connects once; the server refuses the terminal before any process.
        with page.expect_websocket(is_terminal, timeout=30000) as opened:
            panel.get_by_role("button", name="New shell").click()
        socket = opened.value
        item = panel.locator(".jp-CloudTTY-shell")
        expect(item).to_have_count(1)
        name = item.get_attribute("data-shell-name")
        assert f"/cloudtty/api/shells/{name}/terminal" in socket.url, socket.url
        if not socket.is_closed():
            socket.wait_for_event("close", timeout=30000)

        # The tab says why, as an error, and stays failed (its Reconnect is the user's to click).
        banner = page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"] .jp-CloudTTY-banner')
        expect(banner).to_be_visible()
        expect(banner).to_have_class(re.compile(r"\bjp-CloudTTY-banner-error\b"))
        expect(banner).to_contain_text(REFUSED + " (Not a directory) in ")
        expect(banner.get_by_role("button", name="Reconnect")).to_be_visible()
        assert wait_for_state(page, name, "s.state === 'failed'")["connections"] == 1
        assert not re.search(r"[#$] ", terminal_text(page, name))  # no shell ever ran: no prompt
        page.screenshot(path=output_dir / "recording-required-refused.png")

        # Not a loop: no second connection. A tab that reconnects does so within a second (its first retry is at
        # once, the next after 0.5 s), so five seconds without one is a bounded wait for what cannot be an event.
        with pytest.raises(PlaywrightTimeout):
            page.wait_for_event("websocket", is_terminal, timeout=5000)
        assert len(sockets) == 1, [s.url for s in sockets]

        # The panel shows the shell failed, with the server's reason.
        expect(item).to_have_class(re.compile(r"\bjp-CloudTTY-phase-failed\b"))
        expect(item.locator(".jp-CloudTTY-phase")).to_have_text("Failed")
        expect(item.locator(".jp-CloudTTY-phase")).to_have_attribute(
            "title", re.compile(r"^not recorded: cannot record the terminal \(Not a dir")
        )
        shell = lab.api("GET", f"shells/{name}")[1]
        assert shell["status"]["phase"] == "Failed", shell
        assert [c["reason"] for c in shell["status"]["conditions"]] == ["NotRecorded", "NotRecorded"], shell
        assert lab.api("GET", "recordings")[0] == 503  # the folder that could not be made, as the API says
