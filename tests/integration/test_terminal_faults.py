"""Faults while a terminal streams: what the browser is told, and what it costs the server.

- the pod's ttyd killed mid-stream (the real ttyd in a pod, tests/harness/pods.py, SIGKILLed: no close
  frame, the socket just goes): the browser's close says so, with the shell's status when the
  operator marks it Failed (the real operator, tests/harness/emulator.py), else 4005 after a short wait;
  a ttyd whose close frame says its process ended (the stand-in: ttyd 1.7.7 sends none) is not
  kept waiting for;
- a local shell's process killed mid-stream: 4000 naming the signal (killed while idle:
  tests/integration/test_terminal.py, test_a_killed_command_fails_naming_the_signal);
- a browser that stops reading while 300 MB are offered: the Jupyter server (its own process,
  its RSS measured) holds a bounded amount; backpressure holds the program back (through the
  pod's real ttyd, for a relayed shell); a PAUSE holds it while the browser drains what reached
  it; once the browser reads again, every byte arrives (SHA-256 of ``seq``'s known output).

A restarted Jupyter server, operator and API server are tested on the real control plane
(test_server_on_cluster.py, test_operator_cases_on_cluster.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.harness.checks import read_the_stream, read_to_the_end
from tests.harness.controllers import pod_name, serve_on_node_port
from tests.harness.emulator import Operator
from tests.harness.kube import NS, ShellPods, ready_condition, server_args, write_kubeconfig
from tests.harness.pods import Pod
from tests.harness.servers import JupyterProcess
from tests.harness.ttyd_server import TtydServer
from tests.harness.waiting import eventually

cluster_shells = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/harness/kube_fixtures.py
STREAM = ["sh", "-c", "exec yes streaming"]
LOST = "the connection to the shell's terminal was lost mid-stream (its ttyd no longer answers)"


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config  # cluster shells; the local test says {} (no option: local shells)


# --- ttyd or the shell's process killed mid-stream ---------------------------------------------


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"upstream_lost_grace": 0.5}])
async def test_a_ttyd_killed_mid_stream_closes_the_terminal_saying_the_connection_was_lost(api, pods, connect):
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1", argv=STREAM)
    term = await connect("s1")
    await term.expect(rb"streaming\r\nstreaming\r\n")
    pod.kill()
    code, reason = await term.wait_closed()
    # Nothing said why within upstream_lost_grace: the shell is still Ready for all we know.
    assert (code, reason) == (4005, LOST)
    assert (await api("GET", "s1"))[1]["status"]["phase"] == "Ready"


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"upstream_lost_grace": 30}])
async def test_a_ttyd_that_closes_as_its_process_ends_then_exits_ends_the_terminal_at_once(
    api, pods, connect, tmp_path
):
    """ttyd's close frame says its process ended: no need to ask whether it still answers (a
    ``once`` ttyd exits then) nor to wait for the status.

    On the stand-in (tests/harness/ttyd_server.py): ttyd 1.7.7's source means to close with 1000 when its
    process exits 0, but Debian's build (libwebsockets 4.3) drops the connection without a close
    frame, so no real ttyd here sends one; a ttyd of another build may.
    """
    await api("POST", body={"name": "s1"})
    async with TtydServer(["sh", "-c", "echo bye"], cwd=str(tmp_path), close_code=1000, once=True) as ttyd:
        await pods.status("s1", phase="Ready", accessUrl=ttyd.address, conditions=[ready_condition()])
        term = await connect("s1")
        await term.expect(rb"bye")
        assert await term.wait_closed(timeout=5) == (1000, "the terminal's process ended")


@cluster_shells
@pytest.mark.parametrize("preferences", [b"{not json", b"[1, 2]", b'"a string"'])
async def test_a_ttyd_whose_preferences_are_not_an_object_still_serves_its_terminal(
    api, pods, connect, tmp_path, preferences, caplog
):
    """A broken ttyd's SET_PREFERENCES (not a JSON object) counts as none: the terminal works, the
    browser gets no preferences, and nothing is logged as an error. (The stand-in: a real ttyd
    always sends an object.)"""
    await api("POST", body={"name": "s1"})
    async with TtydServer(["sh"], cwd=str(tmp_path), raw_preferences=preferences) as ttyd:
        await pods.status("s1", phase="Ready", accessUrl=ttyd.address, conditions=[ready_condition()])
        for _ in range(2):  # and again: nothing about it is kept as a failure
            term = await connect("s1")
            await term.send("echo $((6*7))\r")
            await term.expect(rb"42\r\n")  # typed before or after sh's prompt: only the output says 42
            assert term.preferences == {}
            await term.close()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text


@cluster_shells
@pytest.mark.parametrize("policy_config", [{"default_exposure": "NodePort", "upstream_lost_grace": 30}])
@pytest.mark.slow
async def test_a_ttyd_killed_mid_stream_closes_the_terminal_with_what_the_operator_says(
    api, k8s, kube, connect, tmp_path
):
    """Our operator (kopf) runs the shell: its Job's container runs as a real pod; the tests play
    the NodePort allocation, and the kubelet and the Job controller, which see the pod's ttyd die."""
    operator = await Operator(k8s.k8s).start()
    try:
        spec = {"commandAction": "exec yes streaming"}
        assert (await api("POST", body={"name": "s1", "spec": spec}))[0] == 201

        async with serve_on_node_port(kube, tmp_path / "s1") as pod:

            async def ready() -> bool:
                return (await api("GET", "s1"))[1]["status"]["phase"] == "Ready"

            await eventually(ready, timeout=20, what="Ready, as the operator writes it")
            term = await connect("s1")
            await term.expect(rb"streaming\r\nstreaming\r\n")

            pod.kill()
            await pod.exited()
            terminated = {"terminated": {"exitCode": 137, "reason": "Error"}}  # a SIGKILLed container
            pod_status = {"phase": "Failed", "containerStatuses": [{"name": "web-tty", "state": terminated}]}
            await kube.patch("Pod", NS, pod_name(), {"status": pod_status}, "status")
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
PRODUCER = f"stty raw -echo; exec seq 1 {LINES}"  # OFFERED bytes as they are (a raw terminal: no CR added)
NOTHING = (0, hashlib.sha256().hexdigest())  # what read_to_the_end gives for no output


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


