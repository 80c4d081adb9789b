"""Faults while a terminal streams: what the browser is told, and what it costs the server.

- ttyd killed mid-stream (the stand-in as a process of its own, SIGKILLed: no close frame, the
  socket just goes): the browser's close says so, with the shell's status when the operator
  marks it Failed (the real operator, tests/emulator.py), else 4005 after a short wait; a ttyd
  whose close frame says its process ended is not kept waiting for;
- a local shell's process killed mid-stream: 4000 naming the signal (killed while idle:
  tests/integration/test_terminal.py, test_a_killed_command_fails_naming_the_signal);
- a browser that stops reading while 300 MB are offered: the Jupyter server (its own process,
  its RSS measured) holds a bounded amount; backpressure holds the program back; a PAUSE still
  reaches ttyd; once the browser reads again, every byte arrives (SHA-256).

A restarted Jupyter server (test_kubernetes_restart.py) and a restarted operator
(test_operator.py) are tested where they live.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.checks import read_to_the_end
from tests.emulator import Operator
from tests.integration.test_operator import THIS_NODE, serve_on_node_port
from tests.kube import NS, ShellPods, server_args, write_kubeconfig
from tests.servers import JupyterProcess
from tests.ttyd_server import TtydProcess
from tests.waiting import eventually

cluster_shells = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/kube_fixtures.py
STREAM = ["sh", "-c", "exec yes streaming"]
LOST = "the connection to the shell's terminal was lost mid-stream (its ttyd no longer answers)"


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config  # cluster shells; the local test says {} (no option: local shells)


# --- ttyd or the shell's process killed mid-stream ---------------------------------------------


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"upstream_lost_grace": 0.5}])
async def test_a_ttyd_killed_mid_stream_closes_the_terminal_saying_the_connection_was_lost(
    api, pods, connect, tmp_path
):
    await api("POST", body={"name": "s1"})
    async with TtydProcess(STREAM, cwd=tmp_path) as pod:
        await pods.status("s1", phase="Ready", accessUrl=pod.address)
        term = await connect("s1")
        await term.expect(rb"streaming\r\nstreaming\r\n")
        pod.process.kill()
        code, reason = await term.wait_closed()
    # Nothing said why within upstream_lost_grace: the shell is still Ready for all we know.
    assert (code, reason) == (4005, LOST)
    assert (await api("GET", "s1"))[1]["status"]["phase"] == "Ready"


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"upstream_lost_grace": 30}])
async def test_a_ttyd_that_closes_as_its_process_ends_then_exits_ends_the_terminal_at_once(api, pods, connect):
    """ttyd's close frame says its process ended: no need to ask whether it still answers (a
    ``once`` ttyd exits then) nor to wait for the status."""
    await api("POST", body={"name": "s1"})
    await pods.ready("s1", argv=["sh", "-c", "echo bye"], close_code=1000, once=True)
    term = await connect("s1")
    await term.expect(rb"bye")
    assert await term.wait_closed(timeout=5) == (1000, "the terminal's process ended")


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"default_exposure": "NodePort", "upstream_lost_grace": 30}])
async def test_a_ttyd_killed_mid_stream_closes_the_terminal_with_what_the_operator_says(
    api, k8s, kube, connect, tmp_path
):
    """Our operator (kopf) runs the shell; the tests play the kubelet and the Job controller, which
    see the pod's ttyd die, and the NodePort allocation, whose port is the stand-in's."""
    operator = await Operator(k8s.k8s).start()
    try:
        await kube.create(THIS_NODE)
        assert (await api("POST", body={"name": "s1"}))[0] == 201

        async with TtydProcess(STREAM, cwd=tmp_path) as pod:
            await serve_on_node_port(kube, pod.port)

            async def ready() -> bool:
                return (await api("GET", "s1"))[1]["status"]["phase"] == "Ready"

            await eventually(ready, timeout=20, what="Ready, as the operator writes it")
            term = await connect("s1")
            await term.expect(rb"streaming\r\nstreaming\r\n")

            pod.process.kill()
            terminated = {"terminated": {"exitCode": 137, "reason": "Error"}}
            pod_status = {"phase": "Failed", "containerStatuses": [{"name": "web-tty", "state": terminated}]}
            await kube.patch("Pod", NS, "cloudshell-s1-x7k2p", {"status": pod_status}, "status")
            why = "Job has reached the specified backoff limit"
            failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": why}
            await kube.patch("Job", NS, "cloudshell-s1", {"status": {"conditions": [failed]}}, "status")

            assert await term.wait_closed(timeout=30) == (4000, why)
        _, shell, _ = await api("GET", "s1")
        assert shell["status"]["phase"] == "Failed"
        assert [c["message"] for c in shell["status"]["conditions"] if c["type"] == "Failed"] == [why]
    finally:
        await operator.stop()


@pytest.mark.parametrize("cloudtty_config", [{}], ids=["local"])
async def test_a_local_shell_killed_mid_stream_fails_naming_the_signal(api, create_shell, connect, tmp_path):
    await create_shell("s1", commandAction=f"echo $$ > {tmp_path}/pid; exec yes streaming")
    term = await connect("s1")
    await term.expect(rb"streaming\r\nstreaming\r\n")
    os.kill(int((tmp_path / "pid").read_text()), signal.SIGKILL)
    assert await term.wait_closed() == (4000, "killed by SIGKILL")
    assert (await api("GET", "s1"))[1]["status"]["phase"] == "Failed"


# --- a browser that stops reading -----------------------------------------------------------------

LINES = 35_000_000  # `seq 1 35000000` writes 303,888,897 bytes
OFFERED = 303_888_897
BOUND = 64 * 1024 * 1024  # what the server may grow by while a browser reads nothing


def streamer(pidfile: Path) -> str:
    """Writes OFFERED bytes as they are (a raw terminal: no CR added), its pid first in ``pidfile``."""
    return f"stty raw -echo; echo $$ > {pidfile}; exec seq 1 {LINES}"


async def expected_digest() -> str:
    seq = await asyncio.create_subprocess_shell(f"seq 1 {LINES} | sha256sum", stdout=asyncio.subprocess.PIPE)
    out, _ = await seq.communicate()
    return out.split()[0].decode()


def written(pid: int) -> int | None:
    """Bytes the process has written so far; None once it has ended."""
    try:
        with open(f"/proc/{pid}/io") as f:
            return int(next(line for line in f if line.startswith("wchar:")).split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


async def held_back(pidfile: Path, server: psutil.Process) -> tuple[int | None, int]:
    """Wait until the program writes no more for a second (held back) or has ended; return what it
    wrote and the server's largest RSS meanwhile."""
    await eventually(lambda: asyncio.sleep(0, pidfile.exists() and pidfile.read_text().strip() != ""))
    pid = int(pidfile.read_text())
    peak, last, still = 0, -1, 0
    while still < 10:
        peak = max(peak, server.memory_info().rss)
        now = written(pid)
        if now is None:
            return None, peak
        still, last = (still + 1, last) if now == last else (0, now)
        await asyncio.sleep(0.1)
    return last, peak


