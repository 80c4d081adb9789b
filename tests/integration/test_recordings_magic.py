"""``%cloudtty new --record``, ``%cloudtty recordings`` and ``%cloudtty replay`` in a real kernel of a real Jupyter
server (a process) that records sessions, as in a notebook: a session typed into over the terminal WebSocket, then
listed, searched and replayed from the recordings the server wrote.
"""

from __future__ import annotations

import json
import re

import pytest

from jupyter_cloudtty.kernel.replay import MIME
from tests.harness.ipython import text_rows
from tests.harness.kernels import ServerKernel
from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow  # kernels of real Jupyter servers

LOCAL = ("--CloudTTY.backend=local",)
FILE = re.compile(r"(?P<shell>[a-z-]+)-\d{8}T\d{6}Z\.cast")


async def type_a_session(server: JupyterProcess, kernel: ServerKernel, name: str) -> None:
    """Open the shell's terminal, run a command in it, then delete the shell (its session, and recording, end)."""
    term = await server.terminal(name)
    await term.send("echo WO''KE-$((6*7))\r")
    await term.expect(rb"[\r\n]WOKE-42\r\n")
    assert (await kernel.run(f"%cloudtty rm {name}")).stdout == f"deleted shell {name}\n"
    await term.wait_closed()


async def test_a_recorded_session_is_listed_searched_and_replayed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    args = (*LOCAL, "--CloudTTY.recording=optional")
    async with JupyterProcess("jupyter_server", root, args=args) as server, ServerKernel.of(server) as kernel:
        await kernel.run("%load_ext jupyter_cloudtty")
        new = await kernel.run("%cloudtty new rec --record")
        assert (new.stderr, new.error) == ("", None)
        assert json.loads((await server.fetch("cloudtty/api/shells/rec")).body)["record"] is True
        await type_a_session(server, kernel, "rec")
        await kernel.run("%cloudtty new plain")  # optional: not asked for, not recorded
        await type_a_session(server, kernel, "plain")

        listing = await kernel.run("%cloudtty recordings")
        title, *table = listing.result["text/plain"].splitlines()
        assert title == "Recordings in .cloudtty/recordings"
        [row] = text_rows("\n".join(table))
        assert FILE.fullmatch(row["FILE"])["shell"] == "rec" and row["SHELL"] == "rec"
        file = row["FILE"]
        assert (root / ".cloudtty" / "recordings" / file).is_file()

        # The search: the command's answer, found in what the terminal showed, with its line.
        found = await kernel.run("%cloudtty recordings woke-42")
        [match] = text_rows("\n".join(found.result["text/plain"].splitlines()[1:]))
        assert match["FILE"] == file and "WOKE-42" in match["MATCHES"]
        nothing = await kernel.run("%cloudtty recordings 'not typed anywhere'")
        assert nothing.result["text/plain"] == "No recordings in .cloudtty/recordings with 'not typed anywhere'."
        other = await kernel.run("%cloudtty recordings --shell plain")
        assert other.result["text/plain"] == "No recordings in .cloudtty/recordings."

        # Replayed by its name (the server's copy) and by its path.
        by_name = await kernel.run(f"%cloudtty replay {file}")
        by_path = await kernel.run(f"%cloudtty replay {root}/.cloudtty/recordings/{file}")
        for replayed in (by_name, by_path):
            assert (replayed.stderr, replayed.error) == ("", None)
            [shown] = replayed.displays
            assert shown[MIME] == (root / ".cloudtty" / "recordings" / file).read_text()
            assert "WOKE-42" in shown[MIME] and "var AsciinemaPlayer=" in shown["text/html"]
        gone = await kernel.run("%cloudtty replay rec-20200101T000000Z.cast")
        assert gone.stderr == (
            "cloudtty replay: no such file: rec-20200101T000000Z.cast (here, or among the server's recordings)\n"
        )


async def test_recordings_kept_outside_the_root_replay_through_the_server(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "recordings"
    root.mkdir()
    args = (*LOCAL, "--CloudTTY.recording=required", f"--CloudTTY.recordings_dir={outside}")
    async with JupyterProcess("jupyter_server", root, args=args) as server, ServerKernel.of(server) as kernel:
        await kernel.run("%load_ext jupyter_cloudtty")
        await kernel.run("%cloudtty new kept")  # required: recorded without asking
        await type_a_session(server, kernel, "kept")

        paths = await kernel.run("r = %cloudtty recordings\nprint([(i['shell'], i['path']) for i in r.items])")
        assert paths.stdout == "[('kept', None)]\n"
        [file] = [path.name for path in outside.iterdir()]
        replayed = await kernel.run(f"%cloudtty replay {file}")
        assert (replayed.stderr, replayed.error) == ("", None)
        assert replayed.displays[0][MIME] == (outside / file).read_text()

        refused = await kernel.run("%cloudtty new free --record")  # asking is fine; it is recorded anyway
        assert refused.stderr == ""


async def test_asking_for_a_recording_where_recording_is_off(tmp_path):
    async with JupyterProcess("jupyter_server", tmp_path, args=LOCAL) as server, ServerKernel.of(server) as kernel:
        await kernel.run("%load_ext jupyter_cloudtty")
        refused = await kernel.run("%cloudtty new x --record")
        assert (refused.stdout, refused.stderr, refused.error) == (
            "",
            "cloudtty: record: recording is off on this server\n",
            None,
        )
        assert json.loads((await server.fetch("cloudtty/api/shells")).body) == []
