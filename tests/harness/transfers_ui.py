"""A terminal tab's file transfers as a page shows them (tests/ui): the tab, its transfer strip, the file
browser, and what `sha256sum` says in the shell."""

from __future__ import annotations

import hashlib
import re

from playwright.sync_api import Page, expect

from tests.harness.lab import Lab, open_lab, open_panel, type_in_terminal, wait_for_text

PROMPT = r"^bash-[\d.]+[#$] "
DIGEST_OF = r"^([0-9a-f]{{64}})  {name}$"  # a line of `sha256sum NAME`
# The end of trz/tsz: their summary ("Saved 1 file/directory …" then "- NAME"), then the prompt again;
# for a tsz the server took, its own line ("Saved NAME to the Jupyter root (…)").
ENDED = r"^- {name}\nbash-[\d.]+[#$] "
SAVED_IN_JUPYTER = r"^Saved {name} .*\nbash-[\d.]+[#$] "
DROP_TARGET = re.compile(r"\bjp-CloudTTY-dropTarget\b")


def terminal(page: Page, name: str):
    return page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"]')


def strip(page: Page, name: str):
    """The terminal tab's transfer strip."""
    return terminal(page, name).locator(".jp-CloudTTY-transfer")


def open_shell(page: Page, lab: Lab, name: str) -> None:
    """Open a new shell's tab and move it to a fresh folder of its own (nothing there but what it gets)."""
    lab.api("POST", "shells", {"name": name})
    open_lab(page, lab)
    open_panel(page)
    page.locator(f'.jp-CloudTTY-shell[data-shell-name="{name}"] .jp-CloudTTY-shell-open').click()
    wait_for_text(page, name, PROMPT)
    type_in_terminal(page, name, 'cd "$(mktemp -d)" && echo "in $PWD"')
    wait_for_text(page, name, r"^in /tmp/tmp\.")


def shell_digest(page: Page, name: str, file: str) -> str:
    """What `sha256sum FILE` says in the shell."""
    type_in_terminal(page, name, f"sha256sum {file}")
    pattern = DIGEST_OF.format(name=re.escape(file))
    text = wait_for_text(page, name, pattern, timeout=30000)
    return re.findall(pattern, text, re.M)[-1]


def open_file_browser(page: Page) -> None:
    page.locator('.jp-SideBar.jp-mod-left [data-id="filebrowser"]').click()
    expect(page.locator(".jp-DirListing-content")).to_be_visible()


def listed(page: Page, name: str):
    """A file browser item, by its name."""
    return page.locator(
        ".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def refresh_file_browser(page: Page) -> None:
    page.locator(".jp-FileBrowser-toolbar").get_by_title(re.compile("Refresh", re.I)).click()


def drag_onto_terminal(page: Page, file: str, shell: str) -> None:
    """Drag ``file`` from the file browser onto ``shell``'s terminal, as a mouse does (a Lumino drag): the tab
    shows where it would go while the file is over it."""
    source = listed(page, file).bounding_box()
    target = terminal(page, shell).locator(".xterm-screen").bounding_box()
    assert source is not None and target is not None
    x, y = source["x"] + source["width"] / 2, source["y"] + source["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y, steps=5)  # past Lumino's drag threshold
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=20)
    expect(terminal(page, shell)).to_have_class(DROP_TARGET)
    page.mouse.up()
    expect(terminal(page, shell)).not_to_have_class(DROP_TARGET)


def tsz_into_jupyter(page: Page, lab: Lab, shell: str, saved: str = SAVED_IN_JUPYTER) -> None:
    """A file made in the shell, sent back with ``tsz``: the server saves it into the Jupyter root, where the
    file browser (open) lists it with the shell's SHA-256; then the terminal is the shell's again. ``saved``:
    the server's line and the shell's prompt after it, a pattern of the file's ``{name}``."""
    type_in_terminal(page, shell, "head -c 2000000 /dev/urandom > out.bin")
    made = shell_digest(page, shell, "out.bin")
    type_in_terminal(page, shell, "tsz out.bin")
    wait_for_text(page, shell, saved.format(name=r"out\.bin"), timeout=60000)
    refresh_file_browser(page)
    expect(listed(page, "out.bin")).to_be_visible()
    assert hashlib.sha256((lab.root / "out.bin").read_bytes()).hexdigest() == made
    type_in_terminal(page, shell, "echo after-$((6*7))")
    wait_for_text(page, shell, "^after-42$")
