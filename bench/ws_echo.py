"""A bare WebSocket echo server (tornado, TCP_NODELAY): the floor under any terminal relay.

    python -m bench.ws_echo PORT

Answers every INPUT frame ``0<bytes>`` with OUTPUT ``0<bytes>`` and does nothing else, so a
ttyd client measured against it pays only for WebSocket framing, loopback TCP and itself.
"""

import asyncio
import sys

from tornado.web import Application
from tornado.websocket import WebSocketHandler


class Echo(WebSocketHandler):
    def select_subprotocol(self, subprotocols):
        return "tty" if "tty" in subprotocols else None

    def open(self):
        self.set_nodelay(True)

    async def on_message(self, message):
        if message[:1] == b"0":
            await self.write_message(message, binary=True)


async def main(port: int) -> None:
    Application([(r"/ws", Echo)]).listen(port, "127.0.0.1")
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
