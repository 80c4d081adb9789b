"""The terminal honours the server's allow_origin settings, as the server's own sockets do.

A foreign origin refused despite them is an attack of tests/harness/attacks.py.
"""

import pytest


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["allow_origin_pat"] = r"https://lab\.example\.com"
    return jp_server_config


async def test_an_allowed_origin_may_open_a_terminal(create_shell, connect, jp_auth_header):
    await create_shell("target")
    term = await connect("target", headers={**jp_auth_header, "Origin": "https://lab.example.com"})
    await term.send("echo allowed\r")
    await term.expect(rb"\rallowed\r\n")
