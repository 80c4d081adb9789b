"""When the network drops or the server goes away: the terminal says so, reconnects by itself,
and picks up where it was, in a real JupyterLab and a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.harness.lab import (
    Lab,
    open_lab,
    open_panel,
    terminal_state,
    terminal_text,
    type_in_terminal,
    wait_for_text,
)
from tests.harness.tcp_proxy import TcpProxy

PROMPT = r"^bash-[\d.]+[#$] "


def open_shell(page: Page, name: str) -> None:
    open_panel(page)
    page.locator(f'#jp-CloudTTY-panel .jp-CloudTTY-shell[data-shell-name="{name}"] .jp-CloudTTY-shell-open').click()
    wait_for_text(page, name, PROMPT)


def banner(page: Page, name: str):
    return page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"] .jp-CloudTTY-banner')


def test_a_dropped_network_reconnects_and_shows_nothing_twice(page: Page, lab: Lab) -> None:
    proxy = TcpProxy(lab.port)
    try:
        assert lab.api("POST", "shells", {"name": "net"})[0] == 201
        open_lab(page, lab, f"http://127.0.0.1:{proxy.port}")
        open_shell(page, "net")
        type_in_terminal(page, "net", "echo before-$((1+1))")
        wait_for_text(page, "net", "^before-2$")

        proxy.down()
        expect(banner(page, "net")).to_contain_text(re.compile("connection to the shell was lost|cannot be reached"))
        expect(banner(page, "net")).to_contain_text("Reconnecting")
        assert terminal_state(page, "net")["state"] == "reconnecting"
        item = page.locator('#jp-CloudTTY-panel .jp-CloudTTY-shell[data-shell-name="net"]')
        expect(item.get_by_role("button", name="Reconnect net")).to_be_visible()  # the panel says so too
        expect(item.locator(".jp-CloudTTY-shell-meta")).to_contain_text("tab: reconnecting")

        proxy.up()
        expect(banner(page, "net")).to_be_hidden(timeout=30000)
        expect(item.get_by_role("button", name="Reconnect net")).to_have_count(0)
        state = terminal_state(page, "net")
        assert state["state"] == "open" and state["connections"] == 2
        type_in_terminal(page, "net", "echo after-$((2+2))")
        text = wait_for_text(page, "net", r"^after-4\nbash-[\d.]+[#$] ")  # its answer, then the prompt
        # The second connection resumed after what this tab had received: no line came twice.
        assert re.findall(r"^before-2$", text, re.M) == ["before-2"], text
        assert len(re.findall(PROMPT, text, re.M)) == 3, text
    finally:
        proxy.close()


def test_the_server_going_away_takes_the_shell_and_the_tab_says_so(page: Page, tmp_path, output_dir) -> None:
    log = output_dir / "test_reconnect-restart-jupyter-lab.log"
    log.unlink(missing_ok=True)
    lab = Lab(tmp_path, log).start()
    restarted: Lab | None = None
    try:
        lab.api("POST", "shells", {"name": "gone"})
        open_lab(page, lab)
        open_shell(page, "gone")

        lab.stop()  # SIGTERM: local shells end with their server
        expect(banner(page, "gone")).to_contain_text(re.compile("server is stopping|cannot be reached"))
        expect(banner(page, "gone")).to_contain_text("Reconnecting")

        restarted = Lab(tmp_path, log, port=lab.port).start()  # same port, same cookie secret
        expect(banner(page, "gone")).to_contain_text('The shell "gone" no longer exists.', timeout=60000)
        page.screenshot(path=output_dir / "terminal-shell-gone.png")
        banner(page, "gone").get_by_role("button", name="Start a new one like it").click()
        tab = page.locator(".jp-CloudTTY-terminal")
        expect(tab).not_to_have_attribute("data-shell-name", "gone")
        new_name = tab.get_attribute("data-shell-name")
        assert new_name and new_name != "gone"
        wait_for_text(page, new_name, PROMPT)
        expect(banner(page, new_name)).to_be_hidden()
        assert "gone" not in [s["name"] for s in restarted.api("GET", "shells")[1]]
        assert terminal_text(page, new_name).strip().startswith("bash")  # a fresh terminal
    finally:
        lab.stop()
        if restarted is not None:
            restarted.stop()
