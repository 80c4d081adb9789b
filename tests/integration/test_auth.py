"""How a user's client authenticates: a token in the URL, the server's own Origin, a browser's XSRF token.

The refusals (no token, a wrong one, a foreign Origin, no XSRF token, ...) are the attacks of
tests/harness/attacks.py; here, what must keep working for the user.
"""

from jupyter_cloudtty.ttyd import TtydClient


async def test_terminal_accepts_the_token_as_a_query_parameter(create_shell, terminal_url, jp_serverapp):
    # Browsers cannot set headers on a WebSocket: the token comes in the URL or a cookie.
    await create_shell("target")
    token = jp_serverapp.identity_provider.token
    term = await TtydClient.connect(terminal_url("target") + f"?token={token}")
    await term.send("echo in\r")
    await term.expect(rb"\rin\r\n")
    term.connection.close()


async def test_terminal_accepts_the_servers_own_origin(create_shell, connect, jp_auth_header, jp_http_port):
    # The Origin check refuses foreign pages only: the server's own page opens terminals.
    await create_shell("target")
    own = await connect("target", headers={**jp_auth_header, "Origin": f"http://127.0.0.1:{jp_http_port}"})
    await own.send("echo ok\r")
    await own.expect(rb"\rok\r\n")


async def test_a_browser_session_reads_without_xsrf_and_writes_with_it(api, create_shell, jp_fetch):
    await create_shell("target", commandAction="sleep 600")
    # A browser logged in by cookie (as after opening JupyterLab), sending no token.
    response = await jp_fetch("cloudtty", "api", "shells")
    login = "; ".join(c.split(";")[0] for c in response.headers.get_list("Set-Cookie"))
    assert (await api("GET", headers={"Authorization": "", "Cookie": login}))[0] == 200
    # With the XSRF cookie echoed in the header, as JupyterLab sends it, writes work.
    xsrf = {"Authorization": "", "Cookie": f"{login}; _xsrf=c0ffee", "X-XSRFToken": "c0ffee"}
    assert (await api("DELETE", "target", headers=xsrf))[0] == 204
