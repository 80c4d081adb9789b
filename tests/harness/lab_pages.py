"""What browser tests (tests/ui) share beyond tests/ui/conftest.py's ``lab`` and ``page``: a Lab of a
module's own fixture, a page of a test's own, the user's settings as the Settings Editor saves them,
and alice's JupyterLab on the real control plane with the chart's operator."""

from __future__ import annotations

import json
import re
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Collection, Iterator

from playwright.sync_api import Browser, Page

from tests.harness.controlplane import ControlPlane
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.lab import Lab, cluster_options


def served(base: Path, log: Path, **options: Any) -> Iterator[Lab]:
    """A Lab for a module's fixture (``yield from`` it): its log begun afresh, stopped after the module.
    ``options`` are Lab's (``options=``, ``app=``)."""
    log.unlink(missing_ok=True)
    lab = Lab(base, log, **options).start()
    yield lab
    lab.stop()


@contextmanager
def own_page(browser: Browser, ignored: Collection[str] = ()) -> Iterator[Page]:
    """A page in a browser context of its own (a Lab other than the module's, say), closed after; then
    no uncaught error in it but those ``ignored``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
    finally:
        context.close()
    errors = [e for e in errors if e not in ignored]
    assert not errors, f"uncaught errors in the page: {errors}"


@contextmanager
def user_settings(lab: Lab, **values: object) -> Iterator[None]:
    """The user's settings of the extension, as the Settings Editor saves them (for the next page load);
    the defaults again after."""
    request = urllib.request.Request(
        f"{lab.url}/lab/api/settings/jupyter-cloudtty:plugin",
        method="PUT",
        data=json.dumps({"raw": json.dumps(values)}).encode(),
        headers={"Authorization": f"token {lab.token}"},
    )
    assert urllib.request.urlopen(request).status == 204
    try:
        yield
    finally:
        request.data = json.dumps({"raw": "{}"}).encode()
        urllib.request.urlopen(request)


@contextmanager
def lab_on_cluster(
    cluster: ControlPlane,
    namespace: str,
    base: Path,
    log: Path,
    values: dict | None = None,
    options: tuple[str, ...] = (),
) -> Iterator[tuple[Lab, Installed]]:
    """alice's JupyterLab on the Kubernetes backend, and the chart's operator (its ``values``) in
    ``namespace``: the Lab holds docs/administrators.md's Role and relays through the API server
    (``cluster_options``, then ``options``), logging to ``log``. After, neither its log nor the
    operator's has a traceback, nor its log a Forbidden."""
    log.unlink(missing_ok=True)
    kubeconfig = grant_documented_role(cluster, namespace)
    with Installed(cluster, namespace, base, values) as release:
        lab = Lab(base, log, options=cluster_options(kubeconfig, namespace, *options)).start()
        try:
            yield lab, release
        finally:
            lab.stop()
    assert not re.search(r"Forbidden|Traceback", log.read_text()), log.read_text()[-6000:]
    assert "Traceback" not in release.log, release.log[-6000:]
