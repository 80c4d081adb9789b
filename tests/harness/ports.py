"""Ports for the servers tests start."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on now, taken below the ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, where any outgoing
    connection may take it before the server we start binds it; below that range only listeners compete.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")
