"""Transfers' checks and the trigger search (server/transfers.py), and the peer's confinement
(server/trzsz_peer.py), without a server: the end-to-end runs are in tests/integration/test_transfers.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_cloudtty.server.transfers import Plan, Transfer, TransferRefused, Transfers, free_name, plan


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(b"x" * 100)
    (tmp_path / "b.bin").write_bytes(b"y" * 50)
    return tmp_path


def refused(body: object, root: Path, max_bytes: int = 0) -> TransferRefused:
    with pytest.raises(TransferRefused) as caught:
        plan(body, root, max_bytes)
    return caught.value


def test_an_upload_names_files_of_the_root_and_totals_them(root: Path) -> None:
    checked = plan({"direction": "upload", "paths": ["data/a.csv", str(root / "b.bin")], "to": "/tmp"}, root, 1000)
    assert checked.local == [root / "data" / "a.csv", root / "b.bin"]
    assert checked.total == 150
    assert checked.command() == "trz -b -y /tmp"
    assert checked.command({"trz": "/opt/my env/bin/trz"}) == "'/opt/my env/bin/trz' -b -y /tmp"


def test_a_download_goes_to_a_folder_of_the_root(root: Path) -> None:
    checked = plan({"direction": "download", "remote": ["/etc/os release"], "to": "data", "as": "os.txt"}, root, 0)
    assert checked.to == root / "data"
    assert checked.command() == "tsz -b '/etc/os release'"
    assert checked.rename == "os.txt"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"direction": "sideways"}, "direction", 400),
        ({"direction": "upload"}, "paths", 400),
        ({"direction": "upload", "paths": ["../outside"]}, "paths[0]", 400),
        ({"direction": "upload", "paths": ["/etc/passwd"]}, "paths[0]", 400),
        ({"direction": "upload", "paths": ["nope.txt"]}, "paths[0]", 404),
        ({"direction": "upload", "paths": ["b.bin"], "to": "a\nrm -rf ~"}, "to", 400),
        ({"direction": "upload", "paths": ["b.bin"], "as": "c"}, "as", 400),
        ({"direction": "download", "remote": []}, "remote", 400),
        ({"direction": "download", "remote": ["x\ny"]}, "remote[0]", 400),
        ({"direction": "download", "remote": ["a", "b"], "as": "c"}, "as", 400),
        ({"direction": "download", "remote": ["a"], "as": "../c"}, "as", 400),
        ({"direction": "download", "remote": ["a"], "to": "b.bin"}, "to", 404),
        ({"direction": "download", "remote": ["a"], "to": "../.."}, "to", 400),
        ({"direction": "upload", "paths": ["b.bin"], "mode": 1}, "mode", 400),
        ({"direction": "upload", "paths": ["b.bin"], "overwrite": "yes"}, "overwrite", 400),
        ([], "body", 400),
    ],
)
def test_bad_requests_name_their_field(root: Path, body: object, field: str, status: int) -> None:
    error = refused(body, root)
    assert error.status == status
    assert str(error).startswith(field) or field == "body"


def test_a_link_out_of_the_root_is_refused(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret"
    outside.write_text("s")
    (root / "link").symlink_to(outside)
    assert "outside the Jupyter root" in str(refused({"direction": "upload", "paths": ["link"]}, root))


def test_an_upload_over_the_cap_is_refused_before_it_starts(root: Path) -> None:
    error = refused({"direction": "upload", "paths": ["data/a.csv", "b.bin"]}, root, max_bytes=120)
    assert error.status == 413
    assert "150 bytes, over this server's limit of 120 bytes" in str(error)


def test_downloads_never_replace_a_file_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "out.tar.gz").write_text("1")
    (tmp_path / "out (1).tar.gz").write_text("2")
    assert free_name(tmp_path, "out.tar.gz").name == "out (2).tar.gz"
    assert free_name(tmp_path, ".bashrc").name == ".bashrc"


class FakeSession:
    """What a transfer uses of a session, recording what the clients were shown."""

    def __init__(self) -> None:
        self.shown = b""
        self.diverted: object | None = None
        self.watch_tail = b""
        self.typist: object | None = None
        self.marks: list[str] = []
        self.tools: dict[str, str] = {}
        self.transfer_ended = float("-inf")
        self.typed = b""

    def type(self, data: bytes) -> None:
        self.typed += data

    def inject(self, data: bytes) -> None:
        self.shown += data

    def divert(self, target: object) -> None:
        self.diverted = target

    def undivert(self, target: object) -> None:
        self.diverted = None

    def mark(self, label: str) -> None:
        self.marks.append(label)

    def attach(self, client: object) -> bytes:
        return b""

    def detach(self, client: object) -> None:
        pass

    def notice(self, text: str) -> None:
        self.shown += text.encode()


TRIGGER = b"\x1b7::TRZSZ:TRANSFER:S:1.1.7:9660375532500:41133\r\n"


@pytest.mark.parametrize("cut", [1, 5, 20, 30, len(TRIGGER) - 1])
async def test_output_before_a_split_trigger_is_shown_once_and_the_trigger_never(cut: int) -> None:
    session = FakeSession()
    transfer = Transfer(session, Plan("download"), max_bytes=0, typed=False)
    output = b"$ tsz -b out.bin\r\n" + TRIGGER + b"#CFG:..."
    split = output.index(TRIGGER) + cut
    transfer.take(output[:split])
    transfer.take(output[split:])
    assert session.shown == b"$ tsz -b out.bin\r\n\x1b7"  # the cursor save too: trz's end restores it
    assert transfer._triggered.result() == b"S"
    assert transfer._buffer == b"#CFG:..."  # for the peer


NO_TRZ = "trz is not installed in the shell's image (PyPI's trzsz provides trz and tsz)"


@pytest.mark.parametrize(
    ("said", "message"),
    [
        (
            b"bash: trz: command not found",
            "trz is not installed in the shell's image (PyPI's trzsz provides trz and tsz)",
        ),
        (b"sh: 1: trz: not found", "trz is not installed in the shell's image (PyPI's trzsz provides trz and tsz)"),
        (b"Not a directory: /tmp/nope", "the shell says: Not a directory: /tmp/nope"),
    ],
)
async def test_a_shell_that_will_not_run_trz_fails_the_transfer_at_once(said: bytes, message: str) -> None:
    session = FakeSession()
    transfer = Transfer(session, Plan("upload", to="/tmp/nope", overwrite=True), max_bytes=0)
    running = asyncio.ensure_future(transfer.run())
    await asyncio.sleep(0)  # it has typed its command
    assert session.typed == b"trz -b -y /tmp/nope\r"
    transfer.take(b"trz -b -y /tmp/nope\r\n" + said + b"\r\n$ ")
    with pytest.raises(TransferRefused) as refused:
        await running
    assert (refused.value.status, str(refused.value)) == (422, message)
    assert session.shown.endswith(said + b"\r\n$ ")  # the user sees what the shell said
    assert session.diverted is None


async def test_a_long_output_without_trigger_is_shown_whole_and_not_kept() -> None:
    session = FakeSession()
    transfer = Transfer(session, Plan("upload"), max_bytes=0)
    data = os.urandom(300 * 1024).replace(b":", b".")
    for i in range(0, len(data), 4096):
        transfer.take(data[i : i + 4096])
    assert session.shown + transfer._buffer == data
    assert len(transfer._buffer) < 32


@pytest.mark.parametrize("cut", [3, 10, len(b"::TRZSZ:TRANSFER:")])
async def test_the_watch_takes_a_typed_tsz_split_across_chunks(cut: int, tmp_path: Path) -> None:
    session = FakeSession()
    transfers = Transfers(tmp_path, 0)
    output = b"x" * 100 + TRIGGER
    split = output.index(b"::TRZSZ") + cut
    transfers.watch(session, output[:split])
    assert session.diverted is None
    session.shown += output[:split]  # what the session delivered meanwhile
    transfers.watch(session, output[split:])
    transfer = session.diverted
    assert isinstance(transfer, Transfer)
    transfer.take(output[split:])
    assert session.shown == output[:split]  # nothing more: what was shown of the trigger is not shown again
    assert transfer._triggered.result() == b"S"
    await transfers.shutdown()


async def test_the_watch_leaves_a_tsz_to_a_tab_that_downloads_in_the_browser(tmp_path: Path) -> None:
    session = FakeSession()
    session.typist = type("Tab", (), {"downloads": "browser"})()
    Transfers(tmp_path, 0).watch(session, TRIGGER)
    assert session.diverted is None


async def test_the_watch_leaves_an_upload_trigger_to_the_tab(tmp_path: Path) -> None:
    session = FakeSession()
    Transfers(tmp_path, 0).watch(session, TRIGGER.replace(b":S:", b":R:"))
    assert session.diverted is None


def test_the_peers_quick_escape_gives_trzszs_own_bytes() -> None:
    from trzsz.libs import utils

    from jupyter_cloudtty.server import trzsz_peer

    own = utils.escape_data
    table = utils.get_escape_chars(False)
    assert table == trzsz_peer.DEFAULT_ESCAPES  # what trz -b sends in its config
    try:
        trzsz_peer.escape_quickly()
        for data in (os.urandom(1 << 16), b"\xee1~\xee\xee~~1\xee", b"", b"plain"):
            assert utils.escape_data(data, table) == own(data, table)
            assert utils.unescape_data(utils.escape_data(data, table), table) == data
        every = utils.get_escape_chars(True)  # trz -e: trzsz's own code
        assert utils.escape_data(b"\x1b~", every) == own(b"\x1b~", every)
    finally:
        utils.escape_data = own


# A stand-in for tsz: real tsz sends a file's base name only, so it cannot name a file outside the folder
# it is asked to fill. This one runs tsz's own code with the name replaced, as a hostile shell could.
HOSTILE_TSZ = textwrap.dedent(
    """
    import sys
    from trzsz.libs import transfer, utils
    from trzsz.svr import send
    real = transfer.send_file_name
    def send_file_name(file, callback):
        file = dict(file, path_name=[{name!r}])
        return real(file, callback)
    transfer.send_file_name = send_file_name
    sys.argv = ["tsz", "-b", {source!r}]
    send.main()
    """
)


async def test_the_peer_refuses_a_name_that_leads_out_of_its_folder(tmp_path: Path) -> None:
    source = tmp_path / "payload"
    source.write_bytes(b"owned")
    dest = tmp_path / "dest"
    dest.mkdir()
    result = await _pipe(
        [sys.executable, "-c", HOSTILE_TSZ.format(name="../escaped", source=str(source))],
        [sys.executable, "-m", "jupyter_cloudtty.server.trzsz_peer", "download", "--dest", str(dest)],
    )
    assert result["event"] == "error"
    assert "leads outside" in result["message"]
    assert not (tmp_path / "escaped").exists()
    assert list(dest.iterdir()) == []


async def test_the_peer_downloads_binary_exact(tmp_path: Path) -> None:
    source = tmp_path / "payload"
    data = os.urandom(300_000)
    source.write_bytes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    result = await _pipe(
        [sys.executable, "-m", "trzsz.svr.send", "-b", str(source)],
        [sys.executable, "-m", "jupyter_cloudtty.server.trzsz_peer", "download", "--dest", str(dest)],
    )
    assert result == {"event": "done", "names": ["payload"], "bytes": 300_000}
    assert (dest / "payload").read_bytes() == data


async def test_the_peer_holds_a_download_to_the_cap(tmp_path: Path) -> None:
    source = tmp_path / "payload"
    source.write_bytes(b"z" * 5000)
    dest = tmp_path / "dest"
    dest.mkdir()
    result = await _pipe(
        [sys.executable, "-m", "trzsz.svr.send", "-b", str(source)],
        [sys.executable, "-m", "jupyter_cloudtty.server.trzsz_peer", "download", "--dest", str(dest),
         "--max-bytes", "4096"],
    )  # fmt: skip
    assert result["event"] == "error"
    assert "payload is 5000 bytes: over this server's limit of 4096 bytes" in result["message"]
    assert list(dest.iterdir()) == []


async def _pipe(shell_side: list[str], peer_side: list[str]) -> dict:
    """Run tsz (or a stand-in) on a PTY and the peer on pipes, wired as the server wires them; the
    peer's last report."""
    import pty
    import tty

    main, sub = pty.openpty()
    tty.setraw(main)
    shell = subprocess.Popen(shell_side, stdin=sub, stdout=sub, stderr=sub, start_new_session=True)
    os.close(sub)
    loop = asyncio.get_running_loop()
    seen = b""
    while b"::TRZSZ:TRANSFER:" not in seen or not seen.endswith(b"\n"):
        seen += await loop.run_in_executor(None, os.read, main, 65536)
    peer = await asyncio.create_subprocess_exec(
        *peer_side, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert peer.stdin is not None and peer.stdout is not None and peer.stderr is not None

    async def shell_to_peer() -> None:
        while True:
            try:
                data = await loop.run_in_executor(None, os.read, main, 65536)
            except OSError:
                return
            if not data or peer.stdin.is_closing():
                return
            peer.stdin.write(data)
            try:
                await peer.stdin.drain()
            except ConnectionError:
                return

    async def peer_to_shell() -> None:
        while data := await peer.stdout.read(65536):
            os.write(main, data)

    reading = asyncio.ensure_future(shell_to_peer())
    typing = asyncio.ensure_future(peer_to_shell())
    reports = (await peer.stderr.read()).decode().splitlines()
    await peer.wait()
    await typing
    await loop.run_in_executor(None, shell.wait)
    os.close(main)
    await reading
    return [json.loads(line) for line in reports if line.startswith("{")][-1]
