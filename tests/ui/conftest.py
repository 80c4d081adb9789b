"""Real-browser tests: `jupyter lab` with the extension, driven by Playwright in Debian's Chromium.

The server is a real `jupyter lab` process on 127.0.0.1 with a token (tests/harness/lab.py), its
shells real PTYs; the browser is /usr/bin/chromium (Playwright never downloads one). Screenshots
go to tests/ui/output/.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.harness.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.harness.lab import Lab

OUTPUT = Path(__file__).parent / "output"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory, output_dir) -> Iterator[Lab]:
    log = output_dir / f"{request.module.__name__.rsplit('.', 1)[-1]}-jupyter-lab.log"
    log.unlink(missing_ok=True)
    server = Lab(tmp_path_factory.mktemp("lab"), log).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")  # not the session: Playwright's loop must be gone when other tests run
def browser() -> Iterator[Browser]:
    assert os.path.exists(CHROMIUM), "Debian's chromium is required: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, lab: Lab) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    page = context.new_page()
    errors: list[str] = []
    # With its stack: a flaky error seen once in CI must say where it came from.
    page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# pytest-jupyter's autouse fixtures would adopt (and close) the event loop Playwright's sync API
# runs in; these tests start their servers as processes and need neither.
@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield
