"""Backends: where shells run. ``local`` (a PTY on the Jupyter server's machine) for now."""

from .base import Backend
from .local import LocalBackend

__all__ = ["Backend", "LocalBackend"]
