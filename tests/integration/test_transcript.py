"""Frames captured from a real ttyd 1.7.7 (``ttyd -W bash``), replayed against our server and a ttyd pod.

Each recorded session is replayed input by input; after each input we wait for the output
the real ttyd produced, and compare: the title and preferences frames first, then the very
same output bytes in the same order. Where ttyd merely dropped the connection, our server
closes with a real code: for a local shell 1000 or 4000 by the exit status; for a relayed one
1000, as ttyd tells no exit status.

A pod (tests/harness/pods.py: the same ttyd 1.7.7, in the shell image's files) gives the recorded answers,
directly and through our relay, but for one thing the recording happened not to show: what bash
writes as it exits may be cut short (``replay_as_ttyd_ends``). The pod also replays the third
recorded session, a ttyd started without ``-W`` ignoring input (a shell of ours is always writable,
as CloudShell runs ``-W``).
"""

import base64
import json
from pathlib import Path

import pytest

from jupyter_cloudtty.ttyd import TtydClient, protocol
from tests.harness.checks import replay
from tests.harness.kube import SHELL
from tests.harness.pods import ttyd_pod

TRANSCRIPT = Path(__file__).parents[1] / "data" / "ttyd-1.7.7-transcript.json"  # captured from a real ttyd 1.7.7
READ_ONLY = "without -W input is ignored"


def recorded_sessions():
    """[(note, [(direction, frame bytes), ...]), ...] split at each "subprotocol" meta frame."""
    sessions = []
    for entry in json.loads(TRANSCRIPT.read_text()):
        frame = base64.b64decode(entry["b64"])
        if entry["dir"] == "meta" and frame.startswith(b"subprotocol="):
            sessions.append((entry["note"], []))
        elif entry["dir"] != "meta":
            sessions[-1][1].append((entry["dir"], frame))
    return sessions


SESSIONS = {note: frames for note, frames in recorded_sessions()}
cluster_shells = pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/harness/kube_fixtures.py


@pytest.fixture
def cloudtty_config(kubernetes_config):
    return kubernetes_config  # cluster shells; the local test says {} (no option: local shells)


async def replay_as_ttyd_ends(term: TtydClient, frames: list[tuple[str, bytes]]) -> None:
    """``replay`` up to the last input, which ends bash; then what comes until ttyd drops the
    connection is the recorded answer, or the start of it: ttyd 1.7.7 handles its process's exit
    before reading what is left in the PTY, and drops that (a fifth of the time here)."""
    last = max(i for i, (direction, _) in enumerate(frames) if direction == "c2s")
    await replay(term, frames[:last])
    await term.connection.write_message(frames[last][1], binary=True)
    answer, got = b"".join(frame[1:] for _, frame in frames[last + 1 :]), b""
    while (chunk := await term.read()) is not None:
        got += chunk
    assert answer.startswith(got), (got, answer)


def test_the_transcript_has_the_sessions_we_replay():
    assert set(SESSIONS) == {"exit 0", "exit 3", READ_ONLY}
    # The recording ran `bash --norc --noprofile` with the prompt "$ ".
    for frames in SESSIONS.values():
        assert frames[1][1].startswith(b"1bash --norc --noprofile (") and frames[2][1] == b"2{ }"


@pytest.mark.parametrize("cloudtty_config", [{}], ids=["local"])
@pytest.mark.parametrize("note, close", [("exit 0", (1000, "exited")), ("exit 3", (4000, "exited with code 3"))])
async def test_replay_gives_the_same_answers(create_shell, connect, note, close):
    await create_shell("replay", commandAction=" ".join(SHELL), env=[{"name": "PS1", "value": "$ "}])
    term = await connect("replay", handshake=False)
    await replay(term, SESSIONS[note])
    assert await term.wait_closed() == close


@cluster_shells
@pytest.mark.parametrize("note", ["exit 0", "exit 3"])
async def test_a_relayed_ttyd_pod_gives_the_same_answers(api, pods, connect, note):
    await api("POST", body={"name": "replay"})
    await pods.ready("replay", argv=SHELL)  # with the prompt "$ "
    term = await connect("replay", handshake=False)
    await replay_as_ttyd_ends(term, SESSIONS[note])
    # ttyd dropped the connection as bash ended, and answers still: its process's end, status unknown.
    assert await term.wait_closed() == (1000, "the terminal's process ended")


@pytest.mark.parametrize("note", ["exit 0", "exit 3"])
async def test_a_ttyd_pod_gives_the_recorded_answers(tmp_path, note):
    async with ttyd_pod(SHELL, home=tmp_path, env={"PS1": "$ "}) as pod:
        term = await TtydClient.connect(pod.url, handshake=False)
        await replay_as_ttyd_ends(term, SESSIONS[note])
        # As recorded: ttyd 1.7.7 drops the connection without a close frame, whatever the exit status.
        assert await term.wait_closed() == (None, None)


async def test_a_ttyd_pod_without_w_ignores_input_as_recorded(tmp_path):
    async with ttyd_pod(SHELL, home=tmp_path, env={"PS1": "$ "}, writable=False) as pod:
        term = await TtydClient.connect(pod.url, handshake=False)
        await replay(term, SESSIONS[READ_ONLY])  # the typed line, then no output
        # bash redraws its prompt at a resize (recorded in "exit 0"): what came after the typed
        # line is that redraw alone, so bash never got the line.
        await term.connection.write_message(protocol.encode_resize(120, 40), binary=True)
        redraw, got = b"\r\x1b[K\r$ ", b""
        while len(got) < len(redraw):
            got += await term.read()
        assert got == redraw
