"""The terminal WebSocket: ttyd's protocol against real PTYs, through a real Jupyter server.

Clients that break the protocol are attacks of tests/harness/attacks.py.
"""

import asyncio
import re
import socket

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.checks import (
    pause_holds_output_and_resume_delivers_it,
    resumed_in_the_same_process,
    sizes_reach_the_program,
)
from tests.harness.waiting import alive, eventually, process_gone

HOST = socket.gethostname()


async def shell_pid(term: TtydClient) -> int:
    await term.send("echo PID=$$\r")
    return int((await term.expect(rb"PID=(\d+)\r\n")).group(1))


async def test_echo_round_trip_title_and_subprotocol(create_shell, connect):
    await create_shell("hello")
    term = await connect("hello")
    assert term.connection.selected_subprotocol == "tty"
    await term.send("echo hello\r")
    await term.expect(rb"\rhello\r\n")
    # ttyd's title is "<command> (<hostname>)"; preferences are empty without options.
    assert term.title == f"bash --norc --noprofile ({HOST})"
    assert term.preferences == {}


async def test_command_env_options_and_working_directory(create_shell, connect, jp_root_dir):
    await create_shell(
        "custom",
        commandAction="echo cwd=$(pwd) greeting=$GREETING; exec bash --norc --noprofile",
        env=[{"name": "GREETING", "value": "hi there"}],
        ttydClientOptions={"fontSize": "20", "cursorStyle": "bar"},
    )
    term = await connect("custom")
    await term.expect(f"cwd={jp_root_dir} greeting=hi there")
    assert term.title.startswith("echo cwd=$(pwd) greeting=$GREETING; exec bash")
    assert term.preferences == {"fontSize": 20, "cursorStyle": "bar"}


async def test_resize_is_visible_to_stty(create_shell, connect):
    await create_shell("sized")
    await sizes_reach_the_program(await connect("sized", columns=100, rows=30))


async def test_handshake_without_a_size_then_a_resize(create_shell, connect):
    # CloudTTY's own page sends only the AuthToken, then a resize.
    await create_shell("nosize")
    term = await connect("nosize", columns=None, rows=None)
    await term.send("stty size\r")
    await term.expect(rb"\r24 80\r\n")
    await term.resize(77, 33)
    await term.send("stty size\r")
    await term.expect(rb"\r33 77\r\n")


async def test_pause_holds_output_and_resume_delivers_it(create_shell, connect, tmp_path):
    await create_shell("flow", env=[{"name": "PS1", "value": "prompt> "}])
    await pause_holds_output_and_resume_delivers_it(await connect("flow"), tmp_path / "printed")


async def test_exit_0_closes_with_1000_and_completes(api, create_shell, connect):
    await create_shell("fine")
    term = await connect("fine")
    await term.send("exit 0\r")
    assert await term.wait_closed() == (1000, "exited")
    status, shell, _ = await api("GET", "fine")
    assert shell["status"]["phase"] == "Complete"
    assert shell["status"]["conditions"][0]["reason"] == "Exited"


async def test_the_client_knows_a_closed_connection_is_closed(create_shell, connect):
    # tornado hands out the end of a connection once: reading or closing after it must not wait
    # for a close frame that already came (it waited out the 10 s timeout)
    await create_shell("short")
    term = await connect("short")
    await term.send("exit 0\r")
    assert await term.wait_closed() == (1000, "exited")
    assert await asyncio.wait_for(term.read(), 5) is None
    assert await asyncio.wait_for(term.wait_closed(), 5) == (1000, "exited")
    await asyncio.wait_for(term.close(), 5)
    await asyncio.wait_for(term.close(), 5)


