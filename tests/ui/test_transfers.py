"""Files in and out of a shell, in a real JupyterLab and a real browser: a file dragged from the file
browser onto a terminal tab lands in the shell, `tsz` in the shell saves into the Jupyter root (or,
when the user's setting says so, into a folder the browser picks), `trz` sends what the browser
picks, and the context menu's "Download File from Shell…" saves into the file browser's folder.
Every file is compared by SHA-256 on both sides.

The browser's own pickers (`showDirectoryPicker`, `showOpenFilePicker`) are dialogs a test cannot
click: the page's are replaced by ones that answer with a folder of the page's origin private file
system, which the page reads back. Everything else is what a user does and sees."""

from __future__ import annotations

import hashlib
import os
import re

from playwright.sync_api import Page, expect

from tests.harness.lab import Lab, open_panel, type_in_terminal, wait_for_text
from tests.harness.lab_pages import user_settings
from tests.harness.transfers_ui import (
    ENDED,
    drag_onto_terminal,
    listed,
    open_file_browser,
    open_shell,
    shell_digest,
    strip,
    tsz_into_jupyter,
)


def test_a_file_dragged_from_the_file_browser_goes_in_and_tsz_brings_one_back(page: Page, lab: Lab) -> None:
    payload = os.urandom(3_000_000)
    (lab.root / "payload.bin").write_bytes(payload)
    open_shell(page, lab, "files")
    open_file_browser(page)

    # Drag the file from the file browser onto the terminal: the tab shows where it would go.
    drag_onto_terminal(page, "payload.bin", "files")

    # The tab's strip follows the upload to its end, and the shell has the same bytes.
    expect(strip(page, "files")).to_have_attribute("data-state", "done", timeout=120000)
    expect(strip(page, "files")).to_contain_text("Uploaded payload.bin (3.0 MB) to files")
    strip(page, "files").get_by_role("button", name="Dismiss").click()  # (else it goes by itself)
    expect(strip(page, "files")).to_be_hidden()
    wait_for_text(page, "files", ENDED.format(name=r"payload\.bin"))
    assert shell_digest(page, "files", "payload.bin") == hashlib.sha256(payload).hexdigest()

    # A file made in the shell, sent back with tsz: the server saves it into the Jupyter root.
    tsz_into_jupyter(page, lab, "files")


def test_the_context_menu_downloads_into_the_file_browsers_folder(page: Page, lab: Lab) -> None:
    (lab.root / "inbox").mkdir()
    open_shell(page, lab, "menu")
    type_in_terminal(page, "menu", "head -c 500000 /dev/urandom > report.bin && echo made-$((2*3))")
    wait_for_text(page, "menu", "^made-6$")
    made = shell_digest(page, "menu", "report.bin")
    type_in_terminal(page, "menu", "echo at $PWD/report.bin")
    at = r"^at (/tmp/tmp\.\S+/report\.bin)$"
    remote = re.findall(at, wait_for_text(page, "menu", at), re.M)[-1]

    open_file_browser(page)
    listed(page, "inbox").dblclick()
    expect(page.locator(".jp-BreadCrumbs")).to_contain_text("inbox")

    # Right-click the shell in the panel: "Download File from Shell…" asks for a path in the shell.
    open_panel(page)
    page.locator('.jp-CloudTTY-shell[data-shell-name="menu"]').click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Download File from Shell…$")).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text('saved in "inbox"')
    dialog.locator("input").fill(remote)
    dialog.get_by_role("button", name="Ok").click()

    # Its tab is open: the strip there says where the file went, and the file browser shows it.
    expect(strip(page, "menu")).to_have_attribute("data-state", "done", timeout=60000)
    expect(strip(page, "menu")).to_contain_text("Downloaded report.bin")
    expect(strip(page, "menu")).to_contain_text("inbox/report.bin")
    open_file_browser(page)
    expect(listed(page, "report.bin")).to_be_visible()
    assert hashlib.sha256((lab.root / "inbox" / "report.bin").read_bytes()).hexdigest() == made

    # A path that is not there: the strip says why, in the server's words, and nothing is saved.
    page.locator('.jp-CloudTTY-terminal[data-shell-name="menu"] .xterm-screen').click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Download File from Shell…$")).click()
    dialog.locator("input").fill("no-such-file.bin")
    dialog.get_by_role("button", name="Ok").click()
    expect(strip(page, "menu")).to_have_attribute("data-state", "error", timeout=60000)
    expect(strip(page, "menu")).to_contain_text("Download failed: ")
    assert not (lab.root / "inbox" / "no-such-file.bin").exists()


# The browser's pickers, answered with a folder "picked" of the origin private file system.
PICKERS = """async () => {
  const root = await navigator.storage.getDirectory();
  const picked = await root.getDirectoryHandle('picked', { create: true });
  window.showDirectoryPicker = async () => picked;
  window.showOpenFilePicker = async () => [await picked.getFileHandle('up.bin')];
}"""
# Write a file of random bytes into it (for trz) and return its SHA-256.
PUT_FILE = """async (size) => {
  const picked = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) { crypto.getRandomValues(bytes.subarray(i, i + 65536)); }
  const writable = await (await picked.getFileHandle('up.bin', { create: true })).createWritable();
  await writable.write(bytes);
  await writable.close();
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))]
    .map(b => b.toString(16).padStart(2, '0')).join('');
}"""
# The SHA-256 of a file of that folder, or null while it is not there.
FILE_DIGEST = """async (name) => {
  const picked = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
  try {
    const file = await (await picked.getFileHandle(name)).getFile();
    const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
    return [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('');
  } catch (error) { return null; }
}"""


def test_with_downloads_to_the_browser_the_tab_answers_tsz_and_trz(page: Page, lab: Lab) -> None:
    with user_settings(lab, downloadsTo="browser"):
        open_shell(page, lab, "browser")
        page.evaluate(PICKERS)

        # tsz: the tab's trzsz saves into the folder the browser picked, not into the Jupyter root.
        type_in_terminal(page, "browser", "head -c 1500000 /dev/urandom > down.bin")
        made = shell_digest(page, "browser", "down.bin")
        type_in_terminal(page, "browser", "tsz down.bin")
        wait_for_text(page, "browser", ENDED.format(name=r"down\.bin"), timeout=60000)
        assert page.evaluate(FILE_DIGEST, "down.bin") == made
        assert not (lab.root / "down.bin").exists()

        # trz: the tab sends what the browser's file picker gives.
        sent = page.evaluate(PUT_FILE, 1_200_000)
        type_in_terminal(page, "browser", "trz")
        wait_for_text(page, "browser", ENDED.format(name=r"up\.bin"), timeout=60000)
        assert shell_digest(page, "browser", "up.bin") == sent
