"""A terminal tab's file transfers as a page shows them (tests/ui): the tab, its transfer strip, the file
browser, and what `sha256sum` says in the shell."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.harness.lab import Lab, open_lab, open_panel, type_in_terminal, wait_for_text

PROMPT = r"^bash-[\d.]+[#$] "
DIGEST_OF = r"^([0-9a-f]{{64}})  {name}$"  # a line of `sha256sum NAME`
# The end of trz/tsz: their summary ("Saved 1 file/directory …" then "- NAME"), then the prompt again;
# for a tsz the server took, its own line ("Saved NAME to the Jupyter root (…)").
ENDED = r"^- {name}\nbash-[\d.]+[#$] "
SAVED_IN_JUPYTER = r"^Saved {name} .*\nbash-[\d.]+[#$] "


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
