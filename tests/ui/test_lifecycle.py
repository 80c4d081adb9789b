"""A shell's lifetime in the Cluster shells panel, in a real JupyterLab and a real browser (issue 19).

A user extends a running shell's time to live from its item (the server refusing more than its
`max_ttl`, saying so), sees its idle rule, and a shell left alone at its prompt ends idle, its tab
saying why. The server is `jupyter lab` with the local backend (tests/harness/lab.py), started here
with a `max_ttl`.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.harness.lab import Lab, open_lab, open_panel, terminal_state, wait_for_state, wait_for_text

MAX_TTL = 7200  # the administrator's c.CloudTTY.max_ttl: 2 hours of lifetime at most
PROMPT = r"^bash-[\d.]+[#$] "


@pytest.fixture(scope="module")
def lab(tmp_path_factory, output_dir) -> Iterator[Lab]:  # tests/ui's page fixture takes this one
    log = output_dir / "test_lifecycle-jupyter-lab.log"
    log.unlink(missing_ok=True)
    server = Lab(tmp_path_factory.mktemp("lab"), log, options=(f"--CloudTTY.max_ttl={MAX_TTL}",)).start()
    yield server
    server.stop()


def item(page: Page, name: str):
    return page.locator(f'#jp-CloudTTY-panel .jp-CloudTTY-shell[data-shell-name="{name}"]')


def ttl_of(lab: Lab, name: str) -> int:
    status, shell = lab.api("GET", f"shells/{name}")
    assert status == 200, shell
    return shell["spec"]["ttlSecondsAfterStarted"]


def test_extend_a_shell_from_its_item(page: Page, lab: Lab, output_dir) -> None:
    status, shell = lab.api("POST", "shells", {"spec": {"ttlSecondsAfterStarted": 600, "idleTimeoutSeconds": 3600}})
    assert status == 201, shell
    name = shell["name"]
    open_lab(page, lab)
    open_panel(page)
    shown = item(page, name)
    left = shown.locator(".jp-CloudTTY-shell-left")
    expect(left).to_have_text(re.compile(r"^(9m( \d+s)?|10m) left$"))
    expect(shown.locator(".jp-CloudTTY-shell-idle")).to_have_text("idle 1h")  # its idle rule, beside the TTL

    # From the keyboard: Enter on Extend offers the amounts, the first one focused; +4 h would make
    # a lifetime of 4h 10m, over the server's 2 hours: refused, and the panel says where the limit is.
    extend = shown.get_by_role("button", name=f"Extend {name}")
    extend.focus()
    page.keyboard.press("Enter")
    choices = shown.get_by_role("group", name=f"Extend {name} by")
    expect(choices.get_by_role("button", name="+30 min")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(choices.get_by_role("button", name="+4 h")).to_be_focused()
    page.keyboard.press("Enter")
    error = page.locator("#jp-CloudTTY-panel .jp-CloudTTY-error")
    expect(error).to_contain_text(f"Cannot extend {name} by 4 h")
    expect(error).to_contain_text(f"at most {MAX_TTL} seconds (2h)")
    page.screenshot(path=output_dir / "lifecycle-extend-refused.png")
    assert ttl_of(lab, name) == 600
    expect(left).to_have_text(re.compile(r"^(\dm( \d+s)?|10m) left$"))  # unchanged: 10 minutes at most

    # +1 h: the lifetime becomes 70 minutes, and the countdown follows at once.
    choices.get_by_role("button", name="+1 h").click()
    expect(left).to_have_text(re.compile(r"^1h \d+m left$"))  # past 60 minutes: 1h 9m or so
    expect(choices).to_be_hidden()
    expect(error).to_have_count(0)  # the refusal before is no longer news
    assert ttl_of(lab, name) == 4200
    page.screenshot(path=output_dir / "lifecycle-extended.png")

    # The item's context menu offers the same amounts.
    shown.locator(".jp-CloudTTY-shell-open").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Extend Time to Live").click()
    page.locator(".lm-Menu-itemLabel", has_text="+30 min").click()
    expect(left).to_have_text(re.compile(r"^1h [3-4]\dm left$"))  # 1h 39m or so
    assert ttl_of(lab, name) == 4200 + 1800


def test_a_shell_left_at_its_prompt_ends_idle(page: Page, lab: Lab, output_dir) -> None:
    open_lab(page, lab)
    open_panel(page)
    status, shell = lab.api("POST", "shells", {"spec": {"idleTimeoutSeconds": 2}})
    assert status == 201, shell
    name = shell["name"]
    item(page, name).locator(".jp-CloudTTY-shell-open").click()
    # Its idle clock runs from its creation: the tab's first output comes well within the 2 s
    # (0.2 to 0.4 s here), so the shell ends at its prompt, not before any client came.
    wait_for_text(page, name, PROMPT)

    terminal = page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"]')
    banner = terminal.locator(".jp-CloudTTY-banner")
    expect(banner).to_contain_text("The shell ended idle: no input or output for 2s", timeout=30000)
    expect(banner.get_by_role("button", name="Start a new one like it")).to_be_visible()
    # 4006 is final: the tab stays ended (a dropped connection would be 'reconnecting').
    state = wait_for_state(page, name, "s.state === 'ended'")
    assert state["connections"] == 1, state
    shown = item(page, name)
    expect(shown.locator(".jp-CloudTTY-phase")).to_have_text("Complete")
    expect(shown.locator(".jp-CloudTTY-shell-ending")).to_have_text("Ended idle: no input or output for 2s")
    page.screenshot(path=output_dir / "lifecycle-idle-ended.png")

    status, ended = lab.api("GET", f"shells/{name}")
    assert status == 200, ended
    assert [(c["type"], c["reason"]) for c in ended["status"]["conditions"]] == [("Ready", "IdleTimeout")]
    after = terminal_state(page, name)
    assert (after["state"], after["connections"]) == ("ended", 1), after  # still: nothing reconnected
