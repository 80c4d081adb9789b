"""``%cloudtty replay`` and its bundle (jupyter_cloudtty.kernel.replay), and the routing of the issue-21 actions
of ``%cloudtty`` (replay, recordings, ``new --record``, cp) in IPython's own shell, against a stand-in client.

What a browser makes of the bundle (the player in JupyterLab, in an HTML export) is tests/ui/test_replay.py;
``%cloudtty recordings`` against a real server is tests/integration/test_recordings_magic.py.
"""

from __future__ import annotations

import json
import re
import sys
import types
from datetime import datetime, timezone
from typing import Any

import pytest

from jupyter_cloudtty.kernel import replay
from jupyter_cloudtty.kernel.magics import recordings_table
from jupyter_cloudtty.kernel.server_client import ServerError
from tests.harness.ipython import run_cell, shell, text_rows

HEADER = {"version": 2, "width": 80, "height": 24, "timestamp": 1796636100, "title": "work"}
EVENTS = [[0.25, "o", "$ "], [1.5, "o", "echo WO''KE\r\n"], [1.75, "o", "WOKE\r\n"], [61.0, "m", ""]]


def cast_text(events: list[list[Any]] = EVENTS, header: dict[str, Any] = HEADER) -> str:
    return "\n".join(json.dumps(line) for line in [header, *events]) + "\n"


def embedded_cast(html: str) -> str:
    """The cast a self-contained player carries, as the page's script reads it back."""
    match = re.search(r'<script type="application/json" id="([^"]+)-cast">(.*?)</script>', html, re.S)
    assert match, html[:500]
    return json.loads(match[2])


# --- the bundle ---------------------------------------------------------------------------------------


def test_a_recording_is_read_with_its_size_title_and_length(tmp_path):
    path = tmp_path / "work.cast"
    path.write_text(cast_text())
    cast = replay.read(path)
    assert (cast.columns, cast.rows, cast.title, cast.duration) == (80, 24, "work", 61.0)
    assert cast.describe() == f"Terminal recording of work ({path}, 80x24, 1m 01s)"
    v3 = "\n".join([json.dumps({"version": 3, "term": {"cols": 100, "rows": 30}}), "[0.5, \"o\", \"a\"]", "# note",
                    "[2.0, \"o\", \"b\"]"])  # fmt: skip
    assert replay.parse(v3, "v3.cast").duration == 2.5


def test_the_bundle_is_the_cast_and_a_player_that_needs_nothing_else():
    cast = replay.parse(cast_text(), "work.cast")
    bundle = replay.bundle(cast)
    assert bundle[replay.MIME] == cast_text()
    assert bundle["text/plain"] == "Terminal recording of work (work.cast, 80x24, 1m 01s)"
    html = bundle["text/html"]
    # asciinema-player's script and stylesheet and our theme, inlined: no URL to load anything from.
    assert "var AsciinemaPlayer=" in html and ".ap-player" in html and "asciinema-player-theme-jupyterlab" in html
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\s(src|href)=", html)
    assert "<link" not in html and "fetch(" not in html.split("var AsciinemaPlayer=")[0]
    assert embedded_cast(html) == cast_text()
    # Each output its own ids: two replays in one notebook (or one exported page) do not collide.
    ids = {re.search(r'<div class="cloudtty-replay" id="([^"]+)"', replay.bundle(cast)["text/html"])[1] for _ in "ab"}
    assert len(ids) == 2


def test_a_cast_that_says_script_cannot_end_the_page_s_script():
    text = cast_text([[0.5, "o", "</script><script>alert(1)</script><!-- \u2028 é"]])
    html = replay.bundle(replay.parse(text, "x.cast"))["text/html"]
    assert embedded_cast(html) == text
    assert html.count("</script>") == 3  # the cast's, the player's, the start's


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"hello\n", "x.cast is not a terminal recording (no asciicast v2 or v3 header on its first line)"),
        (b'{"version": 1, "stdout": []}', "x.cast is not a terminal recording (no asciicast v2 or v3 header"),
        (b'{"version": 2}\n', "x.cast: its header has no terminal size"),
        (cast_text().encode() + b"not json\n", "x.cast: line 6 is not an event ([time, code, data])"),
        (b'{"version": 2, "width": 80, "height": 24}\n\xff\xfe', "x.cast is not a terminal recording (not UTF-8"),
    ],
)
def test_what_is_not_a_recording_is_said_in_one_line(tmp_path, content, said):
    path = tmp_path / "x.cast"
    path.write_bytes(content)
    with pytest.raises(replay.ReplayError) as refused:
        replay.parse(path.read_bytes(), "x.cast")
    assert str(refused.value).startswith(said) and "\n" not in str(refused.value)