async def pid_in(pidfile: Path) -> int:
    await eventually(lambda: asyncio.sleep(0, pidfile.exists() and pidfile.read_text().strip() != ""))
    return int(pidfile.read_text())


def children(pid: int, command: str | None = None) -> list[int]:
    """The child processes of ``pid`` (those running ``command``, if given)."""
    try:
        found = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return [c for c in found if command is None or Path(f"/proc/{c}/comm").read_text().strip() == command]
    except FileNotFoundError:  # it ended meanwhile
        return []


async def producer_in(pod: Pod) -> int:
    """The pid, on this machine, of ``seq``: the child of the shell the pod's ttyd started."""
    await eventually(lambda: asyncio.sleep(0, bool(children(pod.ttyd_pid()))), what="ttyd's process")
    (shell,) = children(pod.ttyd_pid())
    await eventually(lambda: asyncio.sleep(0, bool(children(shell, "seq"))), what="seq")
    (seq,) = children(shell, "seq")
    return seq


async def held_back(pid: int, server: psutil.Process, timeout: float = 60) -> tuple[int | None, int]:
    """Wait until the program writes no more for a second (held back) or has ended; return what it
    wrote and the server's largest RSS meanwhile."""
    peak, last, still = 0, -1, 0
    deadline = asyncio.get_running_loop().time() + timeout
    while still < 10:
        assert asyncio.get_running_loop().time() < deadline, f"the program still writes after {timeout}s"
        peak = max(peak, server.memory_info().rss)
        now = written(pid)
        if now is None:
            return None, peak
        still, last = (still + 1, last) if now == last else (0, now)
        await asyncio.sleep(0.1)
    return last, peak


@pytest.mark.slow
async def test_a_browser_that_stops_reading_a_relayed_shell_costs_the_server_a_bounded_amount(k8s, tmp_path):
    """The shell's pod runs the real ttyd, which reads its PTY again only once it has sent what it
    read (and ignores PAUSE: its pty_pause is a no-op in 1.7.7), so what holds the program back is
    the server reading no more from ttyd. The program ends only once the test has seen all it
    wrote: ttyd 1.7.7 handles its process's exit before reading what is left in the PTY, and
    drops that."""
    expected = asyncio.ensure_future(expected_digest())
    (tmp_path / "root").mkdir()
    args = server_args(write_kubeconfig(tmp_path / "kubeconfig", k8s.url))
    pods = ShellPods(k8s.api, tmp_path)
    async with JupyterProcess("jupyter_server", tmp_path / "root", args=args) as server:
        try:
            assert (await server.fetch("cloudtty/api/shells", "POST", {"name": "s1"})).code == 201
            pod = await pods.ready("s1", argv=["sh", "-c", f"stty raw -echo; seq 1 {LINES}; read -r enter"])
            process = psutil.Process(server.process.pid)
            before = process.memory_info().rss

            term = await server.terminal("s1")  # and reads nothing, for now
            program = await producer_in(pod)
            wrote, peak = await held_back(program, process)
            assert peak - before < BOUND, f"the server grew by {(peak - before) / 2**20:.0f} MiB"
            assert wrote is not None and wrote < OFFERED / 2, "nothing held the program back"

            # As xterm.js's flow control does when it falls behind: it PAUSEs, and goes on taking what
            # reaches its socket. What was in flight drains; the program stays held (give or take
            # what one read of ttyd's lets through) until RESUME.
            await term.pause()
            received = asyncio.ensure_future(read_the_stream(term, OFFERED))
            paused, peak = await held_back(program, process)
            assert paused is not None and paused - wrote < 1024 * 1024, "the program went on while paused"
            assert peak - before < BOUND, f"the server grew by {(peak - before) / 2**20:.0f} MiB"
            await term.resume()
            assert await received == (OFFERED, await expected)
            await term.send("\n")  # the program ends, having written nothing more
            assert await read_to_the_end(term) == NOTHING
            await server.stop()
        finally:
            await pods.stop()


@pytest.mark.slow
async def test_a_browser_that_stops_reading_a_local_shell_costs_the_server_a_bounded_amount(tmp_path):
    expected = asyncio.ensure_future(expected_digest())
    (tmp_path / "root").mkdir()
    pidfile = tmp_path / "pid"
    async with JupyterProcess("jupyter_server", tmp_path / "root", args=("--CloudTTY.backend=local",)) as server:
        spec = {"name": "s1", "spec": {"commandAction": f"echo $$ > {pidfile}; {PRODUCER}"}}
        assert (await server.fetch("cloudtty/api/shells", "POST", spec)).code == 201
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss

        term = await server.terminal("s1")  # starts the program, and reads nothing for now
        wrote, peak = await held_back(await pid_in(pidfile), process)
        assert peak - before < BOUND, f"the server grew by {(peak - before) / 2**20:.0f} MiB"
        assert wrote is not None and wrote < OFFERED / 2, "nothing held the program back"

        got = await read_to_the_end(term)
        why = f"closed {term.close_code} {term.close_reason!r}; the server's log ends:\n{server.log[-6000:]}"
        assert got == (OFFERED, await expected), why
        assert term.close_code == 1000
        await server.stop()
