"""The relay's WebSocket to a pod's ttyd, on frames a real ttyd 1.7.7 never sends.

ttyd writes every message as one frame; what stands between the relay and a pod (the API server's
service proxy, an Ingress controller, a service mesh's sidecar) may split messages into
continuation frames and interleave pings, as RFC 6455 allows. The scripted server below (a
stand-in, for exactly that reason) writes raw frames: a test says which.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from typing import AsyncIterator

import pytest

from jupyter_cloudtty.server.backends.kubernetes.relay import TtydStream

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server's frame (unmasked)."""
    head = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", head, len(payload)) + payload
    if len(payload) < 1 << 16:
        return struct.pack("!BBH", head, 126, len(payload)) + payload
    return struct.pack("!BBQ", head, 127, len(payload)) + payload


async def scripted_ttyd(script: list[bytes]) -> AsyncIterator[str]:
    """A WebSocket server that answers the upgrade, waits for the client's first frame (the handshake)
    and writes ``script`` (raw frames), then reads until the client goes; yields ``ws://`` URL."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))  # fmt: skip
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Protocol: tty\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")  # fmt: skip
        await reader.readexactly(2)  # the handshake's header: it came, the script may begin
        for raw in script:
            writer.write(raw)
            await writer.drain()
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.close()


@pytest.fixture
def ttyd():
    """``async with ttyd(script) as url``."""
    from contextlib import asynccontextmanager

    return asynccontextmanager(scripted_ttyd)


async def read_all(stream: TtydStream) -> bytes:
    output = bytearray()
    while chunk := await asyncio.wait_for(stream.read(), 10):
        output += chunk
    return bytes(output)


async def test_messages_split_into_continuation_frames_arrive_whole(ttyd):
    """Title, preferences and output each split over frames, a ping between two of them: the relay
    shows the title and preferences, and the output in order."""
    script = [
        frame(BINARY, b"1bash (p", fin=False), frame(CONTINUATION, b"od-1)"),
        frame(BINARY, b'2{"font', fin=False), frame(PING, b"hi"), frame(CONTINUATION, b'Size": 15}'),
        frame(BINARY, b"0hello, ", fin=False), frame(CONTINUATION, b"wor", fin=False), frame(CONTINUATION, b"ld\r\n"),
        frame(TEXT, b"0and a text frame\r\n"),
        frame(CLOSE, struct.pack("!H", 1000)),
    ]  # fmt: skip
    async with ttyd(script) as url:
        stream = await TtydStream.connect(url, rows=24, columns=80, timeout=10)
        assert (stream.title, stream.preferences) == ("bash (pod-1)", {"fontSize": 15})
        assert await read_all(stream) == b"hello, world\r\nand a text frame\r\n"
        assert stream.closed_by_ttyd and stream.close_code == 1000


async def test_output_before_the_preferences_is_kept(ttyd):
    """A ttyd that sends output first (no preferences at all): the terminal opens with that output."""
    async with ttyd([frame(BINARY, b"0early\r\n"), frame(BINARY, b"0later\r\n")]) as url:
        stream = await TtydStream.connect(url, rows=24, columns=80, timeout=10)
        assert stream.preferences == {}
        assert await asyncio.wait_for(stream.read(), 10) in (b"early\r\n", b"early\r\nlater\r\n")
        stream.close()


async def test_a_large_burst_arrives_whole_in_few_chunks(ttyd):
    """1,000 frames of 4 KiB as ttyd writes them at full speed: every byte in order, handed on in
    chunks of many frames each (the browser gets large frames, not one per PTY read)."""
    payloads = [bytes([65 + i % 26]) * 4095 for i in range(1000)]
    script = [b"".join(frame(BINARY, b"0" + p) for p in payloads), frame(CLOSE, struct.pack("!H", 1000))]
    async with ttyd(script) as url:
        stream = await TtydStream.connect(url, rows=24, columns=80, timeout=10)
        chunks = []
        while chunk := await asyncio.wait_for(stream.read(), 10):
            chunks.append(chunk)
        assert b"".join(chunks) == b"".join(payloads)
        assert len(chunks) < 200, f"{len(chunks)} chunks for 1,000 frames"
