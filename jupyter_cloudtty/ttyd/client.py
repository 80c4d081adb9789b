"""A ttyd client on tornado's WebSocket client: for tests, benchmarks, magics and the relay.

    client = await TtydClient.connect("ws://127.0.0.1:8888/cloudtty/api/shells/s/terminal",
                                      headers={"Authorization": "token ..."}, columns=80, rows=24)
    await client.send("echo hello\\r")
    await client.expect("hello")
    await client.close()

It speaks to a real ttyd as well as to our server.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Mapping
from urllib.parse import urlencode

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from . import protocol


class TtydClosed(ConnectionError):
    """The connection ended while output was awaited."""

    def __init__(self, message: str, code: int | None, reason: str | None):
        super().__init__(message)
        self.code = code
        self.reason = reason


class TtydClient:
    """One connection to a ttyd (or to our server's terminal WebSocket)."""

    def __init__(self, connection: WebSocketClientConnection, client_id: str | None = None, received: int = 0):
        self.connection = connection
        self.title: str | None = None
        self.preferences: dict[str, Any] | None = None
        self.client_id = client_id
        self.received = received  # OUTPUT payload bytes read, for resuming (see connect)
        self._pending = bytearray()  # output read by expect() but not yet matched
        self._ended = False  # the end of the connection was read (tornado hands it out once)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        columns: int | None = 80,
        rows: int | None = 24,
        auth_token: str = "",
        handshake: bool = True,
        connect_timeout: float = 20,
        max_message_size: int = 64 * 1024 * 1024,
        client_id: str | None = None,
        received: int = 0,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        downloads: str | None = None,
        **request_options: Any,
    ) -> TtydClient:
        """Connect and (unless ``handshake=False``) send the handshake with this size.

        With a ``client_id``, our server lets this client resume: reconnecting with the
        same id and the ``received`` count of the previous connection replays only the
        output that came after it (``TtydClient.resume``). A plain ttyd ignores both.
        ``request_options`` go to tornado's HTTPRequest (TLS settings, for one). With a
        ``ping_interval``, tornado pings the peer and closes on one that answers no ping within
        ``ping_timeout`` (default: the interval; 0: never). ``downloads`` ("jupyter" or "browser") tells our
        server where a ``tsz`` typed by this client saves (a plain ttyd ignores it).
        """
        if client_id is not None:
            url += ("&" if "?" in url else "?") + urlencode({"client": client_id, "received": received})
        request = HTTPRequest(url, headers=dict(headers or {}), connect_timeout=connect_timeout, **request_options)
        connection = await websocket_connect(
            request,
            subprotocols=[protocol.SUBPROTOCOL],
            max_message_size=max_message_size,
            ping_interval=ping_interval,
            ping_timeout=ping_interval if ping_timeout is None else ping_timeout,
        )
        if connection.protocol is not None:
            connection.protocol.set_nodelay(True)
        client = cls(connection, client_id, received)
        if handshake:
            await client.handshake(columns, rows, auth_token, downloads)
        return client

    # --- sending ------------------------------------------------------------------------

    async def _write(self, frame: bytes) -> None:
        await self.connection.write_message(frame, binary=True)

    async def handshake(
        self, columns: int | None = None, rows: int | None = None, auth_token: str = "", downloads: str | None = None
    ) -> None:
        await self._write(protocol.encode_handshake(auth_token, columns, rows, downloads))

    async def send(self, data: str | bytes) -> None:
        """Type ``data`` (INPUT). A newline in a terminal is ``\\r``."""
        await self._write(b"0" + (data.encode() if isinstance(data, str) else data))

    async def resize(self, columns: int, rows: int) -> None:
        await self._write(protocol.encode_resize(columns, rows))

    async def pause(self) -> None:
        await self._write(b"2")

    async def resume(self) -> None:
        await self._write(b"3")

    # --- receiving ----------------------------------------------------------------------

    async def read_frame(self) -> bytes | None:
        """The next raw frame, or None once the connection has closed."""
        if self._ended:
            return None
        message = await self.connection.read_message()
        if message is None:
            self._ended = True
            return None
        frame = message.encode() if isinstance(message, str) else message
        if frame[:1] == b"0":
            self.received += len(frame) - 1
        elif frame[:1] == b"1":
            self.title = frame[1:].decode(errors="replace")
        elif frame[:1] == b"2":
            self.preferences = _preferences(frame[1:])
        return frame

    async def read(self) -> bytes | None:
        """The next OUTPUT payload, or None once the connection has closed."""
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            return data
        while (frame := await self.read_frame()) is not None:
            if frame[:1] == b"0":
                return frame[1:]
        return None

    async def expect(self, pattern: str | bytes | re.Pattern[bytes], timeout: float = 10) -> re.Match[bytes]:
        """Read output until ``pattern`` (a regex) matches; consume output up to the match end.

        Raises TimeoutError or TtydClosed with what was seen, to make failures readable.
        """
        regex = (
            pattern
            if isinstance(pattern, re.Pattern)
            else re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        )

        async def search() -> re.Match[bytes]:
            while not (match := regex.search(bytes(self._pending))):
                frame = await self.read_frame()
                if frame is None:
                    raise TtydClosed(
                        f"closed ({self.close_code} {self.close_reason!r}) before {regex.pattern!r}; "
                        f"seen: {bytes(self._pending[-500:])!r}",
                        self.close_code,
                        self.close_reason,
                    )
                if frame[:1] == b"0":
                    self._pending += frame[1:]
            return match

        try:
            match = await asyncio.wait_for(search(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no {regex.pattern!r} within {timeout}s; seen: {bytes(self._pending[-500:])!r}"
            ) from None
        del self._pending[: match.end()]
        return match

    async def wait_closed(self, timeout: float = 10) -> tuple[int | None, str | None]:
        """Read until the server closes; return its (code, reason). Output is discarded."""

        async def drain() -> None:
            while await self.read_frame() is not None:
                pass

        await asyncio.wait_for(drain(), timeout)
        return self.close_code, self.close_reason

    @property
    def close_code(self) -> int | None:
        return self.connection.close_code

    @property
    def close_reason(self) -> str | None:
        return self.connection.close_reason

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close and wait for the server's close frame."""
        self.connection.close(code, reason)
        try:
            await self.wait_closed(timeout=10)
        except asyncio.TimeoutError:
            pass

    async def __aenter__(self) -> TtydClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _preferences(payload: bytes) -> dict[str, Any]:
    """ttyd's SET_PREFERENCES as a dict; a payload that is not a JSON object counts as none (a
    broken ttyd's preferences must not end a terminal whose output is fine)."""
    try:
        preferences = json.loads(payload)
    except ValueError:
        return {}
    return preferences if isinstance(preferences, dict) else {}
