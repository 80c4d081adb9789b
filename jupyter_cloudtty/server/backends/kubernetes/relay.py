"""The ``TerminalStream`` of a remote ttyd: one WebSocket to the pod, shared by a session's clients.

Output frames are passed on as they come; input and resize go up as ttyd frames. Nothing
is queued here: reading waits for the session's clients to take each frame (tornado reads
the next frame only then, so TCP pushes back on ttyd), and writing waits until the frame is
on the socket. A PAUSE stops the reading until RESUME (the frame being read then is held):
the push back of TCP is what holds ttyd's output (ttyd reads its PTY again only once it has
written what it read). PAUSE and RESUME are not sent to ttyd: 1.7.7 ignores PAUSE (its
pty_pause is a no-op), and a RESUME reaching it while it holds a chunk it cannot send yet
makes it read the next one over it, so that chunk is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClosedError

from jupyter_cloudtty.ttyd import protocol
from jupyter_cloudtty.ttyd.client import TtydClient


class TtydStream:
    """A connected ttyd, after its title and preferences (which a session shows its clients)."""

    def __init__(self, client: TtydClient, first_output: bytes = b"", ping_interval: float | None = None):
        self.client = client
        self._first = first_output
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._last_heard = self._loop.time()
        self._waiting_since: float | None = None  # while read() waits for ttyd
        self.lost = False  # ttyd stopped answering (set by the watchdog)
        self._flowing = asyncio.Event()  # cleared while paused: read() holds its output, reads no more
        self._flowing.set()
        self._watchdog: asyncio.Task[None] | None = None
        if ping_interval:
            # tornado calls its connection's on_pong for every pong: note when ttyd last answered.
            client.connection.on_pong = lambda data: self._heard()  # type: ignore[method-assign]
            self._watchdog = asyncio.ensure_future(self._watch(ping_interval))

    def _heard(self) -> None:
        self._last_heard = self._loop.time()

    async def _watch(self, interval: float) -> None:
        """Close on a ttyd silent for two ping intervals while we wait for it.

        Not while a slow client holds the relay back: tornado then reads nothing from ttyd, its
        pongs included, and silence says nothing. (So tornado's own ping timeout is off.)
        """
        while not self._closed:
            await asyncio.sleep(interval)
            waiting = self._waiting_since
            if waiting is not None and self._loop.time() - max(self._last_heard, waiting) > 2 * interval:
                self.lost = True
                self.client.connection.close()  # read() then ends the session
                return

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        rows: int,
        columns: int,
        headers: Mapping[str, str] | None = None,
        auth_token: str = "",
        timeout: float = 10,
        ping_interval: float | None = None,
        **request_options: Any,
    ) -> TtydStream:
        """Connect, send the handshake at this size, and read ttyd's title and preferences.

        Raises OSError (or tornado's HTTPClientError, or TimeoutError) when ttyd cannot be
        reached or refuses the connection.
        """
        client = await TtydClient.connect(
            url,
            headers=headers,
            columns=columns,
            rows=rows,
            auth_token=auth_token,
            connect_timeout=timeout,
            request_timeout=timeout,
            ping_interval=ping_interval or None,
            ping_timeout=0,  # our watchdog tells silence from backpressure
            **request_options,
        )
        first = b""

        async def greeting() -> None:
            nonlocal first
            # ttyd sends its title, then its preferences, then output; keep output that
            # comes early rather than wait for what may never come.
            while client.preferences is None:
                frame = await client.read_frame()
                if frame is None:
                    raise ConnectionError(f"ttyd closed the connection ({client.close_code} {client.close_reason})")
                if frame[:1] == b"0":
                    first = frame[1:]
                    return

        try:
            await asyncio.wait_for(greeting(), timeout)
        except BaseException:
            client.connection.close()
            raise
        return cls(client, first, ping_interval)

    @property
    def closed_by_ttyd(self) -> bool:
        """ttyd ended the connection with a close frame (not just dropped by whatever end)."""
        return self.client.close_code is not None

    @property
    def title(self) -> str:
        return self.client.title or ""

    @property
    def preferences(self) -> dict[str, Any]:
        return self.client.preferences or {}

    async def read(self) -> bytes:
        data = await self._output()
        if data:
            await self._flowing.wait()  # paused: held here, and nothing more read from ttyd, until RESUME
        return data

    async def _output(self) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        self._waiting_since = self._loop.time()
        try:
            while (frame := await self.client.read_frame()) is not None:
                self._last_heard = self._loop.time()
                if frame[:1] == b"0":
                    return frame[1:]
        finally:
            self._waiting_since = None
        self._stop_watching()
        return b""

    async def write(self, data: bytes) -> None:
        await self._send(protocol.OUTPUT_PREFIX + data)  # INPUT is "0" too

    def resize(self, rows: int, columns: int) -> asyncio.Future[None]:
        return self._send(protocol.encode_resize(columns, rows))  # queued now, in order

    def _send(self, frame: bytes) -> asyncio.Future[None]:
        """Queue ``frame`` on the socket now (so frames keep their order); the future is done once it
        is written, or the connection is gone (the end of the output tells the session). A future,
        not a coroutine: a caller that cannot wait (a client attaching) may drop it."""
        done: asyncio.Future[None] = self._loop.create_future()
        sent = self._post(frame)
        if sent is None:
            done.set_result(None)
        else:
            sent.add_done_callback(lambda _: done.done() or done.set_result(None))
        return done

    def pause(self) -> None:
        self._flowing.clear()  # not sent to ttyd: see the module's docstring

    def resume(self) -> None:
        self._flowing.set()

    def _post(self, frame: bytes) -> asyncio.Future[None] | None:
        """Queue a frame on the socket now (so frames keep their order); None once closed."""
        if self._closed:
            return None
        try:
            sent = self.client.connection.write_message(frame, binary=True)
        except WebSocketClosedError:
            return None
        sent.add_done_callback(_retrieve)
        return sent

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._flowing.set()  # a paused read() returns: the session is ending
            self._stop_watching()
            self.client.connection.close()


async def answers(
    url: str, *, timeout: float, headers: Mapping[str, str] | None = None, **request_options: Any
) -> bool:
    """Whether the ttyd of ``url`` (its WebSocket) still answers HTTP.

    Asks for ttyd's ``/token`` beside the WebSocket: a small page that spawns no process. Any
    answer below 500 is ttyd's own (401 with a credential; 404 from a ttyd of another version);
    5xx is an API server's proxy that could not reach it.
    """
    scheme, _, rest = url.partition("://")
    page = f"{'https' if scheme == 'wss' else 'http'}://{rest.removesuffix('/ws')}/token"
    request = HTTPRequest(
        page, headers=dict(headers or {}), connect_timeout=timeout, request_timeout=timeout, **request_options
    )
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except Exception:  # refused, reset, unresolvable, timed out: no answer is the answer
        return False
    return response.code < 500


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # a closed socket is told by the end of the output, not here
