"""Whether a path lies inside a folder: the Jupyter root for a transfer's paths (server/transfers.py), a
download's folder for the names the shell sends (server/trzsz_peer.py).

Light on purpose: the peer is a process of its own per transfer, and imports this and not the server."""

from __future__ import annotations

import os


def inside(folder: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or under it. Both must be resolved already (``os.path.realpath``):
    the check is of the names, so a ``..`` or a link out must have been followed first."""
    folder, path = os.fspath(folder), os.fspath(path)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
