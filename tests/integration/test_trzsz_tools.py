"""trz and tsz (PyPI's trzsz) in local shells, through a real Jupyter server: the other end of every
file transfer through a terminal (issue 21), found even when the server's PATH has no ``trz``.

The shell image's own trz/tsz are tests/test_image.py's and test_trzsz_tools_on_cluster.py's.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sysconfig

from tests.harness.checks import trz_starts_and_obeys_a_cancel

VERSION = importlib.metadata.version("trzsz-svr")  # what the server's environment installed (pyproject)


async def test_a_server_run_from_a_venv_it_did_not_activate_gives_its_shells_trz(create_shell, connect, monkeypatch):
    """``.venv/bin/jupyter lab``: the venv's bin holds trz/tsz but is not on the server's PATH. The
    shell gets that folder last, so nothing else it runs (python, pip) changes."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    assert shutil.which("trz") is None, "a trz outside the venv: this test would prove nothing"
    await create_shell("tools")
    term = await connect("tools")
    await term.send('trz --version; tsz --version; echo "path=[$PATH]"\r')
    await term.expect(re.escape(f"trz (trzsz) py {VERSION}\r\n"))
    await term.expect(re.escape(f"tsz (trzsz) py {VERSION}\r\n"))
    await term.expect(re.escape(f"path=[/usr/bin:/bin:{sysconfig.get_path('scripts')}]"))


async def test_a_path_that_has_trz_is_left_as_it_is(create_shell, connect, monkeypatch, tmp_path):
    """A trz of the user's own (the Go build, say) comes first and stays the one the shell runs."""
    own = tmp_path / "bin"
    own.mkdir()
    (own / "trz").write_text("#!/bin/sh\necho own-trz\n")
    (own / "trz").chmod(0o755)
    monkeypatch.setenv("PATH", f"{own}:/usr/bin:/bin")
    await create_shell("own")
    term = await connect("own")
    await term.send('trz; echo "path=[$PATH]"\r')
    await term.expect(rb"\rown-trz\r\n")
    await term.expect(re.escape(f"path=[{own}:/usr/bin:/bin]"))


async def test_trz_in_a_local_shell_announces_an_upload_and_obeys_a_cancel(create_shell, connect):
    """The trigger the tab's filter and the server's transfers wait for, from a trz on a real PTY."""
    await create_shell("upload", env=[{"name": "PS1", "value": "prompt> "}])
    await trz_starts_and_obeys_a_cancel(await connect("upload"), VERSION)
