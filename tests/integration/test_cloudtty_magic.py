"""``%cloudtty`` in a real kernel of a real Jupyter server (a process), as in a notebook.

Nothing tells the kernel where its server is: it finds it as any kernel of that server would (its
connection file's kernel id, asked of the servers in the runtime directory it shares with them).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.cloudshell.model import parse_time
from tests.harness.hub import Hub
from tests.harness.ipython import text_rows
from tests.harness.kernels import ServerKernel
from tests.harness.servers import JupyterProcess

pytestmark = pytest.mark.slow  # kernels of real Jupyter servers

LOCAL = ("--CloudTTY.backend=local",)


async def test_shells_from_a_notebook(tmp_path):
    async with JupyterProcess("jupyter_server", tmp_path, args=LOCAL) as server, ServerKernel.of(server) as kernel:
        base = f"http://127.0.0.1:{server.port}/"
        assert (await kernel.run("%load_ext jupyter_cloudtty")).error is None

        info = await kernel.run("%cloudtty info")
        rows = {row["FIELD"]: row["VALUE"] for row in text_rows(info.result["text/plain"])}
        assert rows["server"] == f"{base} (runs kernel {kernel.id}; pid {server.process.pid})"
        assert rows["backend"] == "local"
        assert re.fullmatch(r"v1\.\d+\.\d+ \(/.+/kubectl\)", rows["kubectl"])
        assert "<td>backend</td><td>local</td>" in info.result["text/html"]

        # One short line, and the shell's row.
        new = await kernel.run('%cloudtty new pods --command "sleep 600" --ttl 600')
        assert new.error is None and new.stderr == ""
        assert new.stdout == "created shell pods: %cloudtty open pods shows its terminal\n"
        [shown] = text_rows(new.displays[0]["text/plain"])
        assert {"NAME": "pods", "PHASE": "Ready", "COMMAND": "sleep 600", "TTL": "600s"}.items() <= shown.items()
        created = json.loads((await server.fetch("cloudtty/api/shells/pods")).body)
        assert created["spec"] == {"commandAction": "sleep 600", "ttlSecondsAfterStarted": 600}

        await kernel.run("%cloudtty new other --once")
        listing = await kernel.run("%cloudtty list")
        assert [(r["NAME"], r["PHASE"]) for r in text_rows(listing.result["text/plain"])] == [
            ("pods", "Ready"),
            ("other", "Ready"),
        ]
        assert "<td>pods</td><td>Ready</td><td>sleep 600</td>" in listing.result["text/html"]
        bare = await kernel.run("%cloudtty")  # the list too
        assert (bare.stdout, bare.stderr, bare.error) == ("", "", None)
        assert [(r["NAME"], r["PHASE"]) for r in text_rows(bare.result["text/plain"])] == [
            ("pods", "Ready"),
            ("other", "Ready"),
        ]

        # The terminal widget, as the cell's value (what a browser shows of it: tests/ui/test_notebook.py).
        opened = await kernel.run("%cloudtty open pods")
        assert (opened.stdout, opened.stderr, opened.error) == ("", "", None)
        assert opened.result["application/vnd.jupyter.widget-view+json"]["model_id"]
        assert opened.result["text/plain"].startswith("ShellTerminal('pods'): its terminal shows in JupyterLab 4")
        term = await kernel.run("t = %cloudtty open pods\nprint(t.name, type(t).__name__)")
        assert term.stdout == "pods ShellTerminal\n"
        # A shell that has ended: said so too (the terminal shows its last output).
        done = {"name": "done", "spec": {"commandAction": "true"}}
        await server.fetch("cloudtty/api/shells", method="POST", body=done)
        assert await (await server.terminal("done")).wait_closed() == (1000, "exited")
        ended = await kernel.run("%cloudtty open done")
        assert ended.stdout == "shell done has ended (Complete); its terminal shows its last output\n"
        assert ended.result["text/plain"].startswith("ShellTerminal('done')")
        await kernel.run("%cloudtty rm done")

        # The server's own message, no traceback; nothing created.
        try:
            await server.fetch("cloudtty/api/shells", method="POST", body={"spec": {"ttlSecondsAfterStarted": -5}})
        except HTTPClientError as e:
            refused = json.loads(e.response.body)["message"]
        bad = await kernel.run("%cloudtty new --ttl -5")
        assert (bad.stderr, bad.error, bad.displays) == (f"cloudtty: {refused}\n", None, [])
        assert "ttlSecondsAfterStarted" in refused

        assert (await kernel.run("%cloudtty rm pods")).stdout == "deleted shell pods\n"
        gone = await kernel.run("%cloudtty rm pods")
        assert (gone.stderr, gone.error) == ("cloudtty: shell 'pods' not found\n", None)
        assert (await kernel.run("%cloudtty open pods")).stderr == "cloudtty: shell 'pods' not found\n"
        await kernel.run("%cloudtty rm other")
        assert (await kernel.run("%cloudtty list")).result["text/plain"] == "No shells."

        usage = await kernel.run("%cloudtty open")
        assert "UsageError: %cloudtty open needs a shell's NAME" in usage.stderr + str(usage.error)
        assert "Traceback" not in usage.stderr


async def _shell(server: JupyterProcess, name: str) -> dict:
    return json.loads((await server.fetch(f"cloudtty/api/shells/{name}")).body)


async def _refusal(server: JupyterProcess, name: str, ttl: int) -> str:
    """The server's own message for a PATCH of this TTL (it must refuse it)."""
    with pytest.raises(HTTPClientError) as refused:
        await server.fetch(
            f"cloudtty/api/shells/{name}", method="PATCH", body={"spec": {"ttlSecondsAfterStarted": ttl}}
        )
    return json.loads(refused.value.response.body)["message"]


