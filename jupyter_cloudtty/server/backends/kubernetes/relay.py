"""The ``TerminalStream`` of a remote ttyd: one WebSocket to the pod, shared by a session's clients.

The upstream side is picows, whose frame parser and masking are compiled (Cython): ttyd writes one
frame per read of its PTY (4 KiB), so at full speed the relay receives some 25,000 frames per
100 MB, and tornado's pure-Python client spent 0.8 s of the Jupyter server's CPU on them alone.
picows calls ``on_ws_frame`` for each frame as it is parsed, with no task or future per frame; the
output of every frame that has arrived is appended to one buffer, and ``read`` hands the session
all of it at once: output that came while the session was busy sending goes out as one frame to
the browser, not as as many frames as ttyd wrote.

Nothing is queued without bound. Once ``HIGH_WATER`` bytes of output wait in the buffer (the
session's clients are slow, or have all paused), reading from the socket stops until ``read``
takes them, so TCP pushes back on ttyd (which reads its PTY again only once it has written what
it read). Input and resizes go up as ttyd frames; their futures are done once the frame is on
the socket or in a transport buffer below its high-water mark. PAUSE and RESUME are not sent to
ttyd: 1.7.7 ignores PAUSE (its pty_pause is a no-op), and a RESUME reaching it while it holds a
chunk it cannot send yet makes it read the next one over it, so that chunk is lost.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Mapping

import picows
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyter_cloudtty.server.sessions import completed
from jupyter_cloudtty.ttyd import protocol
from jupyter_cloudtty.ttyd.client import _preferences

log = logging.getLogger(__name__)

# Output held before reading from ttyd stops: four PTY reads' worth of ttyd frames per 64 KiB,
# enough that a burst goes to the browser in a few large frames, small enough per session to
# keep hundreds of streaming sessions in a few tens of MB.
HIGH_WATER = 256 * 1024
MAX_FRAME = 4 * 1024 * 1024  # ttyd's frames are one PTY read (4 KiB) and its preferences
_OUTPUT = protocol.OUTPUT
_BINARY, _TEXT, _CONTINUATION = picows.WSMsgType.BINARY, picows.WSMsgType.TEXT, picows.WSMsgType.CONTINUATION
_CLOSE, _PONG = picows.WSMsgType.CLOSE, picows.WSMsgType.PONG


class TtydRefused(ConnectionError):
    """The HTTP upgrade to ttyd's WebSocket was answered with a status other than 101: by ttyd
    itself, or by what stands before it (the API server's service proxy, an Ingress)."""

    def __init__(self, code: int, reason: str, body: bytes):
        super().__init__(f"HTTP {code} {reason}")
        self.code, self.reason, self.body = code, reason, body


class NotRecorded(ConnectionError):
    """A recorded shell's recorder refused the terminal: it cannot record it (its reason says why)."""


class TtydStream(picows.WSListener):
    """A connected ttyd, after its title and preferences (which a session shows its clients)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.transport: picows.WSTransport | None = None
        self.title = ""
        self.preferences: dict[str, Any] = {}
        self.close_code: int | None = None  # from ttyd's close frame, if it sent one
        self.close_reason = ""  # its reason (a recorded shell's recorder says why it closed)
        self.lost = False  # ttyd stopped answering (set by the watchdog)
        self._output = bytearray()  # received, not yet read
        self._fragmented: int | None = None  # kind (first byte) of the message whose frames continue
        self._control = bytearray()  # a fragmented title or preferences message, so far
        self._greeted = self._loop.create_future()  # done at ttyd's preferences, its first output or its end
        self._wakeup: asyncio.Future[None] | None = None  # read() waiting for output or the end
        self._reading = True  # the socket is read (False past HIGH_WATER)
        self._flowing = True  # False while the session has paused the stream
        self._ended = False  # the connection is gone
        self._closed = False  # close() was called
        self._write_paused = False
        self._writable: list[asyncio.Future[None]] = []  # _send futures waiting for the transport's buffer
        self._done = completed()  # what _send returns when the transport has room
        self._last_heard = self._loop.time()
        self._waiting_since: float | None = None  # while read() waits for ttyd
        self._watchdog: asyncio.Task[None] | None = None

    # --- connecting ---------------------------------------------------------------------

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
        ssl_context: ssl.SSLContext | None = None,
    ) -> TtydStream:
        """Connect, send the handshake at this size, and read ttyd's title and preferences.

        Raises OSError (TtydRefused for an HTTP answer other than the upgrade) or TimeoutError when
        ttyd cannot be reached or refuses the connection.
        """
        extra = {**(headers or {}), "Sec-WebSocket-Protocol": protocol.SUBPROTOCOL}
        try:
            transport, stream = await asyncio.wait_for(
                picows.ws_connect(
                    cls, url, ssl_context=ssl_context, extra_headers=extra,
                    websocket_handshake_timeout=timeout, max_frame_size=MAX_FRAME, max_redirects=0,
                    enable_auto_ping=False, enable_auto_pong=True, logger_name=log,
                ),
                timeout,
            )  # fmt: skip
        except picows.WSHandshakeError as e:
            response = e.response
            if response is None:
                raise ConnectionError(f"not a WebSocket answer: {e}") from None
            # The body as far as it came with the headers: an API server's Status fits in one segment.
            raise TtydRefused(int(response.status), response.status.phrase, e.raw_body or b"") from None
        except picows.WSError as e:
            raise ConnectionError(str(e)) from None
        assert isinstance(stream, TtydStream)
        transport.send(_BINARY, protocol.encode_handshake(auth_token, columns, rows))
        try:
            # ttyd sends its title, then its preferences, then output; output that comes early is
            # kept rather than waiting for what may never come.
            await asyncio.wait_for(asyncio.shield(stream._greeted), timeout)
        except BaseException:
            transport.disconnect(graceful=False)
            raise
        if stream._ended and not stream._output:
            if stream.close_code == protocol.CloseCode.NOT_RECORDED:
                raise NotRecorded(stream.close_reason)
            raise ConnectionError(f"ttyd closed the connection ({stream.close_code})")
        if ping_interval:
            stream._watchdog = asyncio.ensure_future(stream._watch(ping_interval))
        return stream

    # --- picows' callbacks (as frames are parsed) ---------------------------------------

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == _BINARY or kind == _TEXT:
            payload = frame.get_payload_as_memoryview()
            if not payload:
                return
            first = payload[0]
            if not frame.fin:
                self._fragmented = first
            if first == _OUTPUT:
                self._out(payload[1:])
            else:
                self._control[:] = payload
                if frame.fin:
                    self._command()
        elif kind == _CONTINUATION:
            first, payload = self._fragmented, frame.get_payload_as_memoryview()
            if frame.fin:
                self._fragmented = None
            if first == _OUTPUT:
                self._out(payload)
            elif first is not None and len(self._control) + len(payload) <= MAX_FRAME:
                self._control += payload
                if frame.fin:
                    self._command()
        elif kind == _CLOSE:
            self.close_code = frame.get_close_code() or 1005  # 1005: a close frame without a code
            self.close_reason = frame.get_close_reason() or ""
            transport.send_close(picows.WSCloseCode.OK)
            transport.disconnect()
        elif kind == _PONG:
            self._last_heard = self._loop.time()

    def _out(self, data: memoryview) -> None:
        self._output += data
        if len(self._output) >= HIGH_WATER and self._reading and self.transport is not None:
            self._reading = False
            self.transport.underlying_transport.pause_reading()
        self._wake()
        self._greet()

    def _command(self) -> None:
        """A whole title or preferences message (in ``_control``)."""
        first, payload = self._control[:1], bytes(self._control[1:])
        if first == b"1":
            self.title = payload.decode(errors="replace")
        elif first == b"2":
            self.preferences = _preferences(payload)
            self._greet()
        self._control.clear()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._ended = True
        self._wake()
        self._greet()
        self._resume_writers()
        self._stop_watching()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._resume_writers()

    def _resume_writers(self) -> None:
        waiting, self._writable = self._writable, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    def _greet(self) -> None:
        """``connect`` may return: ttyd's preferences came, or its output (it sent none), or its end."""
        if not self._greeted.done():
            self._greeted.set_result(None)

    def _wake(self) -> None:
        # Once per batch: the reader runs after the callbacks of this socket read, so every frame
        # that came with it is in the buffer by then.
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # --- the session's side (TerminalStream) --------------------------------------------

    @property
    def closed_by_ttyd(self) -> bool:
        """ttyd ended the connection with a close frame (not just dropped by whatever end)."""
        return self.close_code is not None

    async def read(self) -> bytes:
        while True:
            if self._output:
                if self._flowing:
                    data = bytes(self._output)
                    self._output.clear()
                    if not self._reading and not self._ended and self.transport is not None:
                        self._reading = True
                        self.transport.underlying_transport.resume_reading()
                    return data
            elif self._ended:
                return b""
            self._wakeup = self._loop.create_future()
            if not self._output:
                self._waiting_since = self._loop.time()
            try:
                await self._wakeup
            finally:
                self._wakeup = None
                self._waiting_since = None

    def write(self, data: bytes) -> asyncio.Future[None]:
        return self._send(protocol.OUTPUT_PREFIX + data)  # INPUT is "0" too

    def resize(self, rows: int, columns: int) -> asyncio.Future[None]:
        return self._send(protocol.encode_resize(columns, rows))  # queued now, in order

    def _send(self, frame: bytes) -> asyncio.Future[None]:
        """Queue ``frame`` on the socket now (so frames keep their order); the future is done once the
        transport has room for more (at once, usually), or the connection is gone (the end of the
        output tells the session). A future, not a coroutine: a caller that cannot wait (a client
        attaching) may drop it."""
        if self._closed or self._ended or self.transport is None:
            return self._done
        self.transport.send(_BINARY, frame)
        if not self._write_paused:
            return self._done
        waiting: asyncio.Future[None] = self._loop.create_future()
        self._writable.append(waiting)  # a stalled ttyd: the caller waits, nothing more is queued
        return waiting

    def pause(self) -> None:
        self._flowing = False  # not sent to ttyd: see the module's docstring

    def resume(self) -> None:
        self._flowing = True
        self._wake()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._flowing = True  # a paused read() returns what it holds, then the end
            self._stop_watching()
            if self.transport is not None:
                self.transport.send_close(picows.WSCloseCode.GOING_AWAY)
                self.transport.disconnect()
            self._wake()

    # --- silence ------------------------------------------------------------------------

    async def _watch(self, interval: float) -> None:
        """Close on a ttyd silent for two ping intervals while we wait for it.

        Not while a slow client holds the relay back: the socket is not read then, its pongs
        included, and silence says nothing.
        """
        while not (self._closed or self._ended):
            await asyncio.sleep(interval)
            if self.transport is None or self._ended:
                return
            self.transport.send_ping()
            waiting = self._waiting_since
            if waiting is not None and self._loop.time() - max(self._last_heard, waiting) > 2 * interval:
                self.lost = True
                self.transport.disconnect(graceful=False)  # read() then ends the session
                return

    def _stop_watching(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()


async def answers(
    url: str, *, timeout: float, headers: Mapping[str, str] | None = None, ssl_context: ssl.SSLContext | None = None
) -> bool:
    """Whether the ttyd of ``url`` (its WebSocket) still answers HTTP.

    Asks for ttyd's ``/token`` beside the WebSocket: a small page that spawns no process. Any
    answer below 500 is ttyd's own (401 with a credential; 404 from a ttyd of another version);
    5xx is an API server's proxy that could not reach it.
    """
    scheme, _, rest = url.partition("://")
    page = f"{'https' if scheme == 'wss' else 'http'}://{rest.removesuffix('/ws')}/token"
    request = HTTPRequest(
        page, headers=dict(headers or {}), connect_timeout=timeout, request_timeout=timeout, ssl_options=ssl_context
    )
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except Exception:  # refused, reset, unresolvable, timed out: no answer is the answer
        return False
    return response.code < 500
