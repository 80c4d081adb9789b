"""README's run command: `jupyter lab` serves the extension with no further step."""

import pytest

from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow  # a `jupyter lab` process


async def test_jupyter_lab_serves_shells_and_terminals(tmp_path):
    async with JupyterProcess("jupyterlab", tmp_path) as lab:
        assert b"JupyterLab" in (await lab.fetch("lab")).body
        assert (await lab.fetch("cloudtty/api/shells", "POST", {"name": "lab"})).code == 201
        term = await lab.terminal("lab")
        await term.send("echo $((6*7))\r")
        await term.expect(rb"\r42\r\n")
        term.connection.close()
        assert await lab.stop() == 0