def test_a_recording_over_20_mb_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.cast"
    with big.open("wb") as out:
        out.truncate(21 * 1024 * 1024)  # sparse: nothing written, the size is what stat says
    with pytest.raises(replay.ReplayError) as refused:
        replay.read(big)
    assert str(refused.value) == f"{big} is 21.0 MB: over the 20 MB a notebook can hold"
    with pytest.raises(replay.ReplayError, match="over the 20 MB"):
        replay.parse(b"x" * (replay.MAX_BYTES + 1), "served.cast")


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(replay.ReplayError, match=f"^no such file: {tmp_path}/nope.cast$"):
        replay.read(tmp_path / "nope.cast")
    with pytest.raises(replay.ReplayError, match="is a directory, not a recording$"):
        replay.read(tmp_path)


# --- %cloudtty, in IPython's own shell ----------------------------------------------------------------


class FakeClient:
    """What the magics ask of their server, answered from memory; every call kept."""

    def __init__(self, served: dict[str, bytes] | None = None, listing: dict[str, Any] | None = None):
        self.calls: list[tuple[str, Any]] = []
        self.served = served or {}
        self.listing = listing or {"recordings": [], "dir": ".cloudtty/recordings"}

    def recording(self, file: str, limit: int = -1) -> bytes:
        self.calls.append(("recording", (file, limit)))
        if file not in self.served:
            raise ServerError(f"recording {file!r} not found", 404)
        return self.served[file][:limit] if limit >= 0 else self.served[file]

    def recordings(self, query: str | None = None, shell: str | None = None) -> dict[str, Any]:
        self.calls.append(("recordings", (query, shell)))
        return self.listing

    def create(self, name: str | None = None, spec: dict[str, Any] | None = None, record: bool | None = None):
        self.calls.append(("create", (name, spec, record)))
        return {"name": name or "shell-x", "created": "2026-12-07T10:00:00Z", "spec": spec, "status": {}}

    def terminal_url(self, name: str) -> str:
        return f"ws://server/{name}/terminal"


@pytest.fixture
def ip():
    return shell()


@pytest.fixture
def client(ip) -> FakeClient:
    magics = ip.magics_manager.registry["CloudTTYMagics"]
    fake = FakeClient()
    magics._client = fake
    yield fake
    magics._client = None


