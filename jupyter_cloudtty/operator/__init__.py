"""The CloudShell operator (kopf): pure rendering of a shell's objects and status, and the I/O around it.

Runs as its own program (``jupyter cloudtty operator``); the Jupyter server never imports it.
"""
