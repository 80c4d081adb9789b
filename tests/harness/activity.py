"""The server's activity as a hub's idle culler reads it: ``/api/status``'s ``last_activity``
(jupyterhub-singleuser reports the same figure), and the moment a server has read a terminal's frames."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from jupyter_cloudtty.ttyd import TtydClient


def last_activity_of(status: bytes) -> datetime:
    """``last_activity`` of a ``GET /api/status`` answer's body."""
    return datetime.fromisoformat(json.loads(status)["last_activity"].replace("Z", "+00:00"))


async def read_by_the_server(term: TtydClient) -> None:
    """Once the server has read every frame sent so far: it answers a ping after them (and a ping is
    no activity: it is not a message)."""
    pong = asyncio.get_running_loop().create_future()
    term.connection.on_pong = lambda data: pong.done() or pong.set_result(None)  # type: ignore[method-assign]
    term.connection.ping(b"are you there")
    await asyncio.wait_for(pong, 10)
