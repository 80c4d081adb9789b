"""The relay of the Kubernetes backend against a pod's real ttyd, on kmock's emulated API server.

The server runs with ``c.CloudTTY.backend = "kubernetes"`` and a kubeconfig pointing at the
emulator; the official client talks to it over HTTP. A shell's pod is the real ttyd 1.7.7 in the
shell image's files, at an address of its own (tests/harness/pods.py), reached through ``connect_via =
"url"``; what the operator would write into a CloudShell's status, the tests write (tests/harness/kube.py,
ShellPods). These tests are about the relay's mechanics: pause and resume, floods, a browser back
from a drop, the detach timeout, a ttyd that stops answering, a slow browser, unreachable URLs.
They need what only this setup gives: the pod's insides (ttyd's own log, its processes in
``/proc``, the files the shell wrote in ``pod.home``) and faults on cue (a frozen ttyd, an accessUrl
that refuses). What the cluster answers and does (the stored CloudShell, conflicts, quota, RBAC,
failed and deleted shells, the service proxy) is tested on the real control plane, in
test_backend_on_cluster.py and test_server_on_cluster.py. Requests that try to set what the server
decides, and another user's shells, are attacks of tests/harness/attacks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from pathlib import Path

import psutil
import pytest

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.checks import (
    pause_holds_output_and_resume_delivers_it,
    resumed_in_the_same_process,
    sizes_reach_the_program,
)
from tests.harness.pods import Pod
from tests.harness.waiting import eventually

pytestmark = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/harness/kube_fixtures.py


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config


async def shell_pid(term: TtydClient) -> int:
    """The shell's process id, as the shell says it (in the pod's PID namespace)."""
    await term.send("echo PID=$$\r")
    return int((await term.expect(rb"PID=(\d+)\r\n")).group(1))


def written_while_asleep(pod: Pod, command: str) -> int | None:
    """The bytes a sleeping process ``command`` of the pod has written so far; None if there is no
    such process. ``seq``, say, sleeps only when its terminal takes no more output."""
    pids = [pod.ttyd_pid()]
    for pid in pids:  # the pod's process tree, from ttyd down
        try:
            tasks = Path(f"/proc/{pid}/task").iterdir()
            pids += [int(child) for task in tasks for child in (task / "children").read_text().split()]
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.index("(") + 1 : stat.rindex(")")] == command and stat[stat.rindex(")") + 2] == "S":
                return int(re.search(r"^wchar: (\d+)$", Path(f"/proc/{pid}/io").read_text(), re.MULTILINE)[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile
    return None


def processes_started(pod: Pod) -> int:
    """How many processes the pod's ttyd has started: one per WebSocket connection to it."""
    return len(re.findall(r"\bstarted process, pid: \d+$", pod.log, re.MULTILINE))


async def process_ended(pod: Pod, pid: int) -> str:
    """Once ttyd's log says its process ``pid`` ended: how ("killed with signal 1" is ttyd's
    SIGHUP, which it sends when the process's connection closes)."""
    pattern = re.compile(rf"\bprocess (exited with code \d+|killed with signal \d+), pid: {pid}$", re.MULTILINE)
    ended: re.Match[str] | None = None

    async def logged() -> bool:
        nonlocal ended
        ended = pattern.search(pod.log)
        return ended is not None

    await eventually(logged, what=f"ttyd's log to say that process {pid} ended")
    assert ended is not None
    return ended.group(1)


# --- the relay ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "access_url, reason",
    [
        ("127.0.0.1:1", r"cannot reach the shell's terminal: Connection refused"),
        ("/apis/v1alpha1/cloudshell/s1/", r"its accessUrl '/apis/v1alpha1/cloudshell/s1/' has no host"),
    ],
)
async def test_an_unreachable_terminal_closes_with_a_reason(api, pods, connect, access_url, reason):
    await api("POST", body={"name": "s1"})
    await pods.status("s1", phase="Ready", accessUrl=access_url)
    term = await connect("s1")
    code, why = await term.wait_closed()
    assert code == 4005 and re.match(reason, why), why


