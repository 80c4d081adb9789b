"""The REST API on a real Jupyter server: shapes, errors, limits, authentication."""

import re

import pytest

from tests.harness.waiting import alive, process_gone


async def test_create_get_list_delete(api, jp_base_url):
    status, shell, response = await api("POST", body={"name": "work", "spec": {"commandAction": "sleep 600"}})
    assert status == 201
    assert response.headers["Location"] == f"{jp_base_url}cloudtty/api/shells/work"
    assert response.headers["Content-Type"].startswith("application/json")
    assert shell["name"] == "work"
    assert shell["spec"] == {"commandAction": "sleep 600"}
    assert shell["status"]["phase"] == "Ready"
    assert shell["status"]["accessUrl"] == f"{jp_base_url}cloudtty/api/shells/work/terminal"
    assert shell["status"]["lastScheduleTime"].endswith("Z")
    assert shell["status"]["conditions"][0]["type"] == "Ready"

    status, got, _ = await api("GET", "work")
    assert (status, got) == (200, shell)
    status, listed, _ = await api("GET")
    assert status == 200 and [s["name"] for s in listed] == ["work"]

    status, body, _ = await api("DELETE", "work")
    assert (status, body) == (204, None)
    status, body, _ = await api("GET", "work")
    assert status == 404 and body == {"message": "shell 'work' not found"}
    assert (await api("GET"))[1] == []


async def test_an_empty_post_creates_a_shell_with_a_generated_name(api):
    status, shell, response = await api("POST")
    assert status == 201
    assert shell["name"].startswith("shell-")
    assert response.headers["Location"].endswith(f"/cloudtty/api/shells/{shell['name']}")


@pytest.mark.parametrize(
    "body, message",
    [
        ({"spec": {"tll": 60}}, "spec.tll: unknown field"),
        ({"spec": {"ttl": "60"}}, "spec.ttl: must be a whole number of seconds, got a string"),
        ({"spec": {"ttl": -5}}, "spec.ttl: must be at least 1 second, got -5"),
        ({"spec": {"once": "true"}}, "spec.once: must be true or false"),
        ({"nme": "x"}, "nme: unknown field"),
        ({"spec": []}, "spec: must be an object, got a list"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field_and_create_nothing(api, body, message):
    status, data, response = await api("POST", body=body)
    assert status == 400
    assert data["message"].startswith(message), data
    assert "traceback" not in data
    assert (await api("GET"))[1] == []


async def test_duplicate_name_is_409(api, create_shell):
    await create_shell("twin", commandAction="sleep 600")
    status, data, _ = await api("POST", body={"name": "twin"})
    assert status == 409 and data == {"message": "a shell named 'twin' already exists"}


async def test_unknown_shell_is_404_on_every_route(api, connect):
    assert (await api("GET", "ghost"))[:2] == (404, {"message": "shell 'ghost' not found"})
    assert (await api("DELETE", "ghost"))[:2] == (404, {"message": "shell 'ghost' not found"})
    with pytest.raises(Exception) as error:
        await connect("ghost")
    assert getattr(error.value, "code", None) == 404


async def test_delete_ends_every_process_of_the_shell(api, create_shell, connect):
    await create_shell("victim")
    term = await connect("victim")
    # A foreground job in its own process group, a background job, and a nohup'd one.
    await term.send("sleep 1001 & echo BG=$!; nohup sleep 1002 >/dev/null 2>&1 & echo NOHUP=$!; echo SH=$$\r")
    found = await term.expect(re.compile(rb"BG=(\d+)\r\n.*NOHUP=(\d+)\r\nSH=(\d+)", re.S))
    await term.send("sleep 1003\r")
    pids = [int(pid) for pid in found.groups()]
    assert all(alive(pid) for pid in pids)

    status, _, _ = await api("DELETE", "victim")
    assert status == 204
    assert await term.wait_closed() == (4002, "the shell was deleted")
    for pid in pids:
        assert process_gone(pid, timeout=5), f"pid {pid} survived the delete"


class TestTerminalsTurnedOff:
    """``ServerApp.terminals_enabled = False``: the administrator said no terminal on the server's
    machine, and a local shell is one, so none starts (JupyterLab's own terminals are off too)."""

    @pytest.fixture
    def jp_server_config(self, jp_server_config):
        return {**jp_server_config, "ServerApp": {**jp_server_config["ServerApp"], "terminals_enabled": False}}

    async def test_no_local_shell_starts_and_the_answer_says_why(self, api):
        status, body, _ = await api("POST", body={"name": "work"})
        why = "this Jupyter server has terminals turned off (ServerApp.terminals_enabled = False)"
        assert (status, body) == (403, {"message": f"{why}, and a local shell is a terminal"})
        assert (await api("GET"))[:2] == (200, [])
        assert (await api("GET", "work"))[0] == 404
