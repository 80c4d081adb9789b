"""A cluster shell's life as alice's browser meets it through her Jupyter server on the real control
plane: a TTL extended with the REST API and honoured by the Job, her typing in a relayed terminal
counted as the server's activity (and an idle prompt not), the idle rule in the pod ending a terminal
she has open with its close code.

As tests/integration/test_lifecycle_on_cluster.py, with the chart's operator (harness/installed.py), the
real Job controller and the tests' node running the real ttyd; but every step goes through the server's
REST API and its terminal WebSocket, with the rights docs/administrators.md documents (its Role).
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone

import pytest

from tests.harness.activity import last_activity_of, read_by_the_server
from tests.harness.documented import grant_documented_role
from tests.harness.installed import Installed
from tests.harness.servers import JupyterProcess
from tests.harness.shells_on_cluster import call, kubectl_json, server

pytestmark = pytest.mark.slow

FIRST_TTL = 10  # seconds: time enough to start the shell and extend it, little to wait past


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def condition(shell: dict, kind: str) -> dict:
    return next(c for c in shell["status"]["conditions"] if c["type"] == kind)


async def activity(jupyter: JupyterProcess) -> datetime:
    """The server's ``last_activity``, as a hub's idle culler reads it."""
    return last_activity_of((await jupyter.fetch("api/status")).body)


async def test_a_ttl_extended_with_the_rest_api_moves_the_job_s_deadline(control_plane, node, namespace, tmp_path):
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path) as release,
        server(namespace, kubeconfig, tmp_path / "root", max_ttl=600) as jupyter,
    ):
        created, _ = await call(jupyter, "POST", "", {"name": "longer", "spec": {"ttlSecondsAfterStarted": FIRST_TTL}})
        assert created == 201
        term = await jupyter.terminal("longer")  # waits for Ready
        await term.send("echo UP-$((6*7))\r")
        await term.expect("UP-42")

        status, extended = await call(jupyter, "PATCH", "/longer", {"spec": {"ttlSecondsAfterStarted": 60}})
        assert (status, extended["spec"]["ttlSecondsAfterStarted"]) == (200, 60), extended
        cluster.kubectl("wait", "--for=jsonpath={.spec.activeDeadlineSeconds}=60", "job/cloudshell-longer",
                        "-n", namespace, f"--timeout={FIRST_TTL}s")  # fmt: skip
        # The shell outlives the deadline it was made with (the Job's, counted from its start).
        job = kubectl_json(cluster, "get", "job", "cloudshell-longer", "-n", namespace)
        started = moment(job["status"]["startTime"])
        wait = max(1, math.ceil((started - datetime.now(timezone.utc)).total_seconds()) + FIRST_TTL + 3)
        await term.send(f"sleep {wait}; echo STILL-$((6*7))\r")
        await term.expect("STILL-42", wait + 10)
        status, shell = await call(jupyter, "GET", "/longer")
        assert (status, shell["status"]["phase"], term.close_code) == (200, "Ready", None), shell
        assert shell["status"]["accessUrl"].endswith("?ttl=60")

        # Past the administrator's longest TTL, or another field changed: refused, naming the field.
        spec = kubectl_json(cluster, "get", "cloudshell", "longer", "-n", namespace)["spec"]
        status, refused = await call(jupyter, "PATCH", "/longer", {"spec": {"ttlSecondsAfterStarted": 601}})
        assert (status, refused["message"]) == (
            400, "spec.ttlSecondsAfterStarted: at most 600 seconds here (c.CloudTTY.max_ttl), got 601")  # fmt: skip
        change = {"spec": {"ttlSecondsAfterStarted": 60, "commandAction": "bash -x"}}
        status, refused = await call(jupyter, "PATCH", "/longer", change)
        assert (status, refused["message"]) == (400, (
            "spec.commandAction: cannot change on a running shell (only spec.ttlSecondsAfterStarted can): "
            "delete it and create a new one"))  # fmt: skip
        # Nothing of either reached the cluster.
        assert kubectl_json(cluster, "get", "cloudshell", "longer", "-n", namespace)["spec"] == spec
        job = kubectl_json(cluster, "get", "job", "cloudshell-longer", "-n", namespace)
        assert job["spec"]["activeDeadlineSeconds"] == 60
        await term.close()
    assert "Traceback" not in release.log and "Traceback" not in jupyter.log, jupyter.log[-4000:]


async def test_typing_in_a_relayed_terminal_is_the_server_s_activity_and_an_idle_prompt_is_not(
    control_plane, node, namespace, tmp_path
):
    """As test_activity.py shows for local shells. REST calls count by themselves and ``/api/status``
    does not: after the shell's creation, only the terminal can move ``last_activity``."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    # Pings to the pod's ttyd every second: an idle prompt's terminal is not silent, and must not count.
    async with (
        Installed(cluster, namespace, tmp_path),
        server(namespace, kubeconfig, tmp_path / "root", upstream_ping_interval=1) as jupyter,
    ):
        created, _ = await call(jupyter, "POST", "", {"name": "typing", "spec": {"ttl": 600}})
        assert created == 201
        term = await jupyter.terminal("typing")
        await term.send("stty -echo; PS1='idle> '; echo READY; cat > /dev/null\r")
        await term.expect(rb"READY\r\n")
        before = datetime.now(timezone.utc)
        await term.send("typed into cat, which prints nothing\r")  # input, and no output at all
        await read_by_the_server(term)
        assert await activity(jupyter) >= before

        await term.send("\x04")  # cat ends; the shell prints its prompt, then nothing
        await term.expect("idle> ")
        at_the_prompt = await activity(jupyter)
        await asyncio.sleep(2.5)  # idle: two of the server's pings to the pod's ttyd go by
        await read_by_the_server(term)
        assert await activity(jupyter) == at_the_prompt
        assert term.close_code is None
        await term.close()


