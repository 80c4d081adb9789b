"""The ttyd WebSocket protocol and clients of it, shared by the server (relay) and the kernel.

from jupyter_cloudtty.ttyd import TtydClient              # async: tests, benchmarks, the relay
from jupyter_cloudtty.ttyd.resume import ResumingClient    # from threads, resumed after drops: the widget
"""

from .client import TtydClient, TtydClosed

__all__ = ["TtydClient", "TtydClosed"]
