"""What the extension costs JupyterLab's page: bytes and time at page load, and at the first terminal.

    python -m bench.pageload [--runs 3] [--labextension DIR] [--json FILE]

Starts the tests' `jupyter lab` twice (tests/harness/lab.py): as installed, and with the extension
disabled (``disabledExtensions`` in its ``labconfig/page_config.json``, as ``jupyter labextension
disable`` writes it); opens each in turn in a fresh Debian Chromium context (nothing cached), ``runs``
times, and notes every response until the page is restored and the network is idle:
- its bytes, all of the page's and the extension's own (``/lab/extensions/jupyter-cloudtty/``), file
  by file, and what else the page loads with the extension enabled (nothing, where all is well);
- which bundle served ``@jupyter-widgets/base``: the widget manager's, never a copy of ours;
- the time from navigation to ``app.restored`` (in the page, to 5 ms).
Then, in a page with the extension, the first terminal (the panel's ``cloudtty:new``) until its
prompt: the bytes it loads and the time. The labextension measured is the installed build: a
production build after ``pip install``, a development one (larger, unminified) after ``npm run
build``; the tables say which. ``--labextension DIR`` measures another build instead (DIR as ``npm run
build:prod`` writes it: a checkout's ``jupyter_cloudtty/labextension``), served in its place through
``LabApp.extra_labextensions_path``. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Request, sync_playwright

from bench.report import Figure, Table, write_figures
from tests.harness.chromium import launch
from tests.harness.lab import Lab
from tests.harness.new_terminals import time_to_prompt

OURS = "/lab/extensions/jupyter-cloudtty/"
WIDGET_MANAGER = "/lab/extensions/@jupyter-widgets/jupyterlab-manager/"
# When the app is restored, in the page's clock (its navigation is 0).
RESTORED_AT = """
window.__restoredAt = null;
(function wait() {
  if (window.jupyterapp) {
    window.jupyterapp.restored.then(() => { window.__restoredAt = performance.now(); });
  } else {
    setTimeout(wait, 5);
  }
})();
"""


@dataclass
class Load:
    """One page's responses: url -> (decoded bytes, bytes on the wire; Jupyter's static files are not compressed)."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    restored_ms: float = 0.0

    def total(self, prefix: str = "") -> int:
        return sum(size for url, (size, _) in self.files.items() if prefix in url)


def sizes_of(requests: list[Request]) -> dict[str, tuple[int, int]]:
    files = {}
    for request in requests:
        response = request.response()
        if response is None or request.method != "GET":
            continue
        try:
            body = len(response.body())
        except Exception:  # a redirect, or a body the browser did not keep: nothing was loaded
            continue
        files[request.url.split("?")[0]] = (body, request.sizes()["responseBodySize"])
    return files


def load_page(browser: Browser, lab: Lab, workspace: str, with_terminal: bool) -> tuple[Load, Load | None]:
    """A fresh context loads JupyterLab; (its page load, the first terminal's loads or None)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(RESTORED_AT)
    requests: list[Request] = []
    try:
        page = context.new_page()
        page.on("requestfinished", lambda request: requests.append(request))
        page.goto(f"{lab.url}/lab/workspaces/{workspace}?token={lab.token}")
        page.wait_for_function("() => window.__restoredAt !== null", timeout=60000)
        page.wait_for_load_state("networkidle")
        load = Load(sizes_of(requests), page.evaluate("window.__restoredAt"))
        if not with_terminal:
            return load, None
        requests.clear()
        steps = time_to_prompt(page, lab, "cloudtty")
        page.wait_for_load_state("networkidle")
        return load, Load(sizes_of(requests), steps[-1] or 0.0)
    finally:
        context.close()


def disable_extension(lab: Lab) -> None:
    """What `jupyter labextension disable jupyter-cloudtty` writes, in this server's own config dir."""
    labconfig = Path(lab.server.env["JUPYTER_CONFIG_DIR"]) / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {"jupyter-cloudtty": True}}))


def installed() -> Path:
    import jupyter_cloudtty

    return Path(jupyter_cloudtty.__file__).parent / "labextension"


def build_kind(built: Path) -> str:
    """Whether a labextension is a production build (minified: no source comments in its entry)."""
    entry = next((built / "static").glob("remoteEntry.*.js")).read_text()
    return "development" if "/*!" in entry or "webpack/runtime" in entry else "production"


