"""``jupyter_cloudtty.app``: the server extension's entry point, kept where Jupyter's config looks for it."""

from .server.app import CloudTTY, main

__all__ = ["CloudTTY", "main"]
