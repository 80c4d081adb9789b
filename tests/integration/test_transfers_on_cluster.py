"""Files through a cluster shell's terminal, relayed: alice's Jupyter server on the Kubernetes backend with the
documented Role (``connect_via = "apiserver"``: Jupyter server -> API server -> the pod's ttyd), the chart's
operator, and a pod of the tests' node running the real ttyd and the shell image's trz/tsz. What a user sees:
the file where they asked with the same SHA-256 on both sides, and a terminal that goes on working.

A gigabyte (10**9 bytes of random data, under the default cap c.CloudTTY.transfer_max_bytes = 1 GiB) goes
each way: down ~22 s on the 2-core machine, up ~55 s (both trzsz ends escape every byte in Python:
docs/performance.md); ~90 s up on a machine busy with other work, hence the tests' timeouts.
tests/integration/test_transfers.py covers the rest (cancels, the cap, refusals) on a local shell.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.servers import JupyterProcess
from tests.harness.shells_on_cluster import server
from tests.harness.transfers import post_transfer

pytestmark = pytest.mark.slow

MB = 1_000_000
GB = 1_000_000_000
# trz/tsz's end: its cursor back, then the image's prompt (shell@cloudshell-files-x1y2z:~$). Only then is typing
# the shell's again: until trz/tsz has exited, it reads what is typed.
ENDED = rb"(?s)\x1b\[\?25h.*\$ "


async def transfer(jupyter: JupyterProcess, name: str, body: dict[str, Any], timeout: float) -> tuple[int, list[dict]]:
    """POST a transfer as the file browser and %cloudtty cp do: (status, the NDJSON events)."""
    return await post_transfer(f"http://127.0.0.1:{jupyter.port}", jupyter.headers, name, body, timeout)


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


async def shell_digest(term: TtydClient, path: str, timeout: float = 30) -> str:
    """The SHA-256 of ``path`` as the shell computes it."""
    await term.send(f"sha256sum {path}\r")
    return (await term.expect(rb"([0-9a-f]{64})  " + re.escape(path.encode()), timeout=timeout)).group(1).decode()


@asynccontextmanager
async def relayed_shell(cluster, namespace: str, workdir: Path) -> AsyncIterator[tuple[JupyterProcess, TtydClient]]:
    """alice's server and her shell ``files``, Ready, its terminal open at the prompt (through the relay)."""
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, workdir) as release,
        server(namespace, kubeconfig, workdir / "root") as jupyter,
    ):
        assert (await jupyter.fetch("cloudtty/api/shells", "POST", {"name": "files"})).code == 201
        term = await jupyter.terminal("files")  # held until the shell is Ready
        await term.send("echo RE''ADY\r")
        await term.expect(rb"READY", timeout=60)
        yield jupyter, term
        await term.close()
    assert "Traceback" not in jupyter.log, jupyter.log
    assert "Traceback" not in release.log, release.log[-6000:]


async def test_a_file_up_and_a_file_down_through_the_relay_arrive_with_the_same_sha256(
    control_plane, node, namespace, tmp_path
):
    async with relayed_shell(control_plane, namespace, tmp_path) as (jupyter, term):
        root = tmp_path / "root"
        (root / "data").mkdir()
        sent = root / "data" / "sent.bin"
        sent.write_bytes(os.urandom(20 * MB))

        # Up, into the shell's current folder (its home): what the file browser's drop does.
        status, events = await transfer(jupyter, "files", {"direction": "upload", "paths": ["data/sent.bin"]}, 120)
        assert status == 200, events
        assert events[0] == {"event": "start", "direction": "upload", "files": ["sent.bin"], "total": 20 * MB}
        done = events[-1]
        assert (done["event"], done["bytes"], done["files"][0]["sha256"]) == ("done", 20 * MB, digest(sent)), done
        await term.expect(rb"Saved 1 file/directory to /home/shell\r\r\n- sent\.bin", timeout=30)
        await term.expect(ENDED)
        assert await shell_digest(term, "sent.bin") == digest(sent)

        # Down, a file made in the pod, into a folder of the Jupyter root.
        await term.send("head -c 20000000 /dev/urandom > made.bin\r")
        made = await shell_digest(term, "made.bin")
        (root / "dl").mkdir()
        status, events = await transfer(jupyter, "files", {"direction": "download", "remote": ["made.bin"],
                                                           "to": "dl"}, 120)  # fmt: skip
        assert status == 200, events
        assert events[-1]["files"] == [{"name": "made.bin", "path": "dl/made.bin", "size": 20 * MB, "sha256": made}]
        assert digest(root / "dl" / "made.bin") == made
        assert [p.name for p in (root / "dl").iterdir()] == ["made.bin"]  # no staging folder left
        await term.expect(rb"Saved made\.bin to dl/ in Jupyter \(20\.0 MB, ", timeout=30)
        await term.expect(ENDED)
        await term.send("rm sent.bin made.bin; echo AF''TER\r")  # the terminal is the user's again
        await term.expect(rb"AFTER")


async def cap(jupyter: JupyterProcess) -> None:
    info = json.loads((await jupyter.fetch("cloudtty/api/info")).body)
    assert info["transfers"] == {"maxBytes": 1 << 30}  # the default: 1 GiB, so 10**9 bytes pass


@pytest.mark.timeout(300)
async def test_a_gigabyte_comes_down_through_the_relay_whole_under_the_default_cap(
    control_plane, node, namespace, tmp_path
):
    async with relayed_shell(control_plane, namespace, tmp_path) as (jupyter, term):
        await cap(jupyter)
        # Random bytes, made in the pod: nothing on the way can compress them, and every byte value that
        # trzsz escapes occurs.
        await term.send(f"head -c {GB} /dev/urandom > /tmp/big.bin\r")
        made = await shell_digest(term, "/tmp/big.bin", timeout=120)
        root = tmp_path / "root"
        try:
            status, events = await transfer(jupyter, "files", {"direction": "download", "remote": ["/tmp/big.bin"]},
                                            240)  # fmt: skip
            assert status == 200, events
            assert events[-1]["files"] == [{"name": "big.bin", "path": "big.bin", "size": GB, "sha256": made}]
            assert events[-1]["bytes"] == GB
            assert await asyncio.to_thread(digest, root / "big.bin") == made
            assert [p.name for p in root.iterdir() if p.name.startswith(".cloudtty-download-")] == []
            await term.expect(rb"Saved big\.bin to the Jupyter root \(1\.0 GB, ", timeout=30)
            await term.expect(ENDED)
            await term.send("rm /tmp/big.bin; echo AF''TER\r")
            await term.expect(rb"AFTER")
        finally:
            (root / "big.bin").unlink(missing_ok=True)


def random_file(path: Path, size: int) -> str:
    """``size`` random bytes written in 1 MB chunks (no gigabyte in memory); their SHA-256."""
    sha = hashlib.sha256()
    with path.open("wb") as file:
        for _ in range(size // MB):
            chunk = os.urandom(MB)
            sha.update(chunk)
            file.write(chunk)
    return sha.hexdigest()