def kb(size: int) -> str:
    return f"{size / 1000:.1f}"


def main(runs: int, built: Path | None, json_path: str | None) -> None:
    with_ext: list[Load] = []
    without: list[Load] = []
    first: list[Load] = []
    with tempfile.TemporaryDirectory() as tmp:
        labs = {}
        for name in ("with", "without"):
            base = Path(tmp) / name
            base.mkdir()
            options: tuple[str, ...] = ()
            if built:  # found first: extra paths come before the installed ones
                (base / "labextensions").mkdir()
                (base / "labextensions" / "jupyter-cloudtty").symlink_to(built.resolve())
                options = (f"--LabApp.extra_labextensions_path={base / 'labextensions'}",)
            labs[name] = Lab(base, base / "jupyter-lab.log", options=options)
            if name == "without":
                disable_extension(labs[name])
            labs[name].start()
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    for run in range(runs):
                        for name in ("with", "without") if run % 2 == 0 else ("without", "with"):
                            load, terminal = load_page(browser, labs[name], f"bench-{run}", name == "with")
                            (with_ext if name == "with" else without).append(load)
                            if terminal:
                                first.append(terminal)
                finally:
                    browser.close()
        finally:
            for lab in labs.values():
                lab.stop()

    def median(loads: list[Load], prefix: str = "") -> float:
        return statistics.median(load.total(prefix) for load in loads)

    kind = build_kind(built or installed()) + (f" from {built}" if built else "")
    page = Table(
        f"JupyterLab's page load, extension enabled and disabled ({kind} build; median of {runs}, fresh contexts)",
        ["page", "all (kB)", "the extension's (kB)", "everything else (kB)", "restored (ms)"],
    )
    for label, loads in (("extension disabled", without), ("extension enabled", with_ext)):
        page.add(
            label,
            kb(median(loads)),
            kb(median(loads, OURS)),
            kb(median(loads) - median(loads, OURS)),
            f"{statistics.median(load.restored_ms for load in loads):.0f}",
        )
    ours = median(with_ext, OURS)
    others = (median(with_ext) - ours) - (median(without) - median(without, OURS))
    page.notes.append(
        "JupyterLab loads a disabled extension's entry and plugin module too (to know its plugins), not its styles"
    )
    page.notes.append(f"the extension enabled makes the page load {kb(others)} kB more of other packages' files")
    # Its chunks are named for it wherever it is split out; inside another chunk it cannot be ours.
    served = [url for url in with_ext[-1].files if "widgets_base" in url]
    whose = ", ".join(
        ("the widget manager's " if WIDGET_MANAGER in url else "OURS ") + url.rsplit("/", 1)[-1] for url in served
    )
    page.notes.append(f"@jupyter-widgets/base: {whose or 'in the widget manager own chunks (no file of its own)'}")
    page.print()

    files = Table(
        f"The extension's files at page load and at its first terminal ({kind} build)", ["file", "when", "kB"]
    )
    for when, load in (("page load", with_ext[-1]), ("first terminal", first[-1])):
        for url, (size, _) in sorted(load.files.items()):
            if OURS in url:
                files.add(url.rsplit("/", 1)[-1], when, kb(size))
    first_bytes = median(first, OURS)
    first_ms = statistics.median(load.restored_ms for load in first)
    files.notes.append(
        f"the first terminal loads {kb(first_bytes)} kB of the extension's (median); New shell -> prompt "
        f"{first_ms:.0f} ms (median of {runs}: the server's default shell, xterm.js loaded on the way)"
    )
    files.print()

    write_figures(
        json_path,
        [
            Figure("pageload", "the extension's bytes at JupyterLab's page load", f"{kb(ours)} kB ({kind} build)"),
            Figure(
                "pageload", "the first terminal's bytes and time to prompt", f"{kb(first_bytes)} kB, {first_ms:.0f} ms"
            ),
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="page loads of each kind (default 3)")
    parser.add_argument(
        "--labextension", type=Path, help="a built labextension to measure instead of the installed one"
    )
    parser.add_argument("--json", help="write the headline figures here (for python -m bench)")
    args = parser.parse_args()
    main(args.runs, args.labextension, args.json)
