"""Integrity: every byte through a terminal arrives once and in order, checked by SHA-256 at both ends.

The relayed sessions' upstream is the ttyd stand-in as a process of its own (TtydProcess), so its
PTYs and frames are not served by the loop of the Jupyter server under test: that makes a GiB
about a fifth faster here, and puts the relay, not the stand-in, on this loop. Digests are
computed as bytes arrive; no test holds a stream in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from tests.checks import input_while_paused_arrives_once_in_order, read_to_the_end
from tests.kube import SHELL
from tests.ttyd_server import TtydProcess

GIB = 1 << 30
MIB = 1 << 20
cluster_shells = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/kube_fixtures.py


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config  # cluster shells; the local test says {} (no option: local shells)


def random_output(size: int) -> list[str]:
    """A pod's command that writes ``size`` bytes (base64 of random bytes, one line), then ends."""
    return ["sh", "-c", f"head -c {size * 3 // 4} /dev/urandom | base64 -w 0"]


@cluster_shells
async def test_a_gib_of_output_through_one_relayed_session_arrives_byte_exact(api, pods, connect, tmp_path):
    await api("POST", body={"name": "s1"})
    async with TtydProcess(random_output(GIB), cwd=tmp_path) as pod:
        await pods.status("s1", phase="Ready", accessUrl=pod.address)
        term = await connect("s1")
        received = await read_to_the_end(term)
        (sent,) = await pod.connections()
    assert received == (sent["output_bytes"], sent["output_sha"])
    assert sent["output_bytes"] == GIB
    # ttyd dropped the connection as its process ended (and still answers): a normal end.
    assert (term.close_code, term.close_reason) == (1000, "the terminal's process ended")


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"max_shells": 64}])
async def test_fifty_relayed_sessions_at_once_each_arrive_byte_exact(api, pods, connect, tmp_path):
    names = [f"s{i}" for i in range(50)]
    async with TtydProcess(random_output(20 * MIB), cwd=tmp_path) as pod:
        for name in names:
            assert (await api("POST", body={"name": name}))[0] == 201
            await pods.status(name, phase="Ready", accessUrl=pod.address)
        terms = await asyncio.gather(*[connect(name) for name in names])
        received = await asyncio.gather(*[read_to_the_end(term) for term in terms])
        sent = await pod.connections()
    # Each pod's process writes its own random bytes: each session got exactly one pod's stream.
    assert sorted(received) == sorted((c["output_bytes"], c["output_sha"]) for c in sent)
    assert len(sent) == 50 and {size for size, _ in received} == {20 * MIB}


@cluster_shells
async def test_input_is_relayed_byte_exact(api, pods, connect):
    await api("POST", body={"name": "s1"})
    size, chunk = 100 * MIB, 64 * 1024
    command = f"stty raw -echo; echo READY; head -c {size} > /dev/null; echo; echo DONE"
    ttyd = await pods.ready("s1", argv=["sh", "-c", command])
    term = await connect("s1")
    await term.expect(rb"READY")
    digest, block = hashlib.sha256(), os.urandom(chunk)
    for i in range(size // chunk):
        data = block[i % 7 :] + block[: i % 7]  # not the same frame twice
        digest.update(data)
        await term.send(data)
    await term.expect(rb"DONE", timeout=60)
    pod = ttyd.connections[0]
    assert pod.input_bytes == size and pod.input_sha.hexdigest() == digest.hexdigest()


@pytest.mark.parametrize("cloudtty_config", [{}], ids=["local"])
async def test_input_typed_while_paused_arrives_once_in_order(create_shell, connect, tmp_path):
    await create_shell("s1")
    await input_while_paused_arrives_once_in_order(await connect("s1"), tmp_path / "typed")


@cluster_shells
async def test_input_typed_while_paused_reaches_the_pod_once_in_order(api, pods, connect, tmp_path):
    await api("POST", body={"name": "s1"})
    ttyd = await pods.ready("s1", argv=SHELL)
    await input_while_paused_arrives_once_in_order(await connect("s1"), tmp_path / "typed", frames=1000)
    # The command line, PAUSE, the 1000 frames typed while paused, RESUME: each once, in that order.
    assert "".join(ttyd.connections[0].commands) == "0" + "2" + "0" * 1000 + "3"
