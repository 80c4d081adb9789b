"""Through a real JupyterHub: users reach their own shells through the hub's proxy, never another's.

One hub (tests/harness/hub.py: JupyterHub, configurable-http-proxy from npm, local-process servers) serves
the whole module; alice's and bob's servers use the local backend. Each test names its own shells;
a failing test's report ends with the logs of the hub, the proxy and both servers.
"""

import re
from datetime import datetime, timezone

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient
from tests.harness.hub import Hub, logs_on_failure
from tests.harness.waiting import eventually

pytestmark = pytest.mark.slow  # a real JupyterHub and its users' servers

# Passed by the hub to every single-user server. A list option is given by repeating it: the server
# parses its command line before it knows CloudTTY's traits, so a ["a", "b"] literal would be one item.
SHELL = ["bash", "--norc", "--noprofile"]
ARGS = [*(f"--CloudTTY.shell_command={arg}" for arg in SHELL), "--CloudTTY.kill_timeout=1.0"]
# jupyterhub-singleuser tells the hub its last activity every second (300 by default), for the activity test.
ENV = {"CLOUDTTY_HUB_TEST": "passed-through", "JUPYTERHUB_ACTIVITY_INTERVAL": "1"}
FORBIDDEN = {"message": "Forbidden", "reason": None}  # what a server's JupyterHub auth answers, as JSON


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with Hub(tmp_path_factory.mktemp("hub"), users=("alice", "bob"), singleuser_args=ARGS, singleuser_env=ENV) as hub:
        hub.start_servers("alice", "bob")
        yield hub


def refusals(hub: Hub, server: str, user: str) -> int:
    """How often ``server``'s JupyterHub auth refused ``user`` (a known user, but not allowed there)."""
    return (hub.log_dir / f"{server}.log").read_text().count(f"Not allowing user {user}")


@logs_on_failure
async def test_alice_runs_a_command_in_her_shell_through_the_proxy(hub):
    alice = hub.user("alice")
    status, shell, response = await alice.api("POST", body={"name": "answer"})
    assert status == 201, shell
    assert response.headers["Location"] == "/user/alice/cloudtty/api/shells/answer"
    assert shell["status"]["accessUrl"] == "/user/alice/cloudtty/api/shells/answer/terminal"

    term = await alice.terminal("answer")
    await term.send("echo $((6*7)) $CLOUDTTY_HUB_TEST $HOME\r")
    await term.expect(rf"\r42 passed-through {re.escape(str(hub.home_dir / 'alice'))}\r\n")
    # The server's arguments came from the hub (the extension itself from the package's install).
    assert term.title.startswith("bash --norc --noprofile ("), term.title
    term.connection.close()
    assert (await alice.api("DELETE", "answer"))[0] == 204


@logs_on_failure
async def test_bob_is_refused_alices_server_on_every_route(hub):
    alice, bob = hub.user("alice"), hub.user("bob")
    assert (await alice.api("POST", body={"name": "kept", "spec": {}}))[0] == 201
    term = await alice.terminal("kept")
    await term.send("echo PID=$$\r")
    pid = (await term.expect(rb"\rPID=(\d+)\r\n")).group(1)
    before = refusals(hub, "alice", "bob")

    # Bob's own valid token, on each REST route of alice's server: 403 from the JupyterHub auth of
    # her server (the hub says the token is bob's, and bob lacks access:servers!server=alice/).
    for method, path, body in [
        ("GET", (), None),
        ("POST", (), {"name": "intruder"}),
        ("GET", ("kept",), None),
        ("DELETE", ("kept",), None),
    ]:
        status, data, _ = await alice.api(method, *path, body=body, headers=bob.headers)
        assert (status, data) == (403, FORBIDDEN), (method, path)
    # ...and on the terminal WebSocket: with the token in a header, and in the URL as a browser
    # sends it (JupyterHub only reads ?token= on requests that say Sec-Fetch-Mode: websocket).
    terminal_url = alice.url("cloudtty", "api", "shells", "kept", "terminal", scheme="ws")
    for url, headers in [
        (terminal_url, bob.headers),
        (f"{terminal_url}?token={bob.token}", {"Sec-Fetch-Mode": "websocket"}),
    ]:
        with pytest.raises(HTTPClientError) as error:
            await TtydClient.connect(url, headers=headers)
        assert error.value.code == 403, url
    assert refusals(hub, "alice", "bob") - before == 6

    # Bob logged in with his browser: the hub's OAuth refuses him alice's server, so he never gets
    # her server's cookie, and his own cookies open nothing there.
    browser = await hub.login("bob")
    response = await browser.fetch("/user/alice/")
    assert response.code == 403, response.effective_url
    assert response.effective_url.startswith(f"{hub.url}/hub/api/oauth2/authorize?client_id=jupyterhub-user-alice&")
    assert b"You do not have permission to access Server at /user/alice/" in response.body
    assert browser.cookie("jupyterhub-user-alice", "/user/alice/") is None
    response = await browser.fetch("/user/alice/cloudtty/api/shells", headers=browser.headers("/user/alice/x"))
    assert response.code == 403
    with pytest.raises(HTTPClientError) as error:
        await TtydClient.connect(terminal_url, headers=browser.headers("/user/alice/cloudtty/api/shells/kept/terminal"))
    assert error.value.code == 403

    # Alice's shell is untouched: listed alone, still Ready, the same process, still hers to use.
    status, shells, _ = await alice.api("GET")
    assert status == 200 and [s["name"] for s in shells if s["name"] in ("kept", "intruder")] == ["kept"]
    assert shells[[s["name"] for s in shells].index("kept")]["status"]["phase"] == "Ready"
    await term.send("echo PID=$$ again\r")
    assert (await term.expect(rb"\rPID=(\d+) again\r\n")).group(1) == pid
    term.connection.close()
    assert (await alice.api("DELETE", "kept"))[0] == 204