async def test_the_idle_rule_in_the_pod_closes_a_relayed_terminal_saying_why(control_plane, node, namespace, tmp_path):
    """The browser's terminal stays open and quiet; the pod's idle rule ends the shell; the browser is
    told so with the documented close code, and the shell's status says why."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        spec = {"ttl": 600, "idleTimeoutSeconds": 2}
        created, _ = await call(jupyter, "POST", "", {"name": "dozy", "spec": spec})
        assert created == 201
        term = await jupyter.terminal("dozy")
        await term.send("echo AWAKE-$((6*7))\r")
        await term.expect("AWAKE-42")
        # 4006: the shell ended idle (docs/reference.md), in the operator's words.
        assert await term.wait_closed(30) == (4006, "no input or output for 2s")
        status, shell = await call(jupyter, "GET", "/dozy")
        assert status == 200, shell
        ready = condition(shell, "Ready")
        assert (shell["status"]["phase"], ready["reason"], ready["message"]) == (
            "Complete", "IdleTimeout", "no input or output for 2s")  # fmt: skip
    assert "Traceback" not in release.log and "Traceback" not in jupyter.log, jupyter.log[-4000:]


async def test_a_ttl_running_out_closes_a_relayed_terminal_saying_only_that(control_plane, node, namespace, tmp_path):
    """The Job's deadline takes the pod; the browser is told the TTL ran out, not that a new pod comes."""
    cluster = control_plane
    kubeconfig = grant_documented_role(cluster, namespace)
    async with (
        Installed(cluster, namespace, tmp_path) as release,
        server(namespace, kubeconfig, tmp_path / "root") as jupyter,
    ):
        created, _ = await call(jupyter, "POST", "", {"name": "brief", "spec": {"ttlSecondsAfterStarted": FIRST_TTL}})
        assert created == 201
        term = await jupyter.terminal("brief")
        await term.send("echo BRIEF-$((6*7))\r")
        await term.expect("BRIEF-42")
        seen = bytearray()

        async def to_the_end() -> None:
            while (data := await term.read()) is not None:
                seen.extend(data)

        await asyncio.wait_for(to_the_end(), FIRST_TTL + 30)
        assert (term.close_code, term.close_reason) == (4001, f"its TTL of {FIRST_TTL}s ran out")
        assert b"waiting for a new one" not in seen, bytes(seen[-2000:])
    assert "Traceback" not in release.log and "Traceback" not in jupyter.log, jupyter.log[-4000:]
