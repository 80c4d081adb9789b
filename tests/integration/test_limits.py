"""Limits that keep one server from being a fork bomb."""

import pytest


@pytest.fixture
def cloudtty_config():
    return {"max_shells": 2}


async def test_the_cap_on_shells_is_a_clear_429(api, create_shell):
    await create_shell(commandAction="sleep 600")
    await create_shell(commandAction="sleep 600")
    status, data, _ = await api("POST", body={"spec": {"commandAction": "sleep 600"}})
    assert status == 429
    assert "already has 2 shells" in data["message"] and "c.CloudTTY.max_shells" in data["message"]
    assert len((await api("GET"))[1]) == 2