async def test_exit_3_closes_with_4000_and_fails_with_the_code(api, create_shell, connect):
    await create_shell("broken")
    term = await connect("broken")
    await term.send("echo about to fail; exit 3\r")
    assert await term.wait_closed() == (4000, "exited with code 3")
    _, shell, _ = await api("GET", "broken")
    assert shell["status"]["phase"] == "Failed"
    failed = next(c for c in shell["status"]["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "CommandFailed"
    assert failed["message"].startswith("the command exited with code 3; last output:")
    assert "about to fail" in failed["message"]


async def test_a_killed_command_fails_naming_the_signal(api, create_shell, connect):
    await create_shell("killed")
    term = await connect("killed")
    await term.send("kill -9 $$\r")
    assert await term.wait_closed() == (4000, "killed by SIGKILL")
    assert (await api("GET", "killed"))[1]["status"]["phase"] == "Failed"


async def test_ttl_expiry(api, create_shell, connect):
    # ttlSecondsAfterStarted wins over the older ttl.
    await create_shell("brief", ttl=600, ttlSecondsAfterStarted=1)
    term = await connect("brief")
    pid = await shell_pid(term)
    assert await term.wait_closed(timeout=15) == (4001, "expired: its TTL of 1s ran out")
    _, shell, _ = await api("GET", "brief")
    assert shell["status"]["phase"] == "Complete"
    assert shell["status"]["conditions"][0]["reason"] == "Expired"
    assert process_gone(pid)


async def test_once_ends_when_the_last_client_leaves(api, create_shell, connect):
    await create_shell("single", once=True)
    first = await connect("single")
    second = await connect("single")
    pid = await shell_pid(first)
    await first.close()
    # One client is still there: the shell goes on.
    await second.send("echo still here\r")
    await second.expect(rb"\rstill here\r\n")
    assert (await api("GET", "single"))[1]["status"]["phase"] == "Ready"
    await second.close()

    async def completed():
        return (await api("GET", "single"))[1]["status"]["phase"] == "Complete"

    await eventually(completed, what="phase Complete")
    assert (await api("GET", "single"))[1]["status"]["conditions"][0]["reason"] == "OnceEnded"
    assert process_gone(pid)


async def test_closing_a_tab_keeps_the_shell_and_a_late_client_gets_the_scrollback(api, create_shell, connect):
    await create_shell("keeper")
    term = await connect("keeper")
    pid = await shell_pid(term)
    await term.send("echo early-$((2*3))\r")
    await term.expect(rb"\rearly-6\r\n")
    await term.close()

    assert (await api("GET", "keeper"))[1]["status"]["phase"] == "Ready"
    assert alive(pid)
    late = await connect("keeper")
    await late.expect(rb"\rearly-6\r\n")  # replayed
    assert await shell_pid(late) == pid  # the same process, live again


async def test_two_clients_see_the_same_output(create_shell, connect):
    await create_shell("shared")
    alice = await connect("shared")
    bob = await connect("shared")
    await alice.send("echo shared-$((1+1))\r")
    await alice.expect(rb"\rshared-2\r\n")
    await bob.expect(rb"\rshared-2\r\n")
    await bob.send("echo from-bob-$((3+4))\r")
    await alice.expect(rb"\rfrom-bob-7\r\n")
    await bob.expect(rb"\rfrom-bob-7\r\n")


async def test_attaching_to_an_ended_shell_replays_then_closes_with_its_end(create_shell, connect):
    await create_shell("over", commandAction="echo last words; exit 5")
    first = await connect("over")
    assert (await first.wait_closed())[0] == 4000
    again = await connect("over")
    await again.expect("last words")
    assert await again.wait_closed() == (4000, "exited with code 5")


async def test_cleanup_removes_the_shell_when_it_ends(api, create_shell, connect):
    await create_shell("tidy", cleanup=True)
    term = await connect("tidy")
    await term.send("exit\r")
    assert (await term.wait_closed())[0] == 1000
    assert (await api("GET", "tidy"))[0] == 404


async def test_text_frames_and_unknown_commands_are_tolerated(create_shell, connect):
    await create_shell("lenient")
    term = await connect("lenient")
    await term.connection.write_message(b"9whatever", binary=True)
    await term.connection.write_message("0echo text-frame\r")  # a text frame, as some clients send
    await term.expect(rb"\rtext-frame\r\n")


async def test_a_client_joining_mid_stream_loses_nothing_for_anyone(create_shell, connect):
    await create_shell("busy")
    alice = await connect("busy")
    await alice.send("seq 1 200000; echo END-$((1+1))\r")
    await alice.expect(rb"\r\n5000\r\n")  # streaming is under way
    bob = await connect("busy")  # replay + live, while alice is being written to
    seen = b""
    while b"END-2" not in seen:
        chunk = await alice.read()
        assert chunk is not None, "the stream ended early"
        seen += chunk
    numbers = [int(n) for n in re.findall(rb"(?m)^(\d+)\r$", seen)]
    assert numbers == list(range(5001, 200001)), "alice lost or reordered output"
    await bob.expect(rb"\nEND-2\r\n")


async def test_a_client_back_from_a_drop_gets_only_what_it_missed(create_shell, connect, tmp_path):
    await create_shell("resume")
    term = await connect("resume", client_id="tab-1")
    pid = await shell_pid(term)
    go, done = tmp_path / "go", tmp_path / "done"
    await term.send(f"while [ ! -e {go} ]; do sleep 0.02; done; echo LATER-$((2+3)); touch {done}\r")
    await term.expect(re.escape(str(done)).encode())  # the command line is echoed: it runs
    received = term.received
    term.connection.close()  # the network drops

    go.touch()  # output while nobody is attached
    await eventually(lambda: asyncio.sleep(0, done.exists()), what="the command to finish")

    again = await connect("resume", client_id="tab-1", received=received)
    await resumed_in_the_same_process(again, pid)


async def test_a_resume_id_the_session_does_not_know_replays_the_scrollback(create_shell, connect):
    await create_shell("unknown")
    term = await connect("unknown")
    await term.send("echo first-$((1+1))\r")
    await term.expect(rb"first-2")
    late = await connect("unknown", client_id="elsewhere", received=123456)
    await late.expect(rb"first-2")
