"""Backends: where shells run. ``local`` (a PTY on the Jupyter server's machine) or ``kubernetes``."""
