"""The Jupyter server extension: configuration (``c.CloudTTY.*``), routes and shutdown."""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import sys
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Float, Integer, List, Unicode, default

from ._version import __version__
from .backends import Backend, LocalBackend
from .handlers import API_PATH, handlers


def login_shell() -> list[str]:
    """The user's login shell, run as a login shell when the server has no terminal.

    Like JupyterLab's terminals: a server started by a spawner has not sourced the
    user's profile, so ``-l`` does it.
    """
    shell = os.environ.get("SHELL") or pwd.getpwuid(os.getuid()).pw_shell or shutil.which("sh") or "/bin/sh"
    return [shell] if sys.stdout.isatty() else [shell, "-l"]


class CloudTTY(ExtensionApp):
    """Cloud shells in Jupyter: a REST API for shells and their terminals in ttyd's protocol."""

    name = "jupyter_cloudtty"
    version = __version__
    description = __doc__
    load_other_extensions = True
    subcommands = {
        "crd": (
            "jupyter_cloudtty.commands.CrdApp",
            "Print the CloudShell CRD (jupyter cloudtty crd | kubectl apply -f -).",
        ),
        "operator": ("jupyter_cloudtty.commands.OperatorApp", "Run the CloudShell operator (kopf)."),
    }

    max_shells = Integer(
        32,
        config=True,
        help="Most shells this server keeps at once (running or ended); creating more answers 429.",
    )
    scrollback_bytes = Integer(
        512 * 1024,
        config=True,
        help="Recent output kept per shell and replayed to a client that attaches later (bytes).",
    )
    shell_command = List(
        Unicode(),
        config=True,
        help="Command of a local shell whose spec has no commandAction (default: the user's login shell).",
    )
    working_dir = Unicode(
        config=True,
        help="Working directory of local shells (default: the server's root_dir).",
    )
    kill_timeout = Float(
        2.0,
        config=True,
        help="Seconds a shell's processes get to exit after SIGHUP before SIGKILL.",
    )
    handshake_timeout = Float(
        10.0,
        config=True,
        help="Seconds a terminal WebSocket may stay open without sending ttyd's handshake.",
    )

    owner = Unicode(
        config=True,
        help="Whose shells this server manages: the owner label and annotation of its CloudShells "
        "(default: $JUPYTERHUB_USER on JupyterHub, else the user the server runs as).",
    )

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    @default("shell_command")
    def _default_shell_command(self) -> list[str]:
        return login_shell()

    @default("working_dir")
    def _default_working_dir(self) -> str:
        return os.path.expanduser(self.serverapp.root_dir) if self.serverapp else os.getcwd()

    backend: Backend

    def initialize_settings(self) -> None:
        base_url = self.serverapp.base_url
        self.backend = LocalBackend(
            shell_command=self.shell_command,
            cwd=self.working_dir,
            terminal_url=lambda name: url_path_join(base_url, API_PATH, name, "terminal"),
            max_shells=self.max_shells,
            scrollback_bytes=self.scrollback_bytes,
            kill_timeout=self.kill_timeout,
        )
        self.log.info(
            "jupyter_cloudtty %s: %s backend, shells start in %s", __version__, self.backend.kind, self.working_dir
        )

    def info(self) -> dict[str, Any]:
        """``GET /cloudtty/api/info``."""
        return {"backend": self.backend.kind, "version": __version__, "identity": self.owner, **self.backend.info()}

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers(self.backend, self.handshake_timeout, self.info))

    async def stop_extension(self) -> None:
        await self.backend.shutdown()


# `jupyter cloudtty`: a Jupyter server with this extension; `--help-all` lists c.CloudTTY options.
main = CloudTTY.launch_instance
