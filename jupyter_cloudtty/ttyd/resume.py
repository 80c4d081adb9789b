"""A ttyd client that outlives its connections, for code that is not async (a kernel's cell).

    client = ResumingClient(url, headers, on_output=text.feed, client_id="kernel-" + secrets.token_hex(8))
    client.send("ls\\r", timeout=10)        # from any thread; waits for a connection if there is none now
    with client.changed:                    # notified after each output, and when the terminal ends
        client.changed.wait(1)
    client.ended                            # (close code, reason) once it has ended for good
    client.close()

It connects sizeless (it never resizes the terminal). A dropped connection is resumed with
``?client=<id>&received=<n>``, so our server replays only what came after the bytes already
read: ``on_output`` never sees a byte twice. It tries again 0.5 s, 1 s, 2 s... at most 30 s
later, until a close that ``close_is_final`` calls final, a 403 or 404, or ``close()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import threading
from typing import Any, Callable

from tornado.httpclient import HTTPClientError

from .client import TtydClient, TtydClosed
from .protocol import close_is_final

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 30.0

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """One event loop on a thread for every resuming client of this process: a kernel's own loop is busy
    while a cell runs, and a terminal must keep reading then (a cell waiting for output, for one)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="cloudtty-terminals", daemon=True).start()
        return _loop


def retry_delay(attempt: int) -> float:
    """Seconds before the ``attempt``-th try in a row (from 0) to connect again."""
    return min(MAX_RETRY_DELAY, 0.5 * 2**attempt)


class ResumingClient:
    """One terminal, followed across connections on ``background_loop()``; its methods are for other threads."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        on_output: Callable[[bytes], None],
        *,
        client_id: str | None = None,
    ):
        self.url, self.headers, self.on_output = url, headers, on_output
        self.client_id = client_id or "client-" + secrets.token_hex(8)
        self.received = 0  # output bytes read, over every connection
        self.ended: tuple[int | None, str] | None = None
        self.changed = threading.Condition()  # notified after output and when the terminal ends
        self._loop = background_loop()
        self._connection: TtydClient | None = None
        self._connected = asyncio.Event()
        self._finished = asyncio.Event()
        self._closing = False
        self._connecting = False  # between a connect's start and its answer
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop)
        self._task.add_done_callback(self._done)

    async def _run(self) -> None:
        try:
            await self._follow()
        finally:
            self._finished.set()

    async def _follow(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                connection = await self._connect()
            except HTTPClientError as e:
                if e.code in (403, 404):  # the shell is gone, or this client's token is not accepted
                    why = "the shell no longer exists" if e.code == 404 else "the server refused the kernel's token"
                    self._end(e.code, why)
                    return
                log.debug("cloudtty: cannot connect to %s: %s", self.url, e)
            except Exception as e:  # noqa: BLE001  refused, reset, unreachable: try again
                log.debug("cloudtty: cannot connect to %s: %r", self.url, e)
            else:
                if self._closing:  # closed while this connection was being made: leave politely
                    connection.connection.close(1000)
                    return
                attempt = 0
                self._connection = connection
                self._connected.set()
                while (data := await connection.read()) is not None:
                    self.received = connection.received
                    self.on_output(data)
                    self._notify()
                self._connection = None
                self._connected.clear()
                if self._closing:
                    return
                if close_is_final(connection.close_code):
                    self._end(connection.close_code, connection.close_reason or "")
                    return
            await asyncio.sleep(retry_delay(attempt))
            attempt += 1

    async def _connect(self) -> TtydClient:
        self._connecting = True
        try:
            return await TtydClient.connect(
                self.url,
                headers=self.headers,
                columns=None,
                rows=None,
                client_id=self.client_id,
                received=self.received,
            )
        finally:
            self._connecting = False

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def _end(self, code: int | None, reason: str) -> None:
        self.ended = (code, reason)
        self._connected.set()  # wakes senders, who then see the end
        self._notify()

    def _done(self, task: Any) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("cloudtty: the terminal's reader failed", exc_info=task.exception())
            self._end(None, f"the kernel's reader failed: {task.exception()!r}")

    def send(self, data: str | bytes, timeout: float) -> None:
        """Type ``data``, over the current connection or the next one; ``TtydClosed`` once it has ended,
        ``TimeoutError`` if no connection took it within ``timeout`` seconds (it is then never sent)."""
        if self._closing:
            raise TtydClosed("the terminal was closed", None, None)
        sending = asyncio.run_coroutine_threadsafe(self._send(data), self._loop)
        try:
            sending.result(timeout)
        except (TimeoutError, concurrent.futures.TimeoutError):
            sending.cancel()  # never typed later, out of the blue
            raise TimeoutError(f"the shell's terminal did not answer within {timeout}s ({self.url})") from None

    async def _send(self, data: str | bytes) -> None:
        while True:
            if self._closing:
                raise TtydClosed("the terminal was closed", None, None)
            if self.ended is not None:
                code, reason = self.ended
                raise TtydClosed(f"the shell's terminal has ended: {code} {reason}", code, reason)
            connection = self._connection
            if connection is not None:
                try:
                    await connection.send(data)
                    return
                except Exception:  # noqa: BLE001  closed meanwhile: wait for the next connection
                    self._connected.clear()
            await self._connected.wait()

    def close(self) -> None:
        """Close the connection (the server sees this client leave) and stop following; idempotent."""
        if self._closing:
            return
        self._closing = True
        if not self._loop.is_running():  # the process is ending: nothing left to close politely
            return

        async def stop() -> None:
            self._connected.set()
            if self._connection is not None:
                self._connection.connection.close(1000)  # the reader sees the server's close, and returns
            if self._connection is not None or self._connecting:  # a connection being made closes itself
                try:
                    await asyncio.wait_for(self._finished.wait(), 5)
                except asyncio.TimeoutError:
                    pass
            self._task.cancel()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        except Exception as e:  # noqa: BLE001  already gone
            log.debug("cloudtty: closing %s: %r", self.url, e)
