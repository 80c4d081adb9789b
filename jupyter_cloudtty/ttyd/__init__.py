"""The ttyd WebSocket protocol and a client of it, shared by the server (relay) and the kernel.

from jupyter_cloudtty.ttyd import TtydClient
"""

from .client import TtydClient, TtydClosed

__all__ = ["TtydClient", "TtydClosed"]
