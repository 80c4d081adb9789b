"""How long a local shell lives: a TTL changed while it runs, and the idle rule.

The idle rule ends a shell nobody types in and nothing prints in, and never one that runs
something: a foreground job that prints nothing (``sleep``), a command of a shell without job
control, a job in the background. The same rule runs in pods (tests/integration/
test_lifecycle_on_cluster.py); these are its cases on a real PTY.
"""

from __future__ import annotations

import pytest

from jupyter_cloudtty.ttyd.protocol import CloseCode


async def at_prompt(term) -> None:
    """Once the shell has run a command and is back at its prompt (the typed line differs from its output)."""
    await term.send("echo AT''PROMPT\r")
    await term.expect(rb"ATPROMPT\r\n")


@pytest.fixture
def cloudtty_config():
    return {"max_ttl": 3600}


async def test_a_running_shell_s_ttl_is_extended_and_honoured(create_shell, connect, api):
    await create_shell("short", ttlSecondsAfterStarted=2)
    term = await connect("short")
    await at_prompt(term)
    status, shell, _ = await api("PATCH", "short", body={"spec": {"ttlSecondsAfterStarted": 600}})
    assert status == 200, shell
    assert shell["spec"]["ttlSecondsAfterStarted"] == 600
    await term.send("sleep 3; echo STILL''-HERE\r")  # past the old TTL of 2 s
    await term.expect(rb"STILL-HERE\r\n")
    assert (await api("GET", "short"))[1]["status"]["phase"] == "Ready"


async def test_a_shortened_ttl_ends_the_shell_at_once(create_shell, connect, api):
    await create_shell("cut", ttlSecondsAfterStarted=600)
    term = await connect("cut")
    await at_prompt(term)
    assert (await api("PATCH", "cut", body={"spec": {"ttlSecondsAfterStarted": 1}}))[0] == 200
    assert (await term.wait_closed())[0] == CloseCode.EXPIRED
    assert (await api("GET", "cut"))[1]["status"]["conditions"][0]["reason"] == "Expired"


async def test_what_a_running_shell_cannot_change_is_refused_naming_it(create_shell, api):
    await create_shell("fixed", ttlSecondsAfterStarted=600, commandAction="bash --norc")

    async def patch(spec):
        return await api("PATCH", "fixed", body={"spec": spec})

    status, body, _ = await patch({"commandAction": "zsh", "ttlSecondsAfterStarted": 900})
    assert status == 400
    assert body["message"].startswith("spec.commandAction: cannot change on a running shell")
    status, body, _ = await patch({"ttlSecondsAfterStarted": 7200})
    assert (status, body["message"]) == (400, "spec.ttlSecondsAfterStarted: at most 3600 seconds here "
                                              "(c.CloudTTY.max_ttl), got 7200")  # fmt: skip
    status, body, _ = await patch({"ttlSecondsAfterStarted": "soon"})
    assert status == 400 and body["message"].startswith("spec.ttlSecondsAfterStarted: must be a whole number")
    status, body, _ = await patch({"once": True})
    assert status == 400 and body["message"].startswith("spec.once: cannot change")
    # The spec sent back whole, with a new TTL, is a change of the TTL alone.
    current = (await api("GET", "fixed"))[1]["spec"]
    status, body, _ = await patch({**current, "ttlSecondsAfterStarted": 1200})
    assert status == 200 and body["spec"]["ttlSecondsAfterStarted"] == 1200
    assert (await api("GET", "fixed"))[1]["spec"]["ttlSecondsAfterStarted"] == 1200
    assert (await api("PATCH", "nosuch", body={"spec": {"ttlSecondsAfterStarted": 60}}))[0] == 404


async def test_an_ended_shell_s_ttl_cannot_change(create_shell, connect, api):
    await create_shell("done", commandAction="true")
    term = await connect("done")
    await term.wait_closed()
    status, body, _ = await api("PATCH", "done", body={"spec": {"ttlSecondsAfterStarted": 60}})
    assert (status, body["message"]) == (409, "shell 'done' has ended: nothing of it can change any more")


async def test_a_shell_idle_at_its_prompt_ends_saying_so(create_shell, connect, api):
    await create_shell("idle", idleTimeoutSeconds=1)
    term = await connect("idle")
    await at_prompt(term)
    code, reason = await term.wait_closed()
    assert (code, reason) == (CloseCode.IDLE, "ended: no input or output for 1s")
    shell = (await api("GET", "idle"))[1]
    assert shell["status"]["phase"] == "Complete"
    assert shell["status"]["conditions"][0]["reason"] == "IdleTimeout"


@pytest.mark.parametrize(
    ("job", "done"),
    # The quotes make what is typed (and echoed) differ from what the job prints at its end.
    [("sleep 3.5; echo WO''KE", b"WOKE"), ("(sleep 3.5; echo DONE''-IN-BACKGROUND) &", b"DONE-IN-BACKGROUND")],
    ids=["foreground", "background"],
)
async def test_a_silent_job_is_never_ended_then_the_idle_prompt_is(create_shell, connect, job, done):
    """A job that prints nothing for three idle timeouts, in the foreground or the background, runs to
    its end; the prompt after it is idle."""
    await create_shell("sleeper", idleTimeoutSeconds=1)
    term = await connect("sleeper")
    await at_prompt(term)
    await term.send(f"{job}\r")
    await term.expect(done + rb"\r\n")
    assert (await term.wait_closed())[0] == CloseCode.IDLE


async def test_a_command_without_job_control_is_a_running_job(create_shell, connect):
    """A commandAction such as ``kubectl logs -f`` runs in the wrapper's own group: silent, still working."""
    await create_shell("quiet", idleTimeoutSeconds=1, commandAction="sleep 3.5; echo FINISHED; sleep 60")
    term = await connect("quiet")
    await term.expect(rb"FINISHED\r\n")


async def test_typing_keeps_a_shell(create_shell, connect):
    await create_shell("typed", idleTimeoutSeconds=2)
    term = await connect("typed")
    await at_prompt(term)
    for i in range(4):  # 4 x 1 s of typing: past the idle timeout, never idle for it
        await term.send(f"sleep 1; echo turn''-{i}\r")
        await term.expect(rf"turn-{i}\r\n".encode())
    assert term.close_code is None
