"""Integrity: every byte through a terminal arrives once and in order, checked by SHA-256 at both ends.

The relayed sessions' upstream is a real ttyd 1.7.7 in a pod (tests/harness/pods.py). Output: the pod's
program writes a stream the test can write too (``Blocks``: numbered copies of a random block put
in the pod's home), so the test knows the SHA-256 of what the program wrote. Input: the program
digests what it read with its own ``sha256sum``. Digests are computed as bytes arrive; no test
holds a stream in memory.

A program here ends only after the test has seen all it wrote: ttyd 1.7.7 handles its process's
exit before reading what is left in the PTY, and drops that (often the last few KiB). That is
ttyd's, and no relay gets back what ttyd never sent.

Fifty sessions share the relay's pace (this process serves them all, and reads them all), so
each gets a small stream: ttyd 1.7.7 pings every 5 s and hangs up (killing the program) when no
pong has come 10 s after the last, and its ping waits behind the output already queued for the
connection, up to several MiB of socket buffers. A reader that takes more than ~5 s to drain that
(20 MiB each for fifty sessions did on this machine under load) is cut by ttyd itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.checks import input_while_paused_arrives_once_in_order, read_the_stream, read_to_the_end
from tests.harness.kube import SHELL

GIB = 1 << 30
MIB = 1 << 20
NOTHING = (0, hashlib.sha256().hexdigest())  # what read_to_the_end gives for no output
cluster_shells = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/harness/kube_fixtures.py


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config  # cluster shells; the local test says {} (no option: local shells)


@dataclass
class Blocks:
    """``count`` blocks of ``size`` bytes: block i is i as 8 digits, then a random base64 line
    (no newline: a PTY passes it as is). A lost, repeated or swapped byte or block changes the digest."""

    size: int
    count: int

    def __post_init__(self) -> None:
        body = self.size - 8
        self.body = base64.b64encode(os.urandom(body))[:body]

    def put(self, home: Path) -> list[str]:
        """Put the block in a pod's home; the pod's command, which writes the stream and ends at Enter."""
        home.mkdir(parents=True, exist_ok=True)
        (home / "block").write_bytes(self.body)
        loop = f"for i in $(seq {self.count}); do printf %08d $i; cat block; done"
        return ["sh", "-c", f"stty -echo; {loop}; read -r enter"]

    def expected(self) -> tuple[int, str]:
        """(bytes, SHA-256) of the stream."""
        digest = hashlib.sha256()
        for i in range(1, self.count + 1):
            digest.update(b"%08d" % i)
            digest.update(self.body)
        return self.size * self.count, digest.hexdigest()

    async def receive(self, term: TtydClient) -> tuple[int, str]:
        """(bytes, SHA-256) of the output until the stream's size has come (or more, in the same frame)."""
        return await read_the_stream(term, self.size * self.count)


@cluster_shells
@pytest.mark.slow
async def test_a_gib_of_output_through_one_relayed_session_arrives_byte_exact(api, pods, connect):
    await api("POST", body={"name": "s1"})
    stream = Blocks(4 * MIB, GIB // (4 * MIB))
    await pods.ready("s1", argv=stream.put(pods.cwd / "s1"))
    term = await connect("s1")
    assert await stream.receive(term) == stream.expected()
    await term.send("\r")  # the program ends, having written nothing more
    assert await read_to_the_end(term) == NOTHING
    # ttyd dropped the connection as its process ended (and still answers): a normal end.
    assert (term.close_code, term.close_reason) == (1000, "the terminal's process ended")


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"max_shells": 64}])
@pytest.mark.slow
async def test_fifty_relayed_sessions_at_once_each_arrive_byte_exact(api, pods, connect):
    names = [f"s{i}" for i in range(50)]
    # Each pod's own random block; 1 MiB a session, done in a few seconds (see the module's docstring).
    streams = [Blocks(MIB // 4, 4) for _ in names]
    for name, stream in zip(names, streams, strict=True):
        assert (await api("POST", body={"name": name}))[0] == 201
        await pods.ready(name, argv=stream.put(pods.cwd / name))
    terms = await asyncio.gather(*[connect(name) for name in names])
    received = await asyncio.gather(*[stream.receive(term) for stream, term in zip(streams, terms, strict=True)])
    # Each session got exactly its own pod's stream.
    assert received == [stream.expected() for stream in streams]


@cluster_shells
@pytest.mark.slow
async def test_input_is_relayed_byte_exact(api, pods, connect):
    await api("POST", body={"name": "s1"})
    size, chunk = 100 * MIB, 64 * 1024
    command = f"stty raw -echo; echo READY; head -c {size} | sha256sum > read.sha256; echo DONE; exec sleep 600"
    await pods.ready("s1", argv=["sh", "-c", command])
    term = await connect("s1")
    await term.expect(rb"READY")
    digest, block = hashlib.sha256(), os.urandom(chunk)
    for i in range(size // chunk):
        data = block[i % 7 :] + block[: i % 7]  # not the same frame twice
        digest.update(data)
        await term.send(data)
    await term.expect(rb"DONE", timeout=60)
    # What the pod's program read, by its own sha256sum: every byte typed, once, in order.
    assert (pods.cwd / "s1" / "read.sha256").read_text().split()[0] == digest.hexdigest()


@pytest.mark.parametrize("cloudtty_config", [{}], ids=["local"])
async def test_input_typed_while_paused_arrives_once_in_order(create_shell, connect, tmp_path):
    await create_shell("s1")
    await input_while_paused_arrives_once_in_order(await connect("s1"), tmp_path / "typed")


@cluster_shells
async def test_input_typed_while_paused_reaches_the_pod_once_in_order(api, pods, connect, monkeypatch):
    await api("POST", body={"name": "s1"})
    await pods.ready("s1", argv=SHELL)
    # The shell starts in its home, /home/shell in the pod and pods.cwd/s1 here: from both
    # working directories, "typed" is the one file the shell writes what it reads to.
    monkeypatch.chdir(pods.cwd / "s1")
    await input_while_paused_arrives_once_in_order(await connect("s1"), Path("typed"), frames=1000)
