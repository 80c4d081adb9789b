"""Every attack of the table (harness/attacks.py) against a real Jupyter server: the rejection it expects, no harm.

For each row: a server with the row's settings (local backend, or Kubernetes on kmock's emulator),
its world (harness/world.py), the attack as a client sends it, then the checks a user or an administrator
would make: the answer; the same shells as before, none started, nothing of anyone's touched, no
new process; nothing logged at ERROR, no traceback, no token in the log.
"""

from __future__ import annotations

import logging

import pytest

from tests.harness.attacks import (
    ATTACKS,
    BROWSER,
    CLUSTER_POLICY,
    EVIL,
    FOREIGN_PAGE,
    LEAKED,
    LEAKED_TOKEN,
    LEAKED_TOKEN_IN_URL,
    NOBODY,
    TOKEN,
    VICTIMS,
    WRONG_TOKEN,
    WRONG_TOKEN_IN_URL,
    Attack,
    Closed,
    Http,
    NotListed,
    Refused,
)
from tests.harness.kube import write_kubeconfig
from tests.harness.sse import EventStream
from tests.harness.world import Answer, ClusterWorld, LocalWorld, Server, own_processes


@pytest.fixture
def attack(request) -> Attack:
    return request.param


@pytest.fixture
def cloudtty_config(attack, request, tmp_path):
    if attack.backend != "kubernetes":
        return attack.cloudtty
    k8s = request.getfixturevalue("k8s")
    return {
        "backend": "kubernetes",
        "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", k8s.url)),
        "owner": "bob",
        "connect_via": "url",
        **CLUSTER_POLICY,
        **attack.cloudtty,
    }


@pytest.fixture
def jp_server_config(jp_server_config, attack):
    jp_server_config["ServerApp"].update(attack.server)
    return jp_server_config


@pytest.fixture
def server(jp_serverapp, http_server_client, jp_http_port, jp_base_url) -> Server:
    """The server, listening (pytest-jupyter binds its port for http_server_client)."""
    return Server(jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)


async def credentials(who: str, server: Server) -> tuple[dict[str, str], str]:
    """The headers and the query parameter (or "") that ``who`` sends."""
    if who == TOKEN:
        return server.auth, ""
    if who == NOBODY:
        return {}, ""
    if who == WRONG_TOKEN:
        return {"Authorization": f"token {LEAKED}"}, ""
    if who == WRONG_TOKEN_IN_URL:
        return {}, f"token={LEAKED}"
    if who == LEAKED_TOKEN:
        return {**server.auth, "Origin": EVIL}, ""
    if who == LEAKED_TOKEN_IN_URL:
        return {"Origin": EVIL}, f"token={server.token}"
    if who == BROWSER:
        return {"Cookie": await server.login_cookie()}, ""
    assert who == FOREIGN_PAGE, who
    return {"Cookie": await server.login_cookie(), "Origin": EVIL}, ""


def with_query(path: str, query: str) -> str:
    return path if not query else path + ("&" if "?" in path else "?") + query


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.id for attack in ATTACKS], indirect=True)
async def test_attack(attack: Attack, server: Server, jp_serverapp, request, caplog):
    if attack.backend == "kubernetes":
        request.getfixturevalue("backend_stops_before_the_cluster")
        world = await ClusterWorld(server, request.getfixturevalue("kube"), request.getfixturevalue("pods")).build()
    else:
        world = await LocalWorld(jp_serverapp).build()
    headers, query = await credentials(attack.who, server)
    before, processes = await world.snapshot(), own_processes()
    caplog.clear()

    if isinstance(attack.answer, NotListed):
        await not_listed(attack, server, world, headers)
    elif isinstance(attack.request, Http):
        got = await server.fetch(attack.request.method, with_query(attack.request.path, query),
                                 attack.request.body, headers)  # fmt: skip
        assert_refused(attack, got)
    else:
        got = await server.terminal(with_query(attack.request.path, query), headers)
        if isinstance(got, Answer):
            assert_refused(attack, got)
        else:
            for frame in attack.request.frames:
                await got.connection.write_message(frame, binary=True)
            if attack.request.raw:
                await got.connection.protocol.stream.write(attack.request.raw)  # what no library would send
            code, reason = await got.wait_closed()
            assert isinstance(attack.answer, Closed), f"the upgrade was accepted; then closed {code} {reason!r}"
            assert code == attack.answer.code and attack.answer.says in (reason or ""), (code, reason)

    # Nothing created, started or touched; no process left behind; the server still answers.
    assert await world.snapshot() == before
    assert own_processes() - processes == set(), "the attack started a process"
    assert (await server.fetch("GET", "api/status", headers=server.auth)).status == 200
    # Nothing an administrator would have to look into, and no credentials in the log.
    alarming = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not alarming, "\n".join(caplog.text.splitlines()[-40:])
    assert LEAKED not in caplog.text and server.token not in caplog.text


def assert_refused(attack: Attack, got: Answer) -> None:
    assert isinstance(attack.answer, Refused), f"refused ({got.status} {got.message!r}), expected {attack.answer}"
    assert got.status == attack.answer.status, got
    assert attack.answer.says in got.message, got
    assert got.json == attack.answer.json, f"expected {'a JSON' if attack.answer.json else 'a plain'} message: {got}"
    assert not got.json or len(got.message) < 500, "a message (and its log line) stays short, whatever was sent"


async def not_listed(attack: Attack, server: Server, world: ClusterWorld, headers: dict) -> None:
    """The victims are absent from bob's list; on the event stream, not in the snapshot, and their
    changes never come (the watch delivers in order: his own change after theirs comes first)."""
    assert isinstance(attack.request, Http)
    if attack.request.path.endswith("events"):
        async with EventStream(server.http + attack.request.path, headers) as events:
            event, shells = await events.next()
            assert event == "snapshot" and [shell["name"] for shell in shells] == ["b-own"]
            for victim in VICTIMS:
                await world.pods.status(victim, phase="Complete")
            await world.pods.status("b-own", phase="CreatedJob")
            _, first = await events.until(lambda event, data: event == "shell")
            assert first["shell"]["name"] == "b-own", first
    else:
        got = await server.fetch(attack.request.method, attack.request.path, attack.request.body, headers)
        assert got.status == 200 and [shell["name"] for shell in got.data] == ["b-own"], got