async def test_extending_a_shell(tmp_path):
    """The TTL counts from the shell's start: extending adds to it, up to the server's max_ttl."""
    args = (*LOCAL, "--CloudTTY.max_ttl=10800")
    async with JupyterProcess("jupyter_server", tmp_path, args=args) as server, ServerKernel.of(server) as kernel:
        await kernel.run("%load_ext jupyter_cloudtty")
        await server.fetch("cloudtty/api/shells", method="POST", body={"name": "s1", "spec": {"ttl": 1800}})

        extended = await kernel.run("%cloudtty extend s1 1h30m")
        assert (extended.stdout, extended.stderr, extended.error) == ("s1: 2h left (TTL 2h)\n", "", None)
        assert (await _shell(server, "s1"))["spec"]["ttlSecondsAfterStarted"] == 7200
        listing = await kernel.run("%cloudtty list")
        assert [(r["NAME"], r["TTL"]) for r in text_rows(listing.result["text/plain"])] == [("s1", "7200s")]
        assert (await kernel.run("%cloudtty extend s1 1800")).stdout == "s1: 2h 30m left (TTL 2h 30m)\n"
        assert (await _shell(server, "s1"))["spec"]["ttlSecondsAfterStarted"] == 9000

        # Past max_ttl: the server's words, one line; the TTL stays.
        refused = await _refusal(server, "s1", 9000 + 2 * 86400)
        assert "10800" in refused
        beyond = await kernel.run("%cloudtty extend s1 2d")
        assert (beyond.stdout, beyond.stderr, beyond.error) == ("", f"cloudtty: {refused}\n", None)
        assert (await _shell(server, "s1"))["spec"]["ttlSecondsAfterStarted"] == 9000

        for duration in ("soon", "0", "1.5h", "30 m", "-5"):
            usage = await kernel.run(f"%cloudtty extend s1 '{duration}'")
            said = usage.stderr + str(usage.error)
            assert (
                f"UsageError: %cloudtty extend: DURATION is seconds (90) or units d, h, m, s (30m, 1h, 1h30m, 2d), "
                f"not '{duration}'" in said
            ), said
            assert "Traceback" not in usage.stderr and usage.stdout == ""
        missing = await kernel.run("%cloudtty extend s1")
        assert "UsageError: %cloudtty extend needs a shell's NAME and a DURATION" in missing.stderr + str(missing.error)
        assert (await _shell(server, "s1"))["spec"]["ttlSecondsAfterStarted"] == 9000

        # An ended shell and no shell: the server's words too.
        await server.fetch(
            "cloudtty/api/shells", method="POST", body={"name": "done", "spec": {"commandAction": "true"}}
        )
        assert await (await server.terminal("done")).wait_closed() == (1000, "exited")
        ended = await _refusal(server, "done", 3600)
        assert "has ended" in ended
        assert (await kernel.run("%cloudtty extend done 1h")).stderr == f"cloudtty: {ended}\n"
        nothing = await kernel.run("%cloudtty extend nope 1h")
        assert (nothing.stderr, nothing.error) == ("cloudtty: shell 'nope' not found\n", None)