@logs_on_failure
async def test_bobs_server_lists_only_his_shells(hub):
    alice, bob = hub.user("alice"), hub.user("bob")
    assert (await alice.api("POST", body={"name": "alices"}))[0] == 201
    assert (await bob.api("POST", body={"name": "bobs"}))[0] == 201

    status, shells, _ = await bob.api("GET")
    assert status == 200 and [s["name"] for s in shells] == ["bobs"]
    assert shells[0]["status"]["accessUrl"] == "/user/bob/cloudtty/api/shells/bobs/terminal"
    # Alice's shell does not exist on bob's server, whatever route he uses.
    missing = {"message": "shell 'alices' not found"}
    assert (await bob.api("GET", "alices"))[:2] == (404, missing)
    assert (await bob.api("DELETE", "alices"))[:2] == (404, missing)
    with pytest.raises(HTTPClientError) as error:
        await bob.terminal("alices")
    assert error.value.code == 404

    status, shells, _ = await alice.api("GET")
    names = [s["name"] for s in shells]
    assert "alices" in names and "bobs" not in names
    for user, name in ((alice, "alices"), (bob, "bobs")):
        assert (await user.api("DELETE", name))[0] == 204


@logs_on_failure
async def test_alices_browser_session_needs_xsrf_and_her_origin(hub):
    """Cookie authentication as JupyterLab uses it: XSRF on writes, Origin on the terminal."""
    browser = await hub.login("alice")
    response = await browser.fetch("/user/alice/")  # the OAuth round trip gives her server's cookie
    assert response.code == 200 and response.effective_url == f"{hub.url}/user/alice/lab", response.effective_url
    shells = "/user/alice/cloudtty/api/shells"

    response = await browser.fetch(shells, "POST", b'{"name": "tab"}', headers={"Origin": hub.url})
    assert response.code == 403 and b"'_xsrf' argument missing from POST" in response.body
    response = await browser.fetch(shells, "POST", b'{"name": "tab"}', headers=browser.headers(shells, xsrf=True))
    assert response.code == 201, response.body

    terminal_url = hub.user("alice").url("cloudtty", "api", "shells", "tab", "terminal", scheme="ws")
    headers = browser.headers(f"{shells}/tab/terminal")
    term = await TtydClient.connect(terminal_url, headers=headers)
    await term.send("echo $((6*7))\r")
    await term.expect(rb"\r42\r\n")
    term.connection.close()
    with pytest.raises(HTTPClientError) as error:
        await TtydClient.connect(terminal_url, headers={**headers, "Origin": "http://evil.example.com"})
    assert error.value.code == 403

    response = await browser.fetch(f"{shells}/tab", "DELETE", headers=browser.headers(shells, xsrf=True))
    assert response.code == 204


def server_activity(hub: Hub, user: str) -> datetime:
    """The hub's last_activity of ``user``'s server: what an idle culler goes by."""
    status, model = hub.hub_request("GET", f"users/{user}")
    assert status == 200, model
    return datetime.fromisoformat(model["servers"][""]["last_activity"].replace("Z", "+00:00"))


def activity_reports(hub: Hub, user: str) -> int:
    """How many times ``user``'s server has told the hub its activity (changed or not)."""
    return (hub.log_dir / "hub.log").read_text().count(f" POST /hub/api/users/{user}/activity ")


@logs_on_failure
async def test_alices_typing_in_a_shell_is_her_activity_on_the_hub_and_an_idle_prompt_is_not(hub):
    """Only the terminal is used after the shell is made: the hub's last_activity for her server moves
    with her typing (so z2jh's idle culler leaves her server alone), and stays put while the terminal
    sits idle, through reports of her server to the hub."""
    alice = hub.user("alice")
    assert (await alice.api("POST", body={"name": "typing"}))[0] == 201
    term = await alice.terminal("typing")
    await term.send("PS1='$ '; stty -echo; echo READY; cat > /dev/null\r")
    await term.expect(rb"READY\r\n")

    async def activity_since(moment: datetime) -> None:
        async def moved() -> bool:
            return server_activity(hub, "alice") >= moment

        await eventually(moved, what=f"the hub's last_activity of alice's server to pass {moment}")

    before = datetime.now(timezone.utc)
    await term.send("typed into cat, which prints nothing\r")
    await activity_since(before)  # input alone counts

    before = datetime.now(timezone.utc)
    await term.send("\x04")  # the end of cat's input: bash's prompt comes back
    await term.expect(rb"\$ $")
    await activity_since(before)
    at_the_prompt = server_activity(hub, "alice")
    reports = activity_reports(hub, "alice")

    async def reported_twice() -> bool:
        return activity_reports(hub, "alice") >= reports + 2

    await eventually(reported_twice, what="two more activity reports of alice's server")
    assert server_activity(hub, "alice") == at_the_prompt, "an idle prompt counted as activity"
    term.connection.close()
    assert (await alice.api("DELETE", "typing"))[0] == 204