async def test_a_browser_that_stops_reading_a_relayed_shell_costs_the_server_a_bounded_amount(k8s, tmp_path):
    expected = asyncio.ensure_future(expected_digest())
    (tmp_path / "root").mkdir()
    args = server_args(write_kubeconfig(tmp_path / "kubeconfig", k8s.url))
    pidfile = tmp_path / "pid"
    async with (
        TtydProcess(["sh", "-c", streamer(pidfile)], cwd=tmp_path) as pod,
        JupyterProcess("jupyter_server", tmp_path / "root", args=args) as server,
    ):
        assert (await server.fetch("cloudtty/api/shells", "POST", {"name": "s1"})).code == 201
        await ShellPods(k8s.api, tmp_path).status("s1", phase="Ready", accessUrl=pod.address)
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss

        term = await server.terminal("s1")  # and reads nothing, for now
        wrote, peak = await held_back(pidfile, process)
        assert peak - before < BOUND, f"the server grew by {(peak - before) / 2**20:.0f} MiB"
        assert wrote is not None and wrote < OFFERED / 2, "nothing held the program back"

        await term.pause()  # as xterm.js's flow control does when it falls behind

        async def paused() -> bool:
            return (await pod.connections())[0]["commands"] == "2"

        await eventually(paused, what="PAUSE at ttyd, past the held-back output")
        await term.resume()
        received = await read_to_the_end(term)
        (sent,) = await pod.connections()
        assert received == (OFFERED, await expected) == (sent["output_bytes"], sent["output_sha"])
        await server.stop()


async def test_a_browser_that_stops_reading_a_local_shell_costs_the_server_a_bounded_amount(tmp_path):
    expected = asyncio.ensure_future(expected_digest())
    (tmp_path / "root").mkdir()
    pidfile = tmp_path / "pid"
    async with JupyterProcess("jupyter_server", tmp_path / "root", args=("--CloudTTY.backend=local",)) as server:
        spec = {"name": "s1", "spec": {"commandAction": streamer(pidfile)}}
        assert (await server.fetch("cloudtty/api/shells", "POST", spec)).code == 201
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss

        term = await server.terminal("s1")  # starts the program, and reads nothing for now
        wrote, peak = await held_back(pidfile, process)
        assert peak - before < BOUND, f"the server grew by {(peak - before) / 2**20:.0f} MiB"
        assert wrote is not None and wrote < OFFERED / 2, "nothing held the program back"

        assert await read_to_the_end(term) == (OFFERED, await expected)
        assert term.close_code == 1000
        await server.stop()