async def test_the_terminal_is_relayed_from_the_pods_ttyd(api, pods, connect):
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1", columns=100, rows=30)
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    await sizes_reach_the_program(term)
    # ttyd's own title (its command and the pod's hostname) and preferences reach the browser.
    assert term.title == "bash --norc --noprofile (s1)" and term.preferences == {}
    assert processes_started(pod) == 1


async def test_deleting_a_shell_hangs_up_on_its_pods_ttyd_at_once(api, pods, connect):
    """The pod itself is the operator's to delete: the relay does not wait for that to end the process."""
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1")
    pid = await shell_pid(term)
    assert (await api("DELETE", "s1"))[0] == 204
    assert await term.wait_closed() == (4002, "the shell was deleted")
    assert await process_ended(pod, pid) == "killed with signal 1"  # ttyd's SIGHUP: its connection closed


async def test_pause_holds_the_pods_output_and_resume_delivers_it(api, pods, connect, monkeypatch):
    """ttyd 1.7.7 ignores PAUSE: the relay holds the output, reading no more from ttyd."""
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1", env={"PS1": "prompt> "})
    term = await connect("s1")
    # The shell starts in its home, /home/shell in the pod and pod.home here: from both working
    # directories, "printed" is the one file the shell creates when it has printed every line.
    monkeypatch.chdir(pod.home)
    await pause_holds_output_and_resume_delivers_it(term, Path("printed"))


@pytest.mark.slow
async def test_pausing_and_resuming_while_output_floods_loses_none_of_it(api, pods, connect):
    """A browser's flow control (xterm.js PAUSEs above a high-water mark, RESUMEs below a low one)
    while a program prints a flood: each PAUSE holds the program back, each RESUME lets it on, and
    every line arrives once, in order. (ttyd 1.7.7 loses the chunk it holds when a RESUME reaches it
    while it cannot send that chunk on, so the relay must not pass RESUME to it.)"""
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1")
    await term.send("stty -echo; echo READY-$((1+1))\r")
    await term.expect(rb"READY-2\r\n")
    lines = 10_000_000  # 79 MB: more than ttyd, the TCP connection and the relay can hold, 20 times over
    await term.send(f"seq {lines}; echo END-$((1+1))\r")
    seen = bytearray()
    pauses = 0
    # Each RESUME lets through what the sockets' buffers hold, which TCP grows as the flood goes on:
    # pause while a fifth of it has come, at most 20 times.
    while pauses < 20 and len(seen) < 16_000_000:
        pauses += 1
        await term.pause()

        before: int | None = None

        async def held_back() -> bool:  # asleep, and no further for a while: ttyd holds its output
            nonlocal before
            now = written_while_asleep(pod, "seq")
            held, before = now is not None and now == before, now
            return held

        await eventually(held_back, what="seq to be held back by the paused terminal")
        await term.resume()
        flowed = len(seen) + 64 * 1024
        while len(seen) < flowed:  # some output flows, then the next PAUSE
            seen += await term.read()
    assert pauses >= 5
    while b"END-2\r\n" not in seen[-100:]:
        seen += await asyncio.wait_for(term.read(), 10)
    numbers = re.findall(rb"(?m)^(\d+)\r$", bytes(seen))
    assert [int(n) for n in numbers] == list(range(1, lines + 1)), "output lost, repeated or reordered"


