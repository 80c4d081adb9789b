"""Subcommands of `jupyter cloudtty` (which alone starts a server with the extension)."""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp


class CrdApp(JupyterApp):
    """Print the CloudShell CRD: `jupyter cloudtty crd | kubectl apply -f -`."""

    name = "jupyter-cloudtty-crd"
    description = __doc__

    def start(self) -> None:
        from .operator import crd_yaml

        sys.stdout.write(crd_yaml())
