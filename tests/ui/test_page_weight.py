"""What the extension makes JupyterLab's page load, and a page without the ipywidgets manager.

The extension shares ipywidgets' `@jupyter-widgets/base` with the widget manager without a copy of
its own: the page loads the manager's, and a page whose manager is disabled still has the panel and
its terminals (the notebook widget is then the only thing missing). `python -m bench.pageload`
measures the bytes; these tests hold the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.harness.lab import Lab, open_panel, wait_for_text

OURS = "/lab/extensions/jupyter-cloudtty/"
WIDGET_MANAGER = "/lab/extensions/@jupyter-widgets/jupyterlab-manager/"
# The name of @jupyter-widgets/base's registry token: a string in whichever file holds the package.
WIDGETS_BASE = b"jupyter.extensions.jupyterWidgetRegistry"
PROMPT = r"^bash-[\d.]+[#$] "


def scripts_loaded(requests: list[Request]) -> dict[str, bytes]:
    """url -> body of each script the page loaded."""
    loaded = {}
    for request in requests:
        response = request.response()
        if response is not None and request.resource_type == "script" and response.ok:
            loaded[request.url.split("?")[0]] = response.body()
    return loaded


def load(page: Page, lab: Lab, workspace: str) -> list[Request]:
    """Load JupyterLab in ``page`` (a fresh context: nothing cached) until it is restored and idle."""
    requests: list[Request] = []
    page.on("requestfinished", lambda request: requests.append(request))
    page.goto(f"{lab.url}/lab/workspaces/{workspace}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=60000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.wait_for_load_state("networkidle")
    return requests


def test_the_page_loads_the_widget_managers_widgets_base_and_no_terminal_code(page: Page, lab: Lab) -> None:
    scripts = scripts_loaded(load(page, lab, "weight"))
    holders = sorted(url for url, body in scripts.items() if WIDGETS_BASE in body)
    # One copy, the widget manager's: none of the extension's files carries one.
    assert len(holders) == 1 and WIDGET_MANAGER in holders[0], holders
    ours = {url: body for url, body in scripts.items() if OURS in url}
    assert ours, "the extension loaded nothing: is it enabled?"
    assert not [url for url, body in ours.items() if WIDGETS_BASE in body]
    # xterm.js and its addons wait for the first terminal (its WebGL addon names its context so).
    assert not [url for url, body in ours.items() if b"webglcontextlost" in body]
    page.wait_for_function("() => window.jupyterapp.commands.hasCommand('cloudtty:new')")


@pytest.fixture(scope="module")
def lab_without_widgets(tmp_path_factory, output_dir) -> Iterator[Lab]:
    """JupyterLab with the ipywidgets manager disabled, as `jupyter labextension disable` does it."""
    log = output_dir / "test_page_weight-no-widgets-jupyter-lab.log"
    log.unlink(missing_ok=True)
    lab = Lab(tmp_path_factory.mktemp("lab-no-widgets"), log)
    labconfig = Path(lab.server.env["JUPYTER_CONFIG_DIR"]) / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    disabled = {"disabledExtensions": {"@jupyter-widgets/jupyterlab-manager": True}}
    (labconfig / "page_config.json").write_text(json.dumps(disabled))
    lab.start()
    yield lab
    lab.stop()


def test_without_the_widget_manager_the_panel_and_terminals_work(browser: Browser, lab_without_widgets: Lab) -> None:
    lab = lab_without_widgets
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        load(page, lab, "no-widgets")
        assert not page.evaluate("() => window.jupyterapp.hasPlugin('@jupyter-widgets/jupyterlab-manager:plugin')")
        assert lab.api("POST", "shells", {"name": "plain"})[0] == 201
        open_panel(page)
        item = page.locator('#jp-CloudTTY-panel .jp-CloudTTY-shell[data-shell-name="plain"]')
        expect(item).to_be_visible()
        item.locator(".jp-CloudTTY-shell-open").click()
        wait_for_text(page, "plain", PROMPT)
    finally:
        context.close()
    assert not errors, errors
