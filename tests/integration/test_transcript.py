"""Frames captured from a real ttyd 1.7.7 (``ttyd -W bash``), replayed against our server.

Each recorded session is replayed input by input; after each input we wait for the output
the real ttyd produced, and compare: the title and preferences frames first, then the very
same output bytes in the same order. Where ttyd merely dropped the connection, our server
closes with a real code (1000 / 4000). The third recorded session shows a ttyd started
without ``-W`` ignoring input; our terminals are always writable (CloudShell runs ``-W``), so
it has no counterpart here.
"""

import base64
import json
from pathlib import Path

import pytest

from jupyter_cloudtty.ttyd import TtydClient
from tests.checks import replay
from tests.ttyd_server import TtydServer

TRANSCRIPT = Path(__file__).parents[1] / "data" / "ttyd-1.7.7-transcript.json"  # captured from a real ttyd 1.7.7


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


def test_the_transcript_has_the_sessions_we_replay():
    assert set(SESSIONS) == {"exit 0", "exit 3", "without -W input is ignored"}


@pytest.mark.parametrize("note, close", [("exit 0", (1000, "exited")), ("exit 3", (4000, "exited with code 3"))])
async def test_replay_gives_the_same_answers(create_shell, connect, note, close):
    # The recording ran `bash --norc --noprofile` with the prompt "$ ".
    await create_shell("replay", commandAction="bash --norc --noprofile", env=[{"name": "PS1", "value": "$ "}])
    assert SESSIONS[note][1][1].startswith(b"1bash --norc --noprofile (") and SESSIONS[note][2][1] == b"2{ }"
    term = await connect("replay", handshake=False)
    await replay(term, SESSIONS[note])
    assert await term.wait_closed() == close


@pytest.mark.parametrize("note", ["exit 0", "exit 3"])
async def test_the_ttyd_stand_in_gives_the_same_answers(note, tmp_path):
    """The stand-in for a pod's ttyd (tests/ttyd_server.py) behaves as the real one recorded."""
    async with TtydServer(["bash", "--norc", "--noprofile"], cwd=str(tmp_path)) as ttyd:
        term = await TtydClient.connect(ttyd.url, handshake=False)
        await replay(term, SESSIONS[note])
        # Like ttyd 1.7.7, it drops the connection without a close frame, whatever the exit status.
        assert await term.wait_closed() == (None, None)
