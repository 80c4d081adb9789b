"""A shell's terminal in a cell's output: ``ShellTerminal``, an ipywidget.

    from jupyter_cloudtty import ShellTerminal
    term = ShellTerminal.new(commandAction="bash", ttl=3600)   # or ShellTerminal("pods")
    term                                   # the terminal, in the output
    term.send("kubectl get pods\\r")
    term.wait_for(r"^NAME ")               # a regular expression over .output
    term.output                            # plain text of what it has shown
    term.close()                           # delete=True deletes the shell too

Two clients of the same shell, each with one job:

- the **browser** draws it: the JupyterLab extension registers the widget's view, which is the
  terminal of a terminal tab (xterm.js on the same ttyd client, theme, font, banners, resume), and
  connects from the page itself (the page's base URL and login, as the tab does);
- the **kernel** keeps its own connection to the terminal (``ttyd.resume.ResumingClient``, on a thread
  of its own, which never sends a size and so never resizes the terminal, and resumes after a drop):
  ``send`` types through it, and what comes back is kept as plain text for ``output``
  (``terminaltext``), whether or not a browser shows the widget (nbconvert, VS Code, a closed tab).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Any

from ipywidgets import DOMWidget
from traitlets import Unicode

from jupyter_cloudtty.ttyd.client import TtydClosed
from jupyter_cloudtty.ttyd.resume import ResumingClient

from . import server_client
from .server_client import CloudTTYClient, ServerError
from .terminaltext import TerminalText

# The JupyterLab extension (labextension/package.json) registers the model and view under this name.
MODULE_NAME = "jupyter-cloudtty"
MODULE_VERSION = "^0.1.0"
DEFAULT_HEIGHT = "360px"


def default_client() -> CloudTTYClient:
    """The REST client of this kernel's Jupyter server (found once per process; see ``restclient``)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = CloudTTYClient(server_client.find_server())
        return _client


_client: CloudTTYClient | None = None
_client_lock = threading.Lock()


def shell_spec(
    commandAction: str | None = None, ttl: int | None = None, once: bool = False, spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A CloudShell spec from ``ShellTerminal.new``'s arguments (``spec`` for any other field)."""
    built = dict(spec or {})
    if commandAction is not None:
        built["commandAction"] = commandAction
    if ttl is not None:
        built["ttlSecondsAfterStarted"] = ttl
    if once:
        built["once"] = True
    return built


class ShellTerminal(DOMWidget):
    """The terminal of one of this server's shells, in a cell's output; ``.send``, ``.output``, ``.close``."""

    _model_name = Unicode("ShellTerminalModel").tag(sync=True)
    _view_name = Unicode("ShellTerminalView").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    name = Unicode(read_only=True, help="the shell's name").tag(sync=True)

    def __init__(self, name: str, *, client: CloudTTYClient | None = None, max_lines: int = 10_000, **kwargs: Any):
        """Attach to the shell ``name`` (``ServerError`` with the server's message if there is none).

        ``max_lines``: lines ``output`` keeps. Other keyword arguments are the widget's
        (``layout={"height": "500px"}``; the default height is 360px).
        """
        client = client or default_client()
        shell = client.get(name)
        kwargs.setdefault("layout", {"height": DEFAULT_HEIGHT})
        super().__init__(**kwargs)
        self.set_trait("name", shell["name"])
        self.client = client
        self._text = TerminalText(max_lines=max_lines)
        headers = {"Authorization": f"token {client.server.token}"} if client.server.token else {}
        client_id = "kernel-" + secrets.token_hex(8)
        self._connection = ResumingClient(client.terminal_url(self.name), headers, self._text.feed, client_id=client_id)

    @classmethod
    def new(
        cls,
        name: str | None = None,
        *,
        commandAction: str | None = None,
        ttl: int | None = None,
        once: bool = False,
        spec: dict[str, Any] | None = None,
        client: CloudTTYClient | None = None,
        **kwargs: Any,
    ) -> ShellTerminal:
        """Create a shell (``POST /cloudtty/api/shells``) and attach to it.

        ``commandAction``: the command (default: a login shell); ``ttl``: its lifetime in seconds
        (``ttlSecondsAfterStarted``); ``once``: it ends when its last client leaves (this widget's
        kernel is one: ``close()`` it); ``spec``: any other CloudShell field. A name is generated
        when none is given. The server's refusal is raised as ``ServerError`` with its message.
        """
        client = client or default_client()
        shell = client.create(name, shell_spec(commandAction, ttl, once, spec))
        return cls(shell["name"], client=client, **kwargs)

    @property
    def output(self) -> str:
        """Plain text of what the terminal has shown (its last ``max_lines`` lines; no colours).

        The kernel's own copy, from its own connection: complete whether or not a browser shows the
        widget. Programs on the alternate screen (vim, less, top) are left out, as from a scrollback.
        """
        return self._text.text

    @property
    def ended(self) -> tuple[int | None, str] | None:
        """``(close code, reason)`` once the shell's terminal has ended (as docs/reference.md's table), else None."""
        return self._connection.ended

    def send(self, data: str | bytes, timeout: float = 10.0) -> None:
        """Type ``data`` into the shell (a newline is ``"\\r"``), as the user would."""
        self._connection.send(data, timeout)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Wait until ``output`` matches ``pattern`` (a regular expression, ``^``/``$`` per line); its match.

        ``TimeoutError`` after ``timeout`` seconds, ``TtydClosed`` if the terminal ends first;
        both show the last lines.
        """
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        changed = self._connection.changed
        with changed:
            while True:
                text = self._text.text
                match = regex.search(text)
                if match:
                    return match
                tail = "\n".join(text.split("\n")[-5:])
                if self.ended is not None:
                    code, reason = self.ended
                    message = f"the terminal ended ({code} {reason}) before {regex.pattern!r}; last lines:\n{tail}"
                    raise TtydClosed(message, code, reason)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {regex.pattern!r} within {timeout}s; last lines:\n{tail}")
                changed.wait(remaining)

    def close(self, delete: bool = False) -> None:
        """Disconnect: the kernel's connection closes and the terminal leaves the output; the shell goes on
        (a ``once`` shell ends when its last client has left). ``delete=True`` deletes the shell too."""
        connection = getattr(self, "_connection", None)  # absent when __init__ raised
        if connection is not None:
            connection.close()
        super().close()
        if delete and self.name:
            try:
                self.client.delete(self.name)
            except ServerError as e:
                if e.status != 404:
                    raise

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle:  # what a front end without our JupyterLab extension shows instead
            bundle["text/plain"] = (
                f"ShellTerminal({self.name!r}): its terminal shows in JupyterLab 4 and Notebook 7 with "
                "jupyter-cloudtty; .output has its text"
            )
        return bundle
