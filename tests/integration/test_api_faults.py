"""The API server failing for a while (500, 429, no answer): its clients retry with backoff and recover.

The Jupyter server (Kubernetes backend: its watch thread and its REST calls) and the operator
(kopf) against kmock's emulator, whose ``outage()`` (tests/harness/emulator.py) fails their requests,
and cuts or silences their open watches, until the test ends it. The test's own calls (``kube``,
as kubectl from elsewhere) still get through.
"""

from __future__ import annotations

import json
import logging
import re
from itertools import pairwise

import pytest

from tests.harness.controllers import Running, cloudshell, ready_endpoint, run_pod, wait_phase
from tests.harness.kube import NS
from tests.harness.sse import EventStream
from tests.harness.waiting import eventually

LIST = re.compile(rf"^/apis/cloudshell\.cloudtty\.io/v1alpha1/namespaces/{NS}/cloudshells\?(?!.*watch=)")
FAULTS = [pytest.param(500, id="500"), pytest.param(429, id="429"), pytest.param(None, id="no-answer")]
# What a REST call answers while the API server fails, and the start of its message.
ANSWERS = {
    500: (503, "the Kubernetes API failed (500: "),
    429: (429, "the Kubernetes API is too busy to answer ("),
    None: (503, "the Kubernetes API at "),
}


@pytest.fixture
def cloudtty_config(kubernetes_config):
    # Short waits, so that an outage and the recovery take seconds.
    return {**kubernetes_config, "kube_api_timeout": 1.0, "kube_watch_seconds": 2, "kube_backoff": 0.2,
            "kube_max_backoff": 1.0}  # fmt: skip


@pytest.fixture
def info(jp_fetch):
    async def get() -> dict:
        return json.loads((await jp_fetch("cloudtty", "api", "info")).body)

    return get