async def test_extending_a_shell_without_a_ttl_gives_it_one(tmp_path):
    """No TTL: the shell has lived its age already, so it gets that age plus the extension."""
    async with JupyterProcess("jupyter_server", tmp_path, args=LOCAL) as server, ServerKernel.of(server) as kernel:
        await kernel.run("%load_ext jupyter_cloudtty")
        await server.fetch("cloudtty/api/shells", method="POST", body={"name": "free"})
        started = parse_time((await _shell(server, "free"))["status"]["lastScheduleTime"])

        before = datetime.now(timezone.utc)
        extended = await kernel.run("%cloudtty extend free 1h")
        after = datetime.now(timezone.utc)
        # Its age when the kernel asked, in whole seconds, rounded up: the shell gets at least the hour.
        ttl = (await _shell(server, "free"))["spec"]["ttlSecondsAfterStarted"]
        assert (before - started).total_seconds() <= ttl - 3600 <= (after - started).total_seconds() + 1
        assert re.fullmatch(r"free: 1h left \(TTL 1h( 1m)?\)\n", extended.stdout), extended.stdout


async def test_each_kernel_finds_its_own_server_among_several(tmp_path):
    """Two servers share one runtime directory (one user); each kernel lists its own server's shells."""
    async with (
        JupyterProcess("jupyter_server", tmp_path, token="first-token", args=LOCAL) as first,
        JupyterProcess("jupyter_server", tmp_path, token="second-token", args=LOCAL) as second,
    ):
        await first.fetch("cloudtty/api/shells", method="POST", body={"name": "on-first"})
        await second.fetch("cloudtty/api/shells", method="POST", body={"name": "on-second"})
        for server, name in ((first, "on-first"), (second, "on-second")):
            async with ServerKernel.of(server) as kernel:
                listing = await kernel.run("%load_ext jupyter_cloudtty\n%cloudtty list")
                assert [row["NAME"] for row in text_rows(listing.result["text/plain"])] == [name]


async def test_on_jupyterhub_the_kernel_finds_its_server_with_the_token_it_inherits(tmp_path):
    """A single-user server's kernel: its server's info file has no token; the hub's server token is used."""
    args = ["--CloudTTY.shell_command=sleep", "--CloudTTY.shell_command=600", "--CloudTTY.backend=local"]
    async with Hub(tmp_path, users=("alice",), singleuser_args=args) as hub:
        alice = await hub.astart_server("alice")
        async with ServerKernel(alice.server_url, alice.headers, hub.home_dir / "alice") as kernel:
            new = await kernel.run("%load_ext jupyter_cloudtty\n%cloudtty new work")
            assert new.stderr == "" and new.stdout.startswith("created shell work:"), hub.logs()
            status, shells, _ = await alice.api("GET")  # through the hub's proxy, with alice's own token
            assert status == 200 and [shell["name"] for shell in shells] == ["work"]
            info = await kernel.run("%cloudtty info")
            rows = {row["FIELD"]: row["VALUE"] for row in text_rows(info.result["text/plain"])}
            assert re.fullmatch(
                rf"http://127\.0\.0\.1:\d+/user/alice/ \(runs kernel {kernel.id}; pid \d+\)", rows["server"]
            )
            assert rows["identity"] == "alice"