async def test_a_browser_back_from_a_drop_finds_the_same_process_and_misses_nothing(api, pods, connect):
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1", client_id="tab-1")
    pid = await shell_pid(term)
    # The shell's working directory is its home: "go" and "said" are in pod.home here.
    await term.send("while [ ! -e go ]; do sleep 0.02; done; echo LATER-$((2+3)); touch said\r")
    await term.expect(rb"touch said\r\n")  # the command runs
    received = term.received
    term.connection.close()  # the network drops

    (pod.home / "go").touch()

    async def said() -> bool:
        return (pod.home / "said").exists()

    await eventually(said, what="the shell to print LATER-5")  # while nobody watched

    again = await connect("s1", client_id="tab-1", received=received)
    await resumed_in_the_same_process(again, pid)
    assert processes_started(pod) == 1, "the relay reconnected to ttyd: that is a new process"


@pytest.mark.slow
async def test_after_the_detach_timeout_the_pods_process_is_ended(api, pods, connect):
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1")
    pid = await shell_pid(term)
    await term.close()
    # detach_timeout is 2 s here: then the relay hangs up, and ttyd SIGHUPs the process.
    assert await process_ended(pod, pid) == "killed with signal 1"

    # The shell itself stays; a new client gets a new process, as from ttyd itself.
    again = await connect("s1")
    assert await shell_pid(again) != pid
    assert processes_started(pod) == 2
    await again.send(f"ps -p {pid} >/dev/null || echo GONE-$((1+1))\r")  # the pod's own ps
    await again.expect(rb"\rGONE-2\r\n")


@pytest.mark.parametrize("policy_config", [{"upstream_ping_interval": 0.5}])
@pytest.mark.slow
async def test_a_ttyd_that_stops_answering_ends_the_terminal_with_a_reason(api, pods, connect):
    """A pod gone with its node leaves the TCP connection open: pings tell."""
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1")
    await shell_pid(term)
    pod.signal(signal.SIGSTOP)  # frozen ttyd: the socket stays open (the kernel still ACKs), nothing answers
    code, why = await term.wait_closed(timeout=20)
    assert (code, why) == (4005, "the shell's terminal stopped answering (no pong within 0.5s)")


@pytest.mark.parametrize("policy_config", [{"upstream_ping_interval": 0.5}])
@pytest.mark.slow
async def test_a_browser_that_reads_slowly_is_not_taken_for_a_dead_ttyd(api, pods, connect):
    """While a slow browser holds the relay back, pongs wait behind output: that is backpressure,
    not a ttyd that stopped answering."""
    await api("POST", body={"name": "s1"})
    await pods.ready("s1")
    term = await connect("s1")
    await term.send("head -c 30000000 /dev/zero | tr '\\0' x; echo; echo END-$((1+1))\r")
    await asyncio.sleep(3)  # the browser reads nothing for six ping intervals: the relay is held back
    received = 0
    while (data := await term.read()) is not None:
        received += len(data)
        if b"END-2" in data:
            break
    assert data is not None and received > 30_000_000, (term.close_code, term.close_reason)


@pytest.mark.slow
async def test_resizes_toward_a_frozen_ttyd_hold_the_browser_back_instead_of_piling_up(api, pods, connect):
    """Resizes are backpressured like keystrokes: with the pod's ttyd frozen, a client sending a
    flood of them soon cannot send more, rather than the server queueing every one (400,000 resizes
    once cost the server 363 MiB)."""
    await api("POST", body={"name": "s1"})
    pod = await pods.ready("s1")
    term = await connect("s1")
    await shell_pid(term)
    pod.signal(signal.SIGSTOP)  # takes nothing more: its socket's buffers fill, then the relay's
    server = psutil.Process()  # the server runs in this process (pytest-jupyter)
    before = server.memory_info().rss
    sent = 0

    async def flood() -> None:
        nonlocal sent
        for i in range(400_000):
            await term.resize(80 + i % 2, 24)  # each one a change of size
            sent += 1

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(flood(), 10)
    grown = (server.memory_info().rss - before) / 2**20
    pod.signal(signal.SIGCONT)
    assert sent < 400_000, f"all {sent} resizes taken while ttyd took none; the server grew {grown:.0f} MiB"
    assert grown < 64, f"the server grew {grown:.0f} MiB"
