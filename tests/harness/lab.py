"""`jupyter lab` as a process for the browser tests, and what a test does in its page (Playwright).

``Lab`` runs a real `jupyter lab` on 127.0.0.1 with a token (tests/harness/servers.py), its shells
real PTYs; the functions below open JupyterLab in a Playwright page (or a notebook in it), open the
Cluster shells panel, type into a shell's terminal and read what its xterm buffer shows. The fixtures
that start them (a Lab per module, Debian's Chromium) are tests/ui/conftest.py's.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.harness.servers import STARTED, JupyterProcess

# A plain shell whose prompt is predictable: "bash-5.2# " (root) or "bash-5.2$ ".
SHELL = ["bash", "--norc", "--noprofile"]


def cluster_options(kubeconfig: Path, namespace: str, *more: str) -> tuple[str, ...]:
    """A Lab's options for the Kubernetes backend on the tests' control plane, as alice's server outside
    the cluster (docs/administrators.md's Role, relayed through the API server), then ``more``."""
    return (
        "--CloudTTY.backend=kubernetes", f"--CloudTTY.kubeconfig={kubeconfig}", f"--CloudTTY.namespace={namespace}",
        "--CloudTTY.owner=alice", "--CloudTTY.connect_via=apiserver", *more,
    )  # fmt: skip


class Lab:
    """`jupyter lab` as a process, started and stopped synchronously (Playwright's sync API).

    `app="notebook"` runs Jupyter Notebook 7 instead (the same server and labextensions)."""

    def __init__(
        self, base: Path, log: Path, port: int | None = None, options: tuple[str, ...] = (), app: str = "jupyterlab"
    ):
        self.root = base / "root"  # what the file browser shows
        self.root.mkdir(exist_ok=True)
        self.server = JupyterProcess(app, self.root, token="ui-test-token")
        self.server.env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
        self.port = self.server.port = port or self.server.port
        self.token = self.server.token
        self.log = log
        settings = base / "lab-settings"
        # No "get notified about news?" toast over the screenshots.
        notification = (
            settings / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        )
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false"}))
        self.argv = [
            *self.server.argv,
            f"--port={self.port}",
            # window.jupyterapp: tests read the xterm buffer
            f"--{'JupyterNotebookApp' if app == 'notebook' else 'LabApp'}.expose_app_in_browser=True",
            *(f"--CloudTTY.shell_command={word}" for word in SHELL),  # a List: one option per item
            "--CloudTTY.kill_timeout=1.0",
            *options,
        ]
        # User settings and workspaces of this run only (theme switches, layouts).
        self.env = {
            **self.server.env,
            "JUPYTERLAB_SETTINGS_DIR": str(settings / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(settings / "workspaces"),
            "PS1": r"\s-\v\$ ",  # bash's own default, whatever the caller's shell exported
        }
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Lab:
        started = threading.Event()
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env)

        def drain() -> None:
            assert self.process is not None and self.process.stderr is not None
            with self.log.open("ab") as log:
                for line in self.process.stderr:
                    log.write(line)
                    log.flush()
                    if STARTED in line:
                        started.set()
            started.set()

        threading.Thread(target=drain, daemon=True).start()
        started.wait(90)
        assert self.process.poll() is None, f"jupyter lab exited; see {self.log}"
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the REST API with the token (setup and cross-checks, not what the UI does)."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/cloudtty/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data = response.read()
                return response.status, json.loads(data) if data else None
        except urllib.error.HTTPError as e:
            data = e.read()
            return e.code, json.loads(data) if data else None


def open_lab(page: Page, lab: Lab, base: str | None = None, tree: str | None = None) -> None:
    """Load JupyterLab (the token logs the browser in: a cookie from then on), with the file ``tree`` (a path
    of the Jupyter root) open if given, and wait until it has restored its layout. Each page has a workspace
    of its own, so no test sees another's tabs."""
    workspace = f"ui-{next(_workspaces)}"
    opened = f"/tree/{tree}" if tree else ""
    page.goto(f"{base or lab.url}/lab/workspaces/{workspace}{opened}?token={lab.token}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=60000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.wait_for_function("() => window.jupyterapp.commands.hasCommand('cloudtty:new')")
    expect(page.locator("#jp-main-dock-panel")).to_be_visible()


_workspaces = itertools.count()


def open_notebook(page: Page, lab: Lab, path: str) -> None:
    """JupyterLab with the notebook ``path`` (of the Jupyter root) open, once its kernel is idle."""
    open_lab(page, lab, tree=path)
    wait_for_kernel(page)


def wait_for_kernel(page: Page) -> None:
    """Wait until the current notebook's kernel is idle, as a user waits for the kernel's indicator (a run
    asked for before may be dropped)."""
    page.wait_for_function(
        "() => { const panel = window.jupyterapp.shell.currentWidget;"
        " const kernel = panel && panel.sessionContext && panel.sessionContext.session"
        " && panel.sessionContext.session.kernel; return !!kernel && kernel.status === 'idle'; }",
        timeout=60000,
    )


def change_theme(page: Page, theme: str) -> None:
    """What Settings > Theme does (its command, with the theme's name), once the theme is in force.

    JupyterLab covers the page with its splash screen while a theme loads, and lifts it with a 200 ms
    fade that ends in `document.body.removeChild`. Shown again within that fade (a theme changed right
    after the page loaded), the splash is removed twice and the page throws "Failed to execute
    'removeChild'" (JupyterLab 4's own race): the page's splash is waited out first, and this one after.
    The main area takes the keyboard focus as it lifts.
    """
    splash = page.locator("#jupyterlab-splash")
    expect(splash).to_have_count(0, timeout=30000)
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function("(theme) => document.body.dataset.jpThemeName === theme", arg=theme, timeout=30000)
    expect(splash).to_have_count(0, timeout=30000)


def open_panel(page: Page) -> None:
    """Click the Cluster shells icon in the left side bar."""
    panel = page.locator("#jp-CloudTTY-panel")
    if not panel.is_visible():
        page.locator('.jp-SideBar.jp-mod-left [data-id="jp-CloudTTY-panel"]').click()
    expect(panel).to_be_visible()


# JavaScript run in the page: the terminal tab of a shell and what it shows.
_FIND = """
(name) => {
  for (const widget of window.jupyterapp.shell.widgets('main')) {
    const content = widget.content;
    if (content && content.shellName === name && !widget.isDisposed) { return content; }
  }
  return null;
}
"""

TERMINAL_TEXT = f"""
(name) => {{
  const term = ({_FIND})(name);
  if (!term || !term.terminal) {{ return null; }}
  const buffer = term.terminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) {{
    const line = buffer.getLine(i);  // a row that wraps on from the one above is the same line
    if (line.isWrapped && lines.length) {{ lines[lines.length - 1] += line.translateToString(true); }}
    else {{ lines.push(line.translateToString(true)); }}
  }}
  return lines.join('\\n');
}}
"""

TERMINAL_STATE = f"""
(name) => {{
  const term = ({_FIND})(name);
  if (!term || !term.terminal) {{ return null; }}
  return {{
    cols: term.terminal.cols, rows: term.terminal.rows, state: term.connectionState,
    renderer: term.renderer, background: term.terminal.options.theme.background,
    received: term.client.received, connections: term.client.connections, widgetId: term.parent && term.parent.id,
  }};
}}
"""


def wait_for_state(page: Page, name: str, condition: str, timeout: float = 30000) -> dict:
    """Wait until `condition`, JavaScript over `s` (the terminal's state above), holds; returns the state."""
    page.wait_for_function(
        f"(name) => {{ const s = ({TERMINAL_STATE})(name); return !!s && ({condition}); }}", arg=name, timeout=timeout
    )
    return terminal_state(page, name)


def terminal_text(page: Page, name: str) -> str:
    return page.evaluate(TERMINAL_TEXT, name) or ""


def terminal_state(page: Page, name: str) -> dict:
    return page.evaluate(TERMINAL_STATE, name)


def wait_for_text(page: Page, name: str, pattern: str, timeout: float = 20000) -> str:
    """Wait until the terminal's buffer matches the regular expression; returns the buffer."""
    page.wait_for_function(
        f"([name, pattern]) => {{ const t = ({TERMINAL_TEXT})(name);"
        " return t !== null && new RegExp(pattern, 'm').test(t); }",
        arg=[name, pattern],
        timeout=timeout,
    )
    return terminal_text(page, name)


def type_in_terminal(page: Page, name: str, line: str) -> None:
    """Focus the shell's terminal and type a command line, as a user does."""
    page.locator(f'.jp-CloudTTY-terminal[data-shell-name="{name}"] .xterm').click()
    page.keyboard.type(line)
    page.keyboard.press("Enter")
