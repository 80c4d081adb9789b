"""A new terminal of either kind in JupyterLab, timed from its command to its first prompt (Playwright).

The two kinds: a local shell of the Cluster shells panel (``cloudtty:new``, what its **New shell**
button runs) and JupyterLab's own terminal (``terminal:create-new``, *File > New > Terminal*). Both
are timed the same way, in the page: from running the command until the new tab's xterm.js shows a
prompt at its cursor (a line ending in ``$``, ``#``, ``%`` or ``>`` with the cursor after it), checked
at every frame. ``lab_with_shell`` runs both kinds with the same shell. tests/ui/test_new_shell.py
and bench/newshell.py use them.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page

from tests.harness.lab import Lab

KINDS = ("cloudtty", "jupyterlab")
COMMANDS = {"cloudtty": "cloudtty:new", "jupyterlab": "terminal:create-new"}
# The REST request that creates each kind (its Resource Timing entry) and its terminal's WebSocket.
CREATE_PATHS = {"cloudtty": "/cloudtty/api/shells", "jupyterlab": "/api/terminals"}
SOCKET_PATHS = {"cloudtty": "/cloudtty/api/shells/", "jupyterlab": "/terminals/websocket/"}
# What ``time_to_prompt`` returns the times of, in ms after the command (None: not seen).
STEPS = ("created (REST)", "WebSocket made", "WebSocket open", "first frame", "prompt shown")

# An init script (``BrowserContext.add_init_script``): every WebSocket notes when it was made, opened and
# first received a frame, for the steps above. Without it, those steps are None.
SOCKET_LOG = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const entry = { url: String(args[0]), made: performance.now(), open: null, first: null };
      window.__sockets.push(entry);
      this.addEventListener('open', () => { entry.open = performance.now(); });
      this.addEventListener('message', () => { entry.first ??= performance.now(); });
    }
  };
})();
"""

_TIME_TO_PROMPT = """
async ([command, kind, createPath, socketPath]) => {
  const app = window.jupyterapp;
  const xterm = w => (kind === 'cloudtty' ? w.content && w.content.terminal : w.content && w.content._term);
  const atPrompt = term => {  // what the line shows up to the cursor ends in a prompt's sign
    const buffer = term.buffer.active;
    const line = buffer.getLine(buffer.baseY + buffer.cursorY);
    return !!line && /[$#%>]$/.test(line.translateToString(false, 0, buffer.cursorX).trimEnd());
  };
  const sockets = window.__sockets || [];
  const before = new Set(app.shell.widgets('main'));
  const socketsBefore = sockets.length;
  const start = performance.now();
  void app.commands.execute(command);
  const [widget, shown] = await new Promise((resolve, reject) => {
    const tick = () => {
      for (const w of app.shell.widgets('main')) {
        const term = before.has(w) ? null : xterm(w);
        if (term && atPrompt(term)) { resolve([w, performance.now()]); return; }
      }
      if (performance.now() - start > 60000) { reject(new Error(`no prompt from ${command} in 60 s`)); }
      else { requestAnimationFrame(tick); }
    };
    requestAnimationFrame(tick);
  });
  const created = performance.getEntriesByType('resource').find(e => e.startTime >= start
    && e.initiatorType === 'fetch' && new URL(e.name).pathname.endsWith(createPath));
  const socket = sockets.slice(socketsBefore).find(s => s.url.includes(socketPath));
  const since = t => (t === null || t === undefined ? null : t - start);
  return {
    widgetId: widget.id,
    name: kind === 'cloudtty' ? widget.content.shellName : widget.content.session.name,
    steps: [since(created && created.responseEnd), since(socket && socket.made), since(socket && socket.open),
            since(socket && socket.first), shown - start],
  };
}
"""

# Close the tab and end its process (JupyterLab's terminal: shut down; a shell: deleted by the caller).
_CLOSE = """
async ([widgetId, kind]) => {
  const app = window.jupyterapp;
  const widget = Array.from(app.shell.widgets('main')).find(w => w.id === widgetId);
  if (kind === 'jupyterlab') { await widget.content.session.shutdown(); }
  widget.dispose();
}
"""


def lab_with_shell(base: Path, log: Path, shell: list[str] | None = None) -> Lab:
    """A Lab (not started) whose two kinds of terminal both run ``shell``; None: the server's default for
    each (the user's login shell, ``$SHELL -l``, as both run it when the server has no terminal), with the
    environment the server was started in (the tests' Lab gives bash a plain PS1)."""
    lab = Lab(base, log)
    lab.argv = [arg for arg in lab.argv if not arg.startswith("--CloudTTY.shell_command=")]
    lab.env.pop("PS1", None)
    if shell:
        lab.argv += [f"--CloudTTY.shell_command={word}" for word in shell]  # a List: one option per item
        lab.argv.append(f"--ServerApp.terminado_settings=shell_command={json.dumps(shell)}")
    return lab


def time_to_prompt(page: Page, lab: Lab, kind: str) -> list[float | None]:
    """Open a new terminal of ``kind`` as its command does and time it to its prompt (``STEPS``, in ms);
    then close its tab and end its process."""
    result = page.evaluate(_TIME_TO_PROMPT, [COMMANDS[kind], kind, CREATE_PATHS[kind], SOCKET_PATHS[kind]])
    page.evaluate(_CLOSE, [result["widgetId"], kind])
    if kind == "cloudtty":
        status, _ = lab.api("DELETE", f"shells/{result['name']}")
        assert status == 204, status
    return result["steps"]