def test_replay_shows_a_file_s_recording(ip, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.cast").write_text(cast_text())
    cell = run_cell(ip, "%cloudtty replay x.cast")
    assert (cell.stdout, cell.stderr, cell.error) == ("", "", None)
    [shown] = cell.displays
    assert shown[replay.MIME] == cast_text()
    assert embedded_cast(shown["text/html"]) == cast_text()
    assert client.calls == []  # a file here: the server is not asked


def test_replay_of_a_server_recording_by_its_name(ip, client, tmp_path, monkeypatch):
    """The FILE column of %cloudtty recordings: wherever the server keeps it (a folder outside the root too)."""
    monkeypatch.chdir(tmp_path)
    client.served["work-20261207T101500Z.cast"] = cast_text().encode()
    cell = run_cell(ip, "%cloudtty replay work-20261207T101500Z.cast")
    assert (cell.stderr, cell.error) == ("", None)
    assert cell.displays[0][replay.MIME] == cast_text()
    assert client.calls == [("recording", ("work-20261207T101500Z.cast", replay.MAX_BYTES + 1))]

    gone = run_cell(ip, "%cloudtty replay nope.cast")
    assert (gone.stdout, gone.displays, gone.error) == ("", [], None)
    assert gone.stderr == "cloudtty replay: no such file: nope.cast (here, or among the server's recordings)\n"


def test_replay_errors_are_one_line_without_a_traceback(ip, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    for line, said in [
        ("%cloudtty replay notes.txt", "cloudtty replay: notes.txt is not a terminal recording"),
        ("%cloudtty replay sub/x.cast", "cloudtty replay: no such file: sub/x.cast"),
        (f"%cloudtty replay {tmp_path}", f"cloudtty replay: {tmp_path} is a directory, not a recording"),
    ]:
        cell = run_cell(ip, line)
        assert (cell.stdout, cell.displays, cell.error) == ("", [], None)
        assert cell.stderr.startswith(said) and cell.stderr.count("\n") == 1, cell.stderr
    usage = run_cell(ip, "%cloudtty replay")
    assert "%cloudtty replay: the following arguments are required: FILE" in str(usage.error)
    assert "usage: %cloudtty replay [-h] FILE" in str(usage.error)


def test_recordings_lists_and_searches(ip, client):
    client.listing = {
        "dir": ".cloudtty/recordings",
        "recordings": [
            {"file": "work-20261207T101500Z.cast", "path": ".cloudtty/recordings/work-20261207T101500Z.cast",
             "shell": "work", "owner": "ada", "started": "2026-12-07T10:15:00Z", "duration": 192.4, "size": 14540,
             "input": False, "matches": ["$ kubectl get pods", "NAME   READY   STATUS"]},
        ],
    }  # fmt: skip
    cell = run_cell(ip, "%cloudtty recordings 'get pods' --shell work")
    assert client.calls == [("recordings", ("get pods", "work"))]
    title, *table = cell.text.splitlines()
    assert title == "Recordings in .cloudtty/recordings"
    rows = text_rows("\n".join(table))
    started = datetime(2026, 12, 7, 10, 15, tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert [(r["FILE"], r["SHELL"], r["STARTED"], r["DURATION"], r["SIZE"], r["MATCHES"]) for r in rows] == [
        ("work-20261207T101500Z.cast", "work", started, "3m 12s", "14.5 KB", "$ kubectl get pods"),
        ("", "", "", "", "", "NAME READY STATUS"),  # the kernel's local time; a line's spaces squeezed
    ]
    assert cell.value.items == client.listing["recordings"]

    client.calls.clear()
    plain = run_cell(ip, "%cloudtty recordings")
    assert client.calls == [("recordings", (None, None))]
    assert "MATCHES" not in plain.text and "<td>work-20261207T101500Z.cast</td><td>work</td>" in plain.html
    client.listing = {"recordings": [], "dir": "/srv/recordings/ada"}
    assert run_cell(ip, "%cloudtty recordings nothing").text == "No recordings in /srv/recordings/ada with 'nothing'."


def test_new_asks_for_a_recording_only_with_record(ip, client):
    run_cell(ip, "%cloudtty new w --record --ttl 60")
    run_cell(ip, "%cloudtty new v")
    assert client.calls == [("create", ("w", {"ttlSecondsAfterStarted": 60}, True)), ("create", ("v", {}, None))]


def test_cp_hands_its_two_paths_to_the_transfers_module(ip, client, monkeypatch):
    copied = []
    stub = types.ModuleType("jupyter_cloudtty.kernel.transfers")
    stub.copy = lambda client, source, dest: copied.append((client, source, dest))
    monkeypatch.setitem(sys.modules, "jupyter_cloudtty.kernel.transfers", stub)
    monkeypatch.setattr(sys.modules["jupyter_cloudtty.kernel"], "transfers", stub, raising=False)
    cell = run_cell(ip, "%cloudtty cp 'my data.csv' work:/tmp/")
    assert (cell.error, cell.value) == (None, None)  # copy prints its line; the cell shows no value
    assert copied == [(client, "my data.csv", "work:/tmp/")]
    usage = run_cell(ip, "%cloudtty cp only-one")
    assert "%cloudtty cp: the following arguments are required: DST" in str(usage.error)

    def refuse(client, source, dest):
        raise ValueError("one side is a shell's NAME:PATH")

    stub.copy = refuse
    refused = run_cell(ip, "%cloudtty cp a b")
    assert str(refused.error) == "%cloudtty cp: one side is a shell's NAME:PATH"
    assert "Traceback" not in refused.stderr


def test_each_action_has_its_own_usage(ip, client):
    helped = run_cell(ip, "%cloudtty recordings -h")
    assert helped.stdout.startswith("usage: %cloudtty recordings [-h] [--shell NAME] [QUERY]")
    assert helped.error is None
    wrong = run_cell(ip, "%cloudtty list --ttl 5")
    assert str(wrong.error) == "%cloudtty list: unrecognized arguments: --ttl 5\nusage: %cloudtty list [-h]"
    unknown = run_cell(ip, "%cloudtty play x.cast")
    assert "argument ACTION: invalid choice: 'play'" in str(unknown.error)


def test_the_recordings_table_without_a_server():
    table = recordings_table({"recordings": [], "dir": ""})
    assert table.text() == "No recordings."
