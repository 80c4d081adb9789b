"""Recorded terminals on a real Jupyter server (local backend): ``c.CloudTTY.recording``'s modes, what a
recording holds, a terminal refused when it cannot be recorded, and the REST routes of the recordings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_cloudtty.ttyd.protocol import CloseCode
from tests.harness.world import extension

BLOCKED = "<a folder under a file>"  # recordings_dir where no folder can be made (root writes anywhere else)


@pytest.fixture
def cloudtty_config(request, tmp_path):
    config = dict(getattr(request, "param", {"recording": "required"}))
    if config.get("recordings_dir") == BLOCKED:
        (tmp_path / "blocked").write_text("a file where the folder should be")
        config["recordings_dir"] = str(tmp_path / "blocked" / "recordings")
    return config


def modes(*configs: dict[str, Any]):
    """Run a test on servers with these ``c.CloudTTY`` options."""
    return pytest.mark.parametrize(
        "cloudtty_config", configs, indirect=True, ids=lambda c: "-".join(map(str, c.values()))
    )


@pytest.fixture
def recordings(http_server_client, jp_http_port, jp_base_url, jp_auth_header):
    """Call ``/cloudtty/api/recordings[/<file>]`` with the path as given (not escaped: names are what is tested);
    returns (status, JSON or the bytes, response)."""

    async def call(method: str = "GET", file: str = "", query: str = "") -> tuple[int, Any, Any]:
        url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}cloudtty/api/recordings" + (f"/{file}" if file else "")
        try:
            response = await AsyncHTTPClient().fetch(url + query, method=method, headers=jp_auth_header)
        except HTTPClientError as e:
            response = e.response
            assert response is not None, e
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        body = json.loads(response.body) if is_json and response.body else response.body
        return response.code, body, response

    return call


def cast(data: bytes) -> tuple[dict, list[list]]:
    """(header, events) of asciicast v2 bytes, as a player reads them."""
    lines = data.decode().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def codes(events: list[list], code: str) -> list[str]:
    return [data for _, kind, data in events if kind == code]


async def session(api, connect, name: str, command: str, answer: bytes, **body: Any) -> Any:
    """A shell ``name`` whose terminal ran ``command`` and showed ``answer`` (its terminal still open)."""
    status, shell, _ = await api("POST", body={"name": name, **body})
    assert status == 201, shell
    term = await connect(name, columns=100, rows=30)
    await term.send(command + "\r")
    await term.expect(answer)
    return term


async def test_a_required_recording_holds_the_session_as_a_player_replays_it(
    api, connect, recordings, jp_root_dir, jp_fetch
):
    term = await session(api, connect, "rec", "echo $((6*7))", rb"\r42\r\n")
    await term.resize(120, 40)
    await term.send("stty size\r")
    await term.expect(rb"\r40 120\r\n")
    assert (await api("GET", "rec"))[1]["record"] is True  # every shell here, asked or not
    assert (await api("DELETE", "rec"))[0] == 204  # the recording ends with the session

    status, listed, _ = await recordings()
    assert status == 200 and listed["dir"] == ".cloudtty/recordings"
    [entry] = listed["recordings"]
    identity = json.loads((await jp_fetch("cloudtty", "api", "info")).body)["identity"]
    assert (entry["shell"], entry["owner"], entry["input"]) == ("rec", identity, False)
    assert entry["path"] == f".cloudtty/recordings/{entry['file']}" and (jp_root_dir / entry["path"]).is_file()
    assert entry["duration"] > 0 and entry["size"] == (jp_root_dir / entry["path"]).stat().st_size

    status, data, response = await recordings("GET", entry["file"])
    assert status == 200 and response.headers["Content-Type"] == "application/x-asciicast"
    header, events = cast(data)
    assert (header["version"], header["width"], header["height"]) == (2, 100, 30)
    assert (header["cloudtty"]["shell"], header["cloudtty"]["owner"]) == ("rec", identity)
    output = "".join(codes(events, "o"))
    assert "\r42\r\n" in output and "\r40 120\r\n" in output
    assert codes(events, "r") == ["120x40"]
    assert codes(events, "i") == []  # input is the administrator's choice, not asked here


@modes({"recording": "required", "record_input": True})
async def test_input_is_recorded_when_the_administrator_asks(api, connect, recordings):
    await session(api, connect, "typed", "echo $((6*7))", rb"\r42\r\n")
    assert (await api("DELETE", "typed"))[0] == 204
    [entry] = (await recordings())[1]["recordings"]
    assert entry["input"] is True
    _, events = cast((await recordings("GET", entry["file"]))[1])
    assert "echo $((6*7))\r" in "".join(codes(events, "i"))


@modes({"recording": "required", "recordings_dir": BLOCKED})
async def test_a_terminal_that_cannot_be_recorded_is_refused_and_its_process_never_starts(
    api, connect, recordings, tmp_path, jp_serverapp
):
    started = tmp_path / "started"
    status, _, _ = await api("POST", body={"name": "blocked", "spec": {"commandAction": f"touch {started}"}})
    assert status == 201
    term = await connect("blocked")
    code, reason = await term.wait_closed()
    assert code == CloseCode.NOT_RECORDED == 4007
    assert reason.startswith("not recorded: cannot record the terminal (Not a directory) in /"), reason
    assert not started.exists()
    assert extension(jp_serverapp).shell_backend._shells["blocked"].pty is None  # no PTY was ever spawned
    shell = (await api("GET", "blocked"))[1]
    assert shell["status"]["phase"] == "Failed"
    assert shell["status"]["conditions"][-1]["reason"] == "NotRecorded"
    again = await connect("blocked")  # the same answer, however often a client comes back
    assert (await again.wait_closed())[0] == 4007 and not started.exists()
    status, body, _ = await recordings()
    assert status == 503 and body["message"].startswith("cannot read the recordings' folder")


@modes({"recording": "optional"})
async def test_optional_records_only_the_shells_created_to_be_recorded(api, connect, recordings, jp_root_dir):
    await session(api, connect, "plain", "echo $((6*7))", rb"\r42\r\n")
    assert (await api("GET", "plain"))[1]["record"] is False
    assert (await api("DELETE", "plain"))[0] == 204
    assert not (jp_root_dir / ".cloudtty").exists()  # not a byte written
    assert (await recordings())[1]["recordings"] == []

    await session(api, connect, "kept", "echo $((7*8))", rb"\r56\r\n", record=True)
    assert (await api("GET", "kept"))[1]["record"] is True
    assert (await api("DELETE", "kept"))[0] == 204
    assert [r["shell"] for r in (await recordings())[1]["recordings"]] == ["kept"]


@pytest.mark.parametrize(
    "cloudtty_config, body, message",
    [
        ({"recording": "off"}, {"record": True}, "record: recording is off on this server"),
        ({"recording": "required"}, {"record": False},
         "record: this server records every shell (c.CloudTTY.recording = 'required')"),
        ({"recording": "optional"}, {"record": "yes"}, 'record: must be true or false, got "yes"'),
        ({"recording": "optional"}, {"record": None}, "record: must be true or false, got null"),
    ],
    indirect=["cloudtty_config"],
)  # fmt: skip
async def test_a_create_request_s_record_is_refused_naming_it(api, body, message):
    status, answer, _ = await api("POST", body={"name": "s", **body})
    assert (status, answer["message"]) == (400, message)
    assert (await api("GET"))[1] == []


@modes({"recording": "optional"})
async def test_the_recordings_are_listed_searched_read_and_deleted(api, connect, recordings, jp_fetch):
    alpha = await session(api, connect, "alpha", "echo $((6*7))", rb"\r42\r\n", record=True)
    status, listed, _ = await recordings()
    [live] = listed["recordings"]
    status, body, _ = await recordings("DELETE", live["file"])
    assert status == 409 and "still being written" in body["message"]  # its terminal is open
    alpha.connection.close()
    await session(api, connect, "beta", "echo $((7*8))", rb"\r56\r\n", record=True)
    for name in ("alpha", "beta"):
        assert (await api("DELETE", name))[0] == 204

    listed = (await recordings())[1]["recordings"]
    assert [r["shell"] for r in listed] == ["beta", "alpha"]  # newest first
    assert [r["shell"] for r in (await recordings(query="?shell=alpha"))[1]["recordings"]] == ["alpha"]
    [found] = (await recordings(query="?q=56"))[1]["recordings"]
    assert found["shell"] == "beta" and "56" in found["matches"]
    assert (await recordings(query="?q=no-such-text"))[1]["recordings"] == []

    file = next(r["file"] for r in listed if r["shell"] == "alpha")
    status, data, _ = await recordings("GET", file)
    assert status == 200 and "\r42\r\n" in "".join(codes(cast(data)[1], "o"))
    assert (await recordings("DELETE", file))[0] == 204
    status, body, _ = await recordings("GET", file)
    assert (status, body["message"]) == (404, f"recording {file!r} not found")
    assert (await recordings("DELETE", file))[0] == 404
    assert [r["shell"] for r in (await recordings())[1]["recordings"]] == ["beta"]

    info = json.loads((await jp_fetch("cloudtty", "api", "info")).body)
    assert info["recording"] == {"mode": "optional", "input": False}


@modes({"recording": "optional"})
@pytest.mark.parametrize(
    "file", ["..%2F..%2F..%2Fetc%2Fpasswd", "a%2Fb.cast", "%2E%2E", "..%2Fx.cast", "x.txt", "%2E%2E%2Fx.cast"]
)
async def test_a_recording_name_that_could_leave_the_folder_is_refused(recordings, file):
    status, body, _ = await recordings("GET", file)
    assert status == 400 and body["message"].startswith("file: not a recording's name"), body
    assert (await recordings("DELETE", file))[0] == 400


@modes({"recording": "optional"})
async def test_list_arguments_are_refused_naming_them(recordings):
    status, body, _ = await recordings(query="?shell=Not_A_Name")
    assert status == 400 and body["message"].startswith("shell: ")
    status, body, _ = await recordings(query="?q=" + "x" * 201)
    assert (status, body["message"]) == (400, "q: at most 200 characters, got 201")


@modes({"recording": "optional"})
async def test_only_the_server_s_user_reaches_the_recordings(api, connect, recordings, http_server_client, jp_http_port,
                                                             jp_base_url):  # fmt: skip
    await session(api, connect, "mine", "echo $((6*7))", rb"\r42\r\n", record=True)
    [entry] = (await recordings())[1]["recordings"]
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}cloudtty/api/recordings"
    for method, url in [("GET", base), ("GET", f"{base}/{entry['file']}"), ("DELETE", f"{base}/{entry['file']}")]:
        with pytest.raises(HTTPClientError) as refused:
            await AsyncHTTPClient().fetch(url, method=method)  # no token
        assert refused.value.code == 403
    assert (await recordings("GET", entry["file"]))[0] == 200  # still there
