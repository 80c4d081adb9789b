"""The recorder (jupyter_cloudtty/operator/recorder.py) in front of a real ttyd 1.7.7 on a UNIX socket.

A pod of tests/harness/pods.py runs ttyd with ``-i <its home>/ttyd.sock``, as a recorded shell's pod
runs it in the emptyDir it shares with the recorder; the recorder runs here, on the host's Python,
listening where the pod's ttyd port would be. What a client sees through it, and what it writes.
The recorder run the pod's way (its source in the command, on the image's python3) is in
test_recording_on_cluster.py.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.cloudshell.recording import read
from jupyter_cloudtty.operator.recorder import NOT_RECORDED_EXIT
from jupyter_cloudtty.ttyd import TtydClient
from jupyter_cloudtty.ttyd.client import TtydClosed
from tests.harness.pods import socket_pod
from tests.harness.ports import free_port

pytestmark = pytest.mark.slow
SPEC = {"commandAction": "bash", "env": [{"name": "PS1"}]}


class Recorder:
    """``python -m jupyter_cloudtty.operator.recorder`` on 127.0.0.1:<a free port>, until the test ends."""

    def __init__(self, socket_path: Path, folder: Path, *extra: str, termination_log: Path | None = None):
        self.port = free_port()
        self.termination_log = termination_log or folder.parent / "termination-log"
        self.argv = [
            sys.executable, "-m", "jupyter_cloudtty.operator.recorder", "--listen", "127.0.0.1",
            "--port", str(self.port), "--ttyd-socket", str(socket_path), "--folder", str(folder),
            "--shell", "s1", "--owner", "alice", "--spec", json.dumps(SPEC),
            "--termination-log", str(self.termination_log), *extra,
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def __aenter__(self) -> Recorder:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        # Its first line says it listens: awaited, not slept for.
        line = await asyncio.to_thread(self.process.stdout.readline)
        assert line.startswith("recorder: "), (line, self.process.stderr.read() if self.process.stderr else "")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        await asyncio.to_thread(self.process.wait, 10)


def cast_of(folder: Path) -> tuple[dict, list]:
    (path,) = folder.glob("*.cast")
    return read(path)


async def test_a_session_through_the_recorder_is_recorded_as_it_was_seen(tmp_path):
    folder = tmp_path / "recordings" / "ns"
    async with (
        socket_pod(tmp_path / "home", env={"PS1": "prompt> "}) as pod,
        Recorder(pod.home / "ttyd.sock", folder) as recorder,
    ):
        term = await TtydClient.connect(recorder.url, columns=100, rows=30)
        await term.expect("prompt> ")
        await term.resize(120, 40)
        await term.send("echo WO''KE $((6*7))\r")
        await term.expect(r"WOKE 42\r\n")
        await term.send("exit\r")
        # ttyd's end of the process reaches the client as ttyd said it.
        assert (await term.wait_closed())[0] == 1000
    header, events = cast_of(folder)
    assert (header["width"], header["height"]) == (100, 30)
    assert header["cloudtty"]["shell"] == "s1" and header["cloudtty"]["owner"] == "alice"
    assert header["cloudtty"]["spec"] == SPEC and header["cloudtty"]["input"] is False
    output = "".join(data for _, code, data in events if code == "o")
    assert "WOKE 42" in output and "prompt> " in output
    assert [data for _, code, data in events if code == "r"] == ["120x40"]
    assert not [e for e in events if e[1] == "i"]  # input only when asked
    # The namespace's folder, shared by its recorders whatever user each is: its group's (setgid).
    assert oct(folder.stat().st_mode & 0o7777) == "0o2770"
    assert oct(next(folder.glob("*.cast")).stat().st_mode & 0o777) == "0o640"


async def test_input_is_recorded_when_asked(tmp_path):
    folder = tmp_path / "recordings"
    async with (
        socket_pod(tmp_path / "home", env={"PS1": "prompt> "}) as pod,
        Recorder(pod.home / "ttyd.sock", folder, "--input") as recorder,
    ):
        async with await TtydClient.connect(recorder.url) as term:
            await term.expect("prompt> ")
            await term.send("echo typed\r")
            await term.expect(r"typed\r\n")
    _, events = cast_of(folder)
    assert "".join(data for _, code, data in events if code == "i") == "echo typed\r"


async def test_ttyd_s_page_and_the_readiness_path_are_served(tmp_path):
    async with (
        socket_pod(tmp_path / "home", env={"PS1": "prompt> "}) as pod,
        Recorder(pod.home / "ttyd.sock", tmp_path / "recordings") as recorder,
    ):
        base = f"http://127.0.0.1:{recorder.port}"
        page = await asyncio.to_thread(urllib.request.urlopen, f"{base}/", timeout=10)
        assert page.status == 200 and b"<html" in page.read().lower()
        ready = await asyncio.to_thread(urllib.request.urlopen, f"{base}/-/ready", timeout=10)
        assert ready.status == 200
        pod.kill()
        await pod.exited()
        with pytest.raises(urllib.error.HTTPError) as down:
            await asyncio.to_thread(urllib.request.urlopen, f"{base}/-/ready", timeout=10)
        assert down.value.code == 503


async def test_a_folder_it_cannot_write_ends_it_before_it_listens_saying_why(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    # A claim mounted read-only (the tests run as root, whom no folder's mode stops).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], check=True)
    try:
        recorder = Recorder(tmp_path / "nothing.sock", folder / "ns", termination_log=tmp_path / "termination-log")
        done = await asyncio.to_thread(subprocess.run, recorder.argv, capture_output=True, text=True, timeout=30)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
    message = f"not recorded: cannot write recordings in {folder / 'ns'}: Read-only file system"
    assert (done.returncode, recorder.termination_log.read_text()) == (NOT_RECORDED_EXIT, message)
    assert done.stdout == ""  # it never said it listens


async def test_a_session_whose_recording_fails_is_closed_with_4007_and_why(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    try:
        async with (
            socket_pod(tmp_path / "home", env={"PS1": "prompt> "}) as pod,
            Recorder(pod.home / "ttyd.sock", folder / "ns") as recorder,
        ):
            term = await TtydClient.connect(recorder.url)
            await term.expect("prompt> ")
            # Far more output than the folder holds: the recording fails, and so does the session.
            await term.send("head -c 400000 /dev/zero | tr '\\0' x\r")
            with pytest.raises(TtydClosed) as closed:
                await term.expect("never")
            assert closed.value.code == 4007
            assert closed.value.reason.startswith("not recorded: the terminal's recording s1-")
            assert closed.value.reason.endswith(".cast failed: No space left on device")
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


async def test_a_terminal_ttyd_refuses_is_refused_with_ttyd_s_answer_and_leaves_nothing(tmp_path):
    """ttyd checks the token (its path) before anything else: so does the recorder, by asking ttyd first."""
    folder = tmp_path / "recordings"
    async with socket_pod(tmp_path / "home") as pod, Recorder(pod.home / "ttyd.sock", folder) as recorder:
        with pytest.raises(HTTPClientError) as refused:
            await TtydClient.connect(f"ws://127.0.0.1:{recorder.port}/not-the-token/ws")
        assert refused.value.code == 404
        assert list(folder.glob("*.cast")) == []
        # A terminal with the right path still opens.
        async with await TtydClient.connect(recorder.url) as term:
            await term.send("echo O''K\r")
            await term.expect(r"OK\r\n")
