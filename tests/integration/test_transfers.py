"""Files through a terminal on a real Jupyter server (local backend, real trz/tsz on a PTY): the
transfers route (``POST .../transfers``, NDJSON), a ``tsz`` typed in the terminal, cancels, the cap,
and a shell without trz. What a user sees: the file where they asked with the same SHA-256, a
terminal that goes on working, and errors that say why. The relayed (cluster) path is
tests/integration/test_transfers_on_cluster.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.harness.transfers import post_transfer

MB = 1_000_000
PROMPT = [{"name": "PS1", "value": "prompt> "}]
# trz/tsz's end: its cursor back, then the shell's next prompt. Only then is typing the shell's again: until
# trz/tsz has exited, its reader takes what is typed (as it does for any trzsz user).
ENDED = rb"(?s)\x1b\[\?25h.*prompt> "


@pytest.fixture
def transfer(jp_serverapp, jp_http_port, jp_base_url, jp_auth_header):
    """POST a transfer to the test's server (tests/harness/transfers.py): (status, the NDJSON events).
    ``abort_after`` stops reading (closes the request) after that many events."""

    async def post(name: str, body: dict[str, Any], abort_after: int | None = None) -> tuple[int, list[dict]]:
        server = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
        return await post_transfer(server, jp_auth_header, name, body, timeout=600, abort_after=abort_after)

    return post


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_an_upload_lands_binary_exact_where_asked_and_the_terminal_goes_on(
    create_shell, connect, transfer, jp_root_dir, tmp_path
):
    (jp_root_dir / "data").mkdir()
    source = jp_root_dir / "data" / "sample.bin"
    source.write_bytes(os.urandom(3 * MB))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    await create_shell("up", env=PROMPT)
    term = await connect("up")
    await term.send("echo RE''ADY\r")
    await term.expect(rb"READY")

    status, events = await transfer("up", {"direction": "upload", "paths": ["data/sample.bin"], "to": str(inbox)})

    assert status == 200, events
    assert events[0] == {"event": "start", "direction": "upload", "files": ["sample.bin"], "total": 3 * MB}
    done = events[-1]
    assert done["event"] == "done" and done["bytes"] == 3 * MB, done
    assert done["files"][0]["sha256"] == digest(source)
    assert digest(inbox / "sample.bin") == digest(source)
    # What the terminal's viewers see at the end: trz's own summary, then its cursor back (it has exited).
    await term.expect(re.escape(f"Saved 1 file/directory to {inbox}\r\r\n- sample.bin").encode())
    await term.expect(ENDED)
    await term.send(f"sha256sum {inbox}/sample.bin | cut -c1-16; echo D''ONE\r")
    await term.expect(re.escape(digest(source)[:16]).encode())
    await term.expect(rb"DONE")


async def test_an_upload_to_a_shell_nobody_has_opened_starts_its_terminal(
    create_shell, transfer, jp_root_dir, tmp_path
):
    (jp_root_dir / "notes.txt").write_text("ünïcode\nand lines\n")
    await create_shell("fresh", env=PROMPT)
    status, events = await transfer("fresh", {"direction": "upload", "paths": ["notes.txt"], "to": str(tmp_path)})
    assert status == 200, events
    assert (tmp_path / "notes.txt").read_text() == "ünïcode\nand lines\n"


async def test_a_download_lands_in_the_folder_asked_under_the_name_asked(create_shell, connect, transfer, jp_root_dir):
    await create_shell("down", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    term = await connect("down")
    name = f"made-{os.getpid()}.bin"
    await term.send(f"head -c 2000000 /dev/urandom > {name}; sha256sum {name}; echo M''ADE\r")
    shell_digest = (await term.expect(rb"([0-9a-f]{64})  made")).group(1).decode()
    await term.expect(rb"MADE")
    (jp_root_dir / "dl").mkdir()

    status, events = await transfer("down", {"direction": "download", "remote": [name], "to": "dl", "as": "got.bin"})

    assert status == 200, events
    done = events[-1]
    assert done["files"] == [{"name": "got.bin", "path": "dl/got.bin", "size": 2 * MB, "sha256": shell_digest}]
    assert digest(jp_root_dir / "dl" / "got.bin") == shell_digest
    assert [p.name for p in (jp_root_dir / "dl").iterdir()] == ["got.bin"]  # no staging folder left
    os.unlink(f"/tmp/{name}")


async def test_tsz_typed_in_the_terminal_saves_into_the_jupyter_root(create_shell, connect, jp_root_dir):
    await create_shell("typed", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    term = await connect("typed")
    name = f"typed-{os.getpid()}.txt"
    await term.send(f"seq 1 100000 > {name}; tsz -b {name}\r")
    await term.expect(rb"Saved " + re.escape(name).encode() + rb" to the Jupyter root \(588\.9 KB, [0-9.]+ [KMG]B/s\)")
    await term.expect(ENDED)
    saved = jp_root_dir / name
    assert saved.read_bytes() == b"".join(b"%d\n" % i for i in range(1, 100001))
    await term.send("echo AF''TER\r")  # the terminal is the user's again
    await term.expect(rb"AFTER")
    os.unlink(f"/tmp/{name}")


async def test_a_tsz_from_a_tab_that_downloads_in_the_browser_is_left_to_the_tab(create_shell, connect, jp_root_dir):
    """The tab's own trzsz filter answers it: the trigger reaches the client untouched, nothing is saved."""
    await create_shell("browser", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    term = await connect("browser", downloads="browser")
    await term.send("echo x > leave.txt; tsz leave.txt\r")
    await term.expect(rb"::TRZSZ:TRANSFER:S:")
    await term.send("\x03")
    assert not (jp_root_dir / "leave.txt").exists()


async def test_ctrl_c_in_the_terminal_cancels_an_upload_and_trz_removes_what_it_began(
    create_shell, connect, transfer, jp_root_dir, tmp_path
):
    (jp_root_dir / "big.bin").write_bytes(os.urandom(200 * MB))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    await create_shell("cancel", env=PROMPT)
    term = await connect("cancel")
    await term.send("echo RE''ADY\r")
    await term.expect(rb"READY")

    async def on_progress() -> None:
        await term.expect(rb"uploading big\.bin")
        await term.send("\x03")

    pressing = asyncio.ensure_future(on_progress())
    status, events = await transfer("cancel", {"direction": "upload", "paths": ["big.bin"], "to": str(inbox)})
    await pressing
    assert status == 200
    assert events[-1] == {"event": "error", "status": 499, "message": "cancelled"}
    await term.expect(rb"Stopped and deleted")  # trz's last words, once it has deleted
    await term.expect(ENDED)
    assert list(inbox.iterdir()) == []
    await term.send("echo AF''TER\r")
    await term.expect(rb"AFTER")


async def test_a_shell_deleted_during_an_upload_ends_the_transfer(create_shell, connect, transfer, api, jp_root_dir):
    """Its trz is killed mid-transfer, so nothing will answer the peer again: the request still ends, with
    the transfer cancelled, instead of waiting for a frame that will not come."""
    (jp_root_dir / "big.bin").write_bytes(os.urandom(200 * MB))
    await create_shell("doomed", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    term = await connect("doomed")

    async def delete_once_it_runs() -> None:
        await term.expect(rb"uploading big\.bin")
        status, _, _ = await api("DELETE", "doomed")
        assert status == 204

    deleting = asyncio.ensure_future(delete_once_it_runs())
    status, events = await asyncio.wait_for(transfer("doomed", {"direction": "upload", "paths": ["big.bin"]}), 30)
    await deleting
    assert status == 200
    assert events[-1] == {"event": "error", "status": 499, "message": "cancelled"}
    assert not os.path.exists("/tmp/big.bin") or os.path.getsize("/tmp/big.bin") < 200 * MB
    with contextlib.suppress(FileNotFoundError):
        os.unlink("/tmp/big.bin")


async def test_a_client_that_goes_away_cancels_its_download(create_shell, connect, transfer, jp_root_dir):
    await create_shell("away", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    term = await connect("away")
    name = f"away-{os.getpid()}.bin"
    await term.send(f"head -c 300000000 /dev/zero > {name}; echo M''ADE\r")
    await term.expect(rb"MADE")
    (jp_root_dir / "dl").mkdir()
    status, events = await transfer("away", {"direction": "download", "remote": [name], "to": "dl"}, abort_after=2)
    assert status == 0 and events[0]["event"] == "start"
    await term.expect(rb"Stopped and deleted")  # tsz's last words, as it exits
    await term.expect(ENDED)
    await term.send("echo AF''TER\r")
    await term.expect(rb"AFTER")
    assert list((jp_root_dir / "dl").iterdir()) == []  # nothing half-written
    os.unlink(f"/tmp/{name}")


@pytest.mark.parametrize("cloudtty_config", [{"transfer_max_bytes": 4096}])
async def test_the_cap_refuses_a_big_upload_before_it_starts_and_stops_a_big_download(
    create_shell, connect, transfer, jp_root_dir, cloudtty_config
):
    (jp_root_dir / "five.bin").write_bytes(b"5" * 5000)
    await create_shell("capped", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    status, events = await transfer("capped", {"direction": "upload", "paths": ["five.bin"]})
    assert status == 413
    assert events == [{"message": "paths: 5000 bytes, over this server's limit of 4096 bytes"}]

    term = await connect("capped")
    name = f"capped-{os.getpid()}.bin"
    await term.send(f"head -c 5000 /dev/zero > {name}; echo M''ADE\r")
    await term.expect(rb"MADE")
    status, events = await transfer("capped", {"direction": "download", "remote": [name]})
    assert events[-1]["event"] == "error" and events[-1]["status"] == 413
    assert "over this server's limit of 4096 bytes" in events[-1]["message"]
    assert not list(jp_root_dir.glob("capped-*"))
    os.unlink(f"/tmp/{name}")


async def test_a_download_of_a_missing_file_says_what_the_shell_said(create_shell, transfer):
    await create_shell("missing", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    status, events = await transfer("missing", {"direction": "download", "remote": ["/nope/nothing.txt"]})
    assert status == 422
    assert events[0]["message"].startswith("the shell says: No such file")


async def test_a_second_transfer_while_one_runs_is_refused(create_shell, connect, transfer, jp_root_dir):
    (jp_root_dir / "one.bin").write_bytes(os.urandom(100 * MB))
    await create_shell("busy", env=PROMPT, commandAction="cd /tmp && exec bash --norc --noprofile")
    term = await connect("busy")
    first = asyncio.ensure_future(transfer("busy", {"direction": "upload", "paths": ["one.bin"]}))
    await term.expect(rb"uploading one\.bin")
    second = await transfer("busy", {"direction": "upload", "paths": ["one.bin"]})
    assert second == (409, [{"message": "another transfer is running in this shell; wait for it or cancel it"}])
    assert (await first)[1][-1]["event"] == "done"
    os.unlink("/tmp/one.bin")
