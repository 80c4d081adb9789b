"""The event stream (Server-Sent Events) and the info endpoint, on the local backend."""

from __future__ import annotations

from jupyter_cloudtty._version import __version__
from tests.harness.sse import EventStream


def shell_event(kind: str, name: str, phase: str | None = None):
    def check(event, data) -> bool:
        return (
            event == "shell"
            and data["type"] == kind
            and data["shell"]["name"] == name
            and (phase is None or data["shell"]["status"]["phase"] == phase)
        )

    return check


async def test_snapshot_then_every_change_of_a_shell(events_url, jp_auth_header, create_shell, connect, api):
    await create_shell("before")
    async with EventStream(events_url, jp_auth_header) as events:
        assert events.status == 200 and events.content_type.startswith("text/event-stream")
        event, snapshot = await events.next()
        assert event == "snapshot" and [shell["name"] for shell in snapshot] == ["before"]

        await create_shell("live", commandAction="read line; exit 3")
        _, added = await events.until(shell_event("ADDED", "live", "Ready"))
        assert added["shell"]["spec"] == {"commandAction": "read line; exit 3"}

        term = await connect("live")
        _, running = await events.until(shell_event("MODIFIED", "live"))
        assert running["shell"]["status"]["conditions"][0]["message"].startswith("running as pid")

        await term.send("x\r")
        _, failed = await events.until(shell_event("MODIFIED", "live", "Failed"))
        assert "exited with code 3" in failed["shell"]["status"]["conditions"][-1]["message"]

        assert (await api("DELETE", "live"))[0] == 204
        await events.until(shell_event("DELETED", "live"))


async def test_a_cleanup_shell_that_ends_is_deleted_from_the_stream(events_url, jp_auth_header, create_shell, connect):
    async with EventStream(events_url, jp_auth_header) as events:
        assert (await events.next())[0] == "snapshot"
        await create_shell("brief", commandAction="exit 0", cleanup=True)
        await connect("brief")
        await events.until(shell_event("DELETED", "brief"))


async def test_the_stream_ends_when_the_server_stops(events_url, jp_auth_header, jp_serverapp):
    async with EventStream(events_url, jp_auth_header) as events:
        assert (await events.next())[0] == "snapshot"
        await jp_serverapp.extension_manager.stop_all_extensions()
        assert await events.ended()


async def test_info_names_the_backend_and_version(jp_fetch):
    import json

    response = await jp_fetch("cloudtty", "api", "info")
    info = json.loads(response.body)
    assert info["backend"] == "local"
    assert info["version"] == __version__
    assert info["namespace"] is None
    assert info["identity"]
