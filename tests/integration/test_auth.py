"""Every route needs Jupyter's authentication; the WebSocket also checks Origin."""

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_cloudtty.ttyd import TtydClient

ROUTES = [
    ("GET", ()),
    ("POST", ()),
    ("GET", ("target",)),
    ("DELETE", ("target",)),
]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
async def test_rest_routes_refuse_unauthenticated_requests(api, create_shell, method, path, token):
    await create_shell("target", commandAction="sleep 600")
    headers = {"Authorization": f"token {token}"} if token else {"Authorization": ""}
    status, body, _ = await api(method, *path, headers=headers)
    assert status == 403, body
    # ...and changed nothing.
    assert [s["name"] for s in (await api("GET"))[1]] == ["target"]


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
async def test_terminal_refuses_unauthenticated_upgrades(create_shell, terminal_url, token):
    await create_shell("target", commandAction="sleep 600")
    headers = {"Authorization": f"token {token}"} if token else {}
    with pytest.raises(HTTPClientError) as error:
        await TtydClient.connect(terminal_url("target"), headers=headers)
    assert error.value.code == 403


async def test_terminal_accepts_the_token_as_a_query_parameter(create_shell, terminal_url, jp_serverapp):
    # Browsers cannot set headers on a WebSocket: the token comes in the URL or a cookie.
    await create_shell("target")
    token = jp_serverapp.identity_provider.token
    term = await TtydClient.connect(terminal_url("target") + f"?token={token}")
    await term.send("echo in\r")
    await term.expect(rb"\rin\r\n")
    term.connection.close()


async def test_terminal_refuses_a_foreign_origin(create_shell, connect, jp_auth_header, jp_http_port):
    await create_shell("target")
    with pytest.raises(HTTPClientError) as error:
        await connect("target", headers={**jp_auth_header, "Origin": "http://evil.example.com"})
    assert error.value.code == 403
    # The server's own origin is fine (so the refusal above is about Origin alone).
    own = await connect("target", headers={**jp_auth_header, "Origin": f"http://127.0.0.1:{jp_http_port}"})
    await own.send("echo ok\r")
    await own.expect(rb"\rok\r\n")


async def test_a_browser_session_cannot_post_or_delete_without_xsrf(api, create_shell, jp_fetch):
    await create_shell("target", commandAction="sleep 600")
    # A browser logged in by cookie (as after opening JupyterLab), sending no token.
    response = await jp_fetch("cloudtty", "api", "shells")
    login = "; ".join(c.split(";")[0] for c in response.headers.get_list("Set-Cookie"))
    browser = {"Authorization": "", "Cookie": login}
    assert (await api("GET", headers=browser))[0] == 200  # reading needs no XSRF token

    for method, path in [("POST", ()), ("DELETE", ("target",))]:
        status, _, _ = await api(method, *path, headers=browser)
        assert status == 403, method
    assert [s["name"] for s in (await api("GET"))[1]] == ["target"]

    # With the XSRF cookie echoed in the header, as JupyterLab sends it, the same works.
    xsrf = {"Authorization": "", "Cookie": f"{login}; _xsrf=c0ffee", "X-XSRFToken": "c0ffee"}
    assert (await api("DELETE", "target", headers=xsrf))[0] == 204


async def test_a_refused_token_in_the_url_is_not_logged(create_shell, terminal_url, caplog):
    await create_shell("target")
    with pytest.raises(HTTPClientError) as error:
        await TtydClient.connect(terminal_url("target") + "?token=leaked-secret-123")
    assert error.value.code == 403
    assert "403 GET" in caplog.text and "/cloudtty/api/shells/target/terminal" in caplog.text
    assert "leaked-secret-123" not in caplog.text
