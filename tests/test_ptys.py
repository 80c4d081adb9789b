"""Local terminals' streams: a fast program leaves the loop its turns; ending terminal sessions: every
process of each, one /proc scan for the sessions ending together."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import select
import signal

from jupyter_cloudtty.server.backends.local import ptys
from tests.harness.waiting import alive, process_gone

JOB = ["bash", "--norc", "--noprofile", "-c", "sleep 300 & echo JOB=$!; wait"]


async def test_output_always_there_to_read_leaves_the_server_its_turns():
    """A program faster than the server reads (its terminal never empty): each chunk read costs a turn of
    the event loop, so the server's other terminals and requests are served while it prints. (A pipe
    stands in for the PTY: filled beforehand, it always has the next chunk, which a PTY cannot be
    made to guarantee.)"""
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, 1 << 20)
    os.set_blocking(write_end, False)
    filled = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            filled += os.write(write_end, b"y\n" * 32768)
    stream = ptys.PtyStream(read_end)
    turns = 0

    async def rest_of_the_server() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    other = asyncio.ensure_future(rest_of_the_server())
    try:
        await asyncio.sleep(0)
        turns = 0
        chunks = filled // ptys.READ_SIZE
        assert chunks >= 8
        for _ in range(chunks):
            assert len(await stream.read()) == ptys.READ_SIZE
        assert turns >= chunks - 1, f"{turns} turns of the loop while {chunks} chunks were read"
    finally:
        other.cancel()
        stream.close()
        os.close(read_end)
        os.close(write_end)


def started_job(pty) -> int:
    """The pid of the background job the terminal's shell started (as its output says)."""
    output = b""
    while not (found := re.search(rb"JOB=(\d+)\r\n", output)):
        assert select.select([pty.ptyproc.fd], [], [], 10)[0], f"no job started: {output!r}"
        output += os.read(pty.ptyproc.fd, 1024)
    return int(found[1])


async def test_sessions_ending_together_lose_every_process(tmp_path):
    terminals = [ptys.spawn(JOB, cwd=str(tmp_path), env={"PATH": os.environ["PATH"]}) for _ in range(20)]
    jobs = [started_job(pty) for pty in terminals]
    signaller = ptys.SessionSignaller()
    try:
        hang_ups = [signaller.send(pty.ptyproc.pid, signal.SIGHUP) for pty in terminals[:10]]
        kills = [signaller.send(pty.ptyproc.pid, signal.SIGKILL) for pty in terminals[10:]]
        await asyncio.gather(*hang_ups, *kills)
        # bash passes a SIGHUP on to its jobs; a SIGKILL takes the session's every group
        assert all(process_gone(pid) for pid in jobs)
        assert all(process_gone(pty.ptyproc.pid) for pty in terminals)
    finally:
        for pty in terminals:
            ptys.signal_session(pty.ptyproc.pid, signal.SIGKILL)
            pty.ptyproc.wait()
            pty.ptyproc.close()


async def test_a_second_signal_for_the_same_session_is_sent_too(tmp_path):
    # bash ignores nothing here, but a job that traps SIGHUP survives it: the SIGKILL after it must come
    argv = ["bash", "--norc", "--noprofile", "-c", "trap '' HUP; (trap '' HUP; sleep 300) & echo JOB=$!; wait"]
    pty = ptys.spawn(argv, cwd=str(tmp_path), env={"PATH": os.environ["PATH"]})
    job = started_job(pty)
    signaller = ptys.SessionSignaller()
    try:
        await asyncio.gather(signaller.send(pty.ptyproc.pid, signal.SIGHUP), signaller.send(pty.ptyproc.pid, 0))
        assert alive(job), "a job that ignores SIGHUP outlives it"
        await signaller.send(pty.ptyproc.pid, signal.SIGKILL)
        assert process_gone(job)
    finally:
        ptys.signal_session(pty.ptyproc.pid, signal.SIGKILL)
        pty.ptyproc.wait()
        pty.ptyproc.close()
