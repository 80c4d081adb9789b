"""A Server-Sent Events client for tests (aiohttp's streaming response)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp
import yarl


class EventStream:
    """``async with EventStream(url, headers) as events: await events.next()`` -> (event, data)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url
        self.headers = headers or {}
        self.status: int | None = None
        self.content_type: str | None = None
        self.comments = 0
        self._events: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        # encoded=True: keep the URL as given (yarl would decode the base URL's %40)
        response = await self._session.get(yarl.URL(self.url, encoded=True), headers=self.headers)
        self.status, self.content_type = response.status, response.headers.get("Content-Type")
        self._reader = asyncio.ensure_future(self._read(response))
        return self

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        event, data = "message", []
        try:
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self._events.put_nowait((event, json.loads("\n".join(data))))
                    event, data = "message", []
        except aiohttp.ClientError:
            pass
        finally:
            self._events.put_nowait(None)

    async def next(self, timeout: float = 10) -> tuple[str, Any]:
        item = await asyncio.wait_for(self._events.get(), timeout)
        if item is None:
            raise EOFError("the event stream ended")
        return item

    async def until(self, check: Callable[[str, Any], bool], timeout: float = 10) -> tuple[str, Any]:
        """Read events until one satisfies ``check``; return it."""

        async def read() -> tuple[str, Any]:
            while True:
                event, data = await self.next(timeout=None)  # type: ignore[arg-type]
                if check(event, data):
                    return event, data

        return await asyncio.wait_for(read(), timeout)

    async def ended(self, timeout: float = 10) -> bool:
        """Wait until the server ends the stream."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return True

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()
