"""``ShellTerminal`` in a real kernel of a real Jupyter server (a process), without a browser (as under
nbconvert): the shell it creates, ``.send``, ``.output``, ``.wait_for``, ``.ended``, ``.close``, and the
terminal's size left to the browser. The browser's side is tests/ui/test_notebook.py."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.kernels import ServerKernel
from tests.harness.servers import JupyterProcess
from tests.harness.tcp_proxy import TcpProxy
from tests.harness.waiting import eventually

pytestmark = pytest.mark.slow  # kernels of real Jupyter servers

BASH = ("--CloudTTY.backend=local", "--CloudTTY.shell_command=bash", "--CloudTTY.shell_command=--norc",
        "--CloudTTY.shell_command=--noprofile")  # fmt: skip
WIDGET = "application/vnd.jupyter.widget-view+json"


def bash_server(tmp_path) -> JupyterProcess:
    """A server whose shells are a plain bash with its own default prompt ("bash-5.2$ ")."""
    server = JupyterProcess("jupyter_server", tmp_path, args=BASH)
    server.env["PS1"] = r"\s-\v\$ "
    return server


async def run(kernel: ServerKernel, code: str) -> str:
    """A cell's stdout; its error, if any, fails the test with the traceback."""
    output = await kernel.run(code)
    assert output.error is None, "\n".join(output.error["traceback"])
    return output.stdout


async def test_send_output_and_wait_for_in_a_kernel(tmp_path):
    async with bash_server(tmp_path) as server, ServerKernel.of(server) as kernel:
        new = await kernel.run("from jupyter_cloudtty import ShellTerminal\nt = ShellTerminal.new('work', ttl=600)\nt")
        assert new.error is None, new.error
        assert new.result[WIDGET]["model_id"]
        assert new.result["text/plain"].startswith("ShellTerminal('work'): its terminal shows in JupyterLab 4")
        created = json.loads((await server.fetch("cloudtty/api/shells/work")).body)
        assert created["spec"] == {"ttlSecondsAfterStarted": 600}
        assert await run(kernel, r"print(t.wait_for(r'^bash-[\d.]+[#$]$')[0])") != ""

        # A browser shows it at 100x30; the kernel types, and the terminal keeps the browser's size.
        url = f"ws://127.0.0.1:{server.port}/cloudtty/api/shells/work/terminal"
        browser = await TtydClient.connect(url, headers=server.headers, columns=100, rows=30)
        await browser.expect(rb"bash-[\d.]+[#$] ")  # the replay: it is attached
        assert await run(kernel, r"t.send('echo $((6*7)); stty size\r'); print(t.wait_for(r'^\d+ \d+$')[0])") == (
            "30 100\n"
        )
        await browser.expect(rb"\r42\r\n30 100\r\n")  # what the browser shows, the kernel's output has
        # bash writes its next prompt after the output: the kernel has it once it is there (not before)
        await run(kernel, r"t.wait_for(r'^30 100\nbash-[\d.]+[#$]$')")
        lines = (await run(kernel, "print(t.output)")).splitlines()
        assert lines[-4:] == [lines[-4], "42", "30 100", lines[-1]]
        assert lines[-4].endswith("echo $((6*7)); stty size") and lines[-1] == lines[-4].split(" ")[0]

        # A flood: read whole by the kernel, and kept to its last lines.
        await run(kernel, r"t.send('seq 1 200000\r'); t.wait_for(r'^200000$', timeout=60)")
        tail = (await run(kernel, "lines = t.output.split('\\n'); print(len(lines), lines[-3], lines[-2])")).split()
        assert int(tail[0]) <= 10_001 and tail[1:] == ["199999", "200000"]

        # The shell ends: .ended says how, .wait_for and .send say so.
        ended = await kernel.run("t.send('exit 3\\r'); t.wait_for('never')")
        assert ended.error["ename"] == "TtydClosed"
        assert "the terminal ended (4000 exited with code 3) before 'never'" in ended.error["evalue"]
        assert await run(kernel, "print(t.ended)") == "(4000, 'exited with code 3')\n"
        refused = await kernel.run("t.send('echo more\\r')")
        assert refused.error["evalue"] == "the shell's terminal has ended: 4000 exited with code 3"
        await browser.close()


async def test_attach_close_and_delete(tmp_path):
    async with bash_server(tmp_path) as server, ServerKernel.of(server) as kernel:
        await server.fetch("cloudtty/api/shells", method="POST", body={"name": "kept", "spec": {"once": True}})
        await run(kernel, "from jupyter_cloudtty import ShellTerminal\nkept = ShellTerminal('kept')")
        await run(kernel, r"kept.send('echo one-$((1+1))\r'); kept.wait_for('^one-2$')")
        # A `once` shell lives while the kernel's connection does; close() ends that, and so the shell.
        await run(kernel, "kept.close()")

        async def completed() -> bool:
            return json.loads((await server.fetch("cloudtty/api/shells/kept")).body)["status"]["phase"] == "Complete"

        await eventually(completed, what="the once shell to complete")
        closed = await kernel.run("kept.send('x')")
        assert closed.error["evalue"] == "the terminal was closed"

        # close(delete=True) deletes the shell too.
        await run(kernel, "gone = ShellTerminal.new(); name = gone.name; gone.close(delete=True)")
        name = (await run(kernel, "print(name)")).strip()
        try:
            await server.fetch(f"cloudtty/api/shells/{name}")
            raise AssertionError("the shell is still there")
        except HTTPClientError as e:
            assert e.code == 404

        # A shell that does not exist: the server's own message.
        missing = await kernel.run("ShellTerminal('nope')")
        assert (missing.error["ename"], missing.error["evalue"]) == ("ServerError", "shell 'nope' not found")
        bad = await kernel.run("ShellTerminal.new(ttl=-5)")
        assert bad.error["ename"] == "ServerError" and "ttlSecondsAfterStarted" in bad.error["evalue"]


async def test_the_kernels_connection_resumes_after_a_drop(tmp_path):
    """The kernel reaches its server through a forwarder the test cuts: back, it has missed nothing and
    keeps nothing twice (``?client=&received=``), and types again."""
    server = bash_server(tmp_path)
    proxy = TcpProxy(server.port)
    server.env["CLOUDTTY_SERVER_URL"] = f"http://127.0.0.1:{proxy.port}/"  # the kernel's way to its server
    server.env["CLOUDTTY_SERVER_TOKEN"] = server.token
    try:
        async with server, ServerKernel.of(server) as kernel:
            await run(kernel, "from jupyter_cloudtty import ShellTerminal\nt = ShellTerminal.new('away')")
            await run(kernel, r"t.send('echo before-$((1+1))\r'); t.wait_for('^before-2$')")
            proxy.down()
            browser = await server.terminal("away")  # still there: it types while the kernel is away
            await browser.send("echo during-$((2+2))\r")
            await browser.expect(rb"\rduring-4\r\n")
            proxy.up()
            await run(kernel, r"t.wait_for('^during-4$', timeout=30); t.send('echo after-$((3+3))\r')")
            lines = (await run(kernel, r"t.wait_for('^after-6$'); print(t.output)")).splitlines()
            assert [line for line in lines if line in ("before-2", "during-4", "after-6")] == [
                "before-2",
                "during-4",
                "after-6",
            ]
            await browser.close()
    finally:
        proxy.close()
