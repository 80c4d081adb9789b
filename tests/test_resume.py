"""The resuming ttyd client (the kernel's connection of a widget) against a stand-in server that drops it:
what reaches ``on_output`` (every byte once), what it asks for when it comes back, and how it ends."""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError
from tornado.websocket import WebSocketHandler

from jupyter_cloudtty.ttyd import protocol
from jupyter_cloudtty.ttyd.client import TtydClosed
from jupyter_cloudtty.ttyd.resume import MAX_RETRY_DELAY, ResumingClient, retry_delay


class Terminal(WebSocketHandler):
    """One connection: says who connected with which ``?client=&received=``, and what it typed."""

    def initialize(self, server: StandIn) -> None:
        self.server = server

    async def get(self, *args: str) -> None:
        if self.server.gone:
            raise HTTPError(404)
        await super().get(*args)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return protocol.SUBPROTOCOL

    def open(self) -> None:
        query = parse_qs(urlsplit(self.request.uri).query)
        self.server.connections.put_nowait((self, query["client"][0], int(query["received"][0])))

    def on_message(self, message: str | bytes) -> None:
        message = message.encode() if isinstance(message, str) else message
        if message[:1] == b"0":
            self.server.typed.put_nowait(message[1:])

    def on_close(self) -> None:
        self.server.closes.put_nowait(self.close_code)

    def output(self, data: bytes) -> None:
        self.write_message(protocol.OUTPUT_PREFIX + data, binary=True)


class StandIn:
    def __init__(self) -> None:
        self.gone = False
        self.connections: asyncio.Queue = asyncio.Queue()
        self.typed: asyncio.Queue = asyncio.Queue()
        self.closes: asyncio.Queue = asyncio.Queue()
        sockets = bind_sockets(0, "127.0.0.1")
        self.url = f"ws://127.0.0.1:{sockets[0].getsockname()[1]}/terminal"
        self.http = HTTPServer(Application([("/terminal", Terminal, {"server": self})]))
        self.http.add_sockets(sockets)

    async def __aenter__(self) -> StandIn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.http.stop()

    async def connected(self) -> tuple[Terminal, str, int]:
        return await asyncio.wait_for(self.connections.get(), 10)


class Seen:
    """What the client handed to ``on_output`` (called on its own thread)."""

    def __init__(self) -> None:
        self.data = b""

    def __call__(self, data: bytes) -> None:
        self.data += data


async def until(client: ResumingClient, condition, timeout: float = 10) -> None:
    def wait() -> bool:
        with client.changed:
            return client.changed.wait_for(condition, timeout)

    assert await asyncio.to_thread(wait), "not within the time"


async def test_a_dropped_connection_is_resumed_from_the_bytes_already_read():
    async with StandIn() as server:
        seen = Seen()
        client = ResumingClient(server.url, {}, seen, client_id="kernel-1")
        try:
            first, client_id, received = await server.connected()
            assert (client_id, received) == ("kernel-1", 0)
            first.output(b"one\r\n")
            first.output(b"two\r\n")
            await until(client, lambda: seen.data == b"one\r\ntwo\r\n")
            first.close(1001, "going away")  # not final: the client comes back

            second, client_id, received = await server.connected()
            assert (client_id, received) == ("kernel-1", 10)  # the server replays only what came after these
            second.output(b"three\r\n")
            await until(client, lambda: seen.data == b"one\r\ntwo\r\nthree\r\n")
            await asyncio.to_thread(client.send, "echo hi\r", 10)
            assert await asyncio.wait_for(server.typed.get(), 10) == b"echo hi\r"

            second.close(4000, "exited with code 3")
            await until(client, lambda: client.ended is not None)
            assert client.ended == (4000, "exited with code 3")
            with pytest.raises(TtydClosed, match=r"^the shell's terminal has ended: 4000 exited with code 3$"):
                await asyncio.to_thread(client.send, "more\r", 10)
            assert server.connections.empty()  # a final close is not resumed
        finally:
            await asyncio.to_thread(client.close)


async def test_input_typed_while_disconnected_goes_through_the_next_connection():
    async with StandIn() as server:
        client = ResumingClient(server.url, {}, Seen())
        try:
            first, client_id, _ = await server.connected()
            assert client_id.startswith("client-")
            server.http.stop()  # no new connections for now
            first.close(1001)
            await asyncio.wait_for(server.closes.get(), 10)
            typing = asyncio.ensure_future(asyncio.to_thread(client.send, "late\r", 30))  # waits for a connection
            server.http = HTTPServer(Application([("/terminal", Terminal, {"server": server})]))
            server.http.add_sockets(bind_sockets(int(urlsplit(server.url).port), "127.0.0.1"))
            await server.connected()
            assert await asyncio.wait_for(server.typed.get(), 10) == b"late\r"
            await typing
        finally:
            await asyncio.to_thread(client.close)


async def test_a_shell_that_is_gone_ends_the_client():
    async with StandIn() as server:
        server.gone = True
        client = ResumingClient(server.url, {}, Seen())
        await until(client, lambda: client.ended is not None)
        assert client.ended == (404, "the shell no longer exists")
        await asyncio.to_thread(client.close)


async def test_close_leaves_the_server_and_refuses_input():
    async with StandIn() as server:
        client = ResumingClient(server.url, {}, Seen())
        await server.connected()
        await asyncio.to_thread(client.close)
        assert await asyncio.wait_for(server.closes.get(), 10) == 1000
        with pytest.raises(TtydClosed, match=r"^the terminal was closed$"):
            client.send("x", 1)
        assert client.ended is None  # closed by us: the shell itself has not ended


def test_retries_back_off_to_at_most_thirty_seconds():
    assert [retry_delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30] and MAX_RETRY_DELAY == 30


async def test_every_client_shares_one_background_thread():
    async with StandIn() as server:
        clients = [ResumingClient(server.url, {}, Seen()) for _ in range(3)]
        try:
            assert [t.name for t in threading.enumerate()].count("cloudtty-terminals") == 1
        finally:  # off this loop, which serves the stand-in: a client closing waits for its connection
            for client in clients:
                await asyncio.to_thread(client.close)