def unhandled(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors logged with a traceback (tornado's 'Uncaught exception', a handler's or a thread's)."""
    return [r.getMessage() for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]


@pytest.mark.usefixtures("backend_stops_before_the_cluster")  # tests/harness/kube_fixtures.py
@pytest.mark.parametrize("status", FAULTS)
@pytest.mark.slow
async def test_during_an_outage_users_get_clear_errors_and_after_it_all_works(
    api, k8s, kube, pods, connect, events_url, jp_auth_header, info, caplog, status
):
    assert (await api("POST", body={"name": "s1"}))[0] == 201
    await pods.ready("s1")
    term = await connect("s1")
    # Open: the server has reached the shell's ttyd (with the token from its Secret, read once).
    await term.send("echo $((6*6))\r")
    await term.expect(rb"\r36\r\n")
    async with EventStream(events_url, jp_auth_header) as events:
        assert [s["name"] for s in (await events.next())[1]] == ["s1"]
        with k8s.k8s.outage(status) as outage:
            await kube.delete("CloudShell", NS, "s1")  # kubectl, through an API server that works

            async def said() -> bool:
                return (await info())["apiServerError"] is not None

            await eventually(said, what="/api/info saying the API server fails")
            assert (await info())["apiServerError"].startswith(ANSWERS[status][1])
            # The last state seen is shown: the deletion is not.
            assert [s["name"] for s in (await api("GET"))[1]] == ["s1"]
            for method, path, body in [("POST", (), {"name": "s2"}), ("DELETE", ("s1",), None), ("GET", ("s9",), None)]:
                code, answer, _ = await api(method, *path, body=body)
                assert (code, answer["message"][: len(ANSWERS[status][1])]) == ANSWERS[status], answer
            # A terminal already open does not go through the API server: it keeps working.
            await term.send("echo $((6*7))\r")
            await term.expect(rb"\r42\r\n")

            def lists() -> list[float]:
                return [at for at, method, path in outage.hits if method == "GET" and LIST.match(path)]

            async def retried() -> bool:
                return len(lists()) >= 4

            await eventually(retried, timeout=20, what="the watch trying again")
        gaps = [b - a for a, b in pairwise(lists())]
        if status == 429:  # at least as long as the API server asked (Retry-After: 1)
            assert min(gaps) > 0.9, gaps
        else:  # longer and longer
            assert gaps[-1] > gaps[0], f"no backoff: {gaps}"

        # After the outage: the deletion is seen, on the list and on the event stream.
        _, gone = await events.until(lambda e, d: e == "shell" and d["type"] == "DELETED", timeout=15)
        assert gone["shell"]["name"] == "s1"
        assert (await api("GET"))[1] == []
        assert (await info())["apiServerError"] is None
        # Nothing half-created by the failed POST; the same name works now, and its terminal too.
        assert await kube.get("CloudShell", NS, "s2") is None
        assert (await api("POST", body={"name": "s2"}))[0] == 201
        await events.until(lambda e, d: e == "shell" and d["type"] == "ADDED" and d["shell"]["name"] == "s2")
    await pods.ready("s2")
    term = await connect("s2")
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    assert unhandled(caplog) == []


@pytest.mark.usefixtures("backend_stops_before_the_cluster")
async def test_a_create_left_unanswered_but_made_after_all_is_the_users_to_see_and_delete(api, k8s, kube):
    """With a real API server a create that timed out may still have been made: it then shows
    up, as the user's, and can be deleted; asking again for the same name says it exists."""
    with k8s.k8s.outage(None, methods=["POST"], requests=1, late_writes=True) as outage:
        code, answer, _ = await api("POST", body={"name": "s1"})
        assert code == 503 and answer["message"].endswith("did not answer within 1s; try again later"), answer
        assert await kube.get("CloudShell", NS, "s1") is None and len(outage.hits) == 1
        assert (await api("POST", body={"name": "s2"}))[0] == 201  # the next one is answered

    async def listed() -> bool:
        return sorted(s["name"] for s in (await api("GET"))[1]) == ["s1", "s2"]

    await eventually(listed, what="the shell made after all, on the list")
    code, answer, _ = await api("POST", body={"name": "s1"})
    assert (code, answer["message"]) == (409, "a shell named 's1' already exists")
    assert (await api("DELETE", "s1"))[0] == 204
    assert await kube.get("CloudShell", NS, "s1") is None


def backed_off(hits: list[float], retry_after: float | None) -> bool:
    """Retries wait longer and longer, or as long as the API server asked (all but the first gap:
    two handlers may meet the outage at once): no hot loop."""
    gaps = [b - a for a, b in pairwise(hits)]
    if retry_after:
        return all(gap > retry_after * 0.9 for gap in gaps[1:])
    return sum(gaps[-2:]) > 2 * sum(gaps[:2])


@pytest.mark.parametrize("status", [500, 429])
@pytest.mark.slow
async def test_the_operator_loses_no_shell_to_an_outage_of_its_writes(status):
    async with Running() as api:
        with api.k8s.outage(status, methods=["POST", "PATCH"]) as outage:
            await api.create(cloudshell())  # a user's create goes through; the operator's writes fail

            async def retried() -> bool:
                return len(outage.hits) >= 3

            await eventually(retried, what="the operator trying again")
        await wait_phase(api, "CreatedRouteRule")
        service = await api.get("Service", NS, "cloudshell-s1")  # the API server allocates its port
        ports = [{**service["spec"]["ports"][0], "nodePort": 31234}]
        await api.patch("Service", NS, "cloudshell-s1", {"spec": {"ports": ports}})

        # The pod and its endpoint become ready while the operator cannot write: no event will come again.
        with api.k8s.outage(status, methods=["POST", "PATCH"]) as outage:
            await run_pod(api)
            await ready_endpoint(api)

            def status_writes() -> list[float]:
                return [at for at, method, path in outage.hits if path.endswith("/cloudshells/s1/status")]

            async def status_retried() -> bool:
                return len(status_writes()) >= 6

            await eventually(status_retried, what="the operator trying to write the status again")
        assert backed_off(status_writes(), 1 if status == 429 else None), status_writes()
        await wait_phase(api, "Ready")  # not Failed: a transient error is no reason to fail a shell
        for kind in ("Job", "Service", "ServiceAccount", "RoleBinding"):
            assert [o["metadata"]["name"] for o in await api.list(kind, NS)] == ["cloudshell-s1"], kind
