"""``%cloudtty cp`` both ways in a real kernel of a real Jupyter server (a process), as in a notebook: the
server moves the bytes through the shell's terminal (trz/tsz), the cell shows a progress bar and one line.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from tests.harness.kernels import ServerKernel
from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow  # a kernel of a real Jupyter server

WIDGET = "application/vnd.jupyter.widget-view+json"


async def test_a_notebook_copies_a_file_into_a_shell_and_back(tmp_path):
    root, inbox = tmp_path / "root", tmp_path / "inbox"
    root.mkdir()
    inbox.mkdir()
    data = os.urandom(3_000_000)
    (root / "data.bin").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    async with JupyterProcess("jupyter_server", root, args=("--CloudTTY.backend=local",)) as server:
        async with ServerKernel.of(server) as kernel:
            await kernel.run(f"import os; os.chdir({str(root)!r})")  # a notebook's kernel runs in its folder
            await kernel.run("%load_ext jupyter_cloudtty")
            await kernel.run("%cloudtty new box")

            up = await kernel.run(f"%cloudtty cp data.bin box:{inbox}")
            assert (up.stderr, up.error, up.result) == ("", None, {})
            assert re.fullmatch(r"copied data\.bin to box \(3\.0 MB, [0-9.]+ [KMG]B/s\)\n", up.stdout), up.stdout
            assert any(WIDGET in shown for shown in up.displays)  # the progress bar
            assert hashlib.sha256((inbox / "data.bin").read_bytes()).hexdigest() == digest

            down = await kernel.run(f"%cloudtty cp box:{inbox}/data.bin copies/back.bin")
            assert down.stderr == "cloudtty: to: not a folder: " + str(root / "copies") + "\n"
            (root / "copies").mkdir()
            down = await kernel.run(f"%cloudtty cp box:{inbox}/data.bin copies/back.bin")
            assert (down.stderr, down.error) == ("", None)
            assert re.fullmatch(r"copied copies/back\.bin from box \(3\.0 MB, .*\)\n", down.stdout), down.stdout
            assert (root / "copies" / "back.bin").read_bytes() == data
            again = await kernel.run(f"%cloudtty cp box:{inbox}/data.bin copies/back.bin")  # cp replaces
            assert again.stderr == "" and sorted(p.name for p in (root / "copies").iterdir()) == ["back.bin"]

            missing = await kernel.run("%cloudtty cp nothing.bin box:/tmp")
            assert missing.stderr == "cloudtty: paths[0]: no such file: " + str(root / "nothing.bin") + "\n"
            nowhere = await kernel.run("%cloudtty cp data.bin copy.bin")
            assert nowhere.stderr.startswith("UsageError: %cloudtty cp: one side must be a shell's NAME:PATH")
