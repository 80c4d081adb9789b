"""The recording policy (server/recordings.py): which shells are recorded, what a recording's header
tells, and the folder as the REST API serves it: the list, the search over the recordings' text, names."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest

from jupyter_cloudtty.cloudshell.errors import InvalidShell
from jupyter_cloudtty.cloudshell.model import Shell
from jupyter_cloudtty.cloudshell.recording import Recording, read
from jupyter_cloudtty.server.recordings import (
    RecordingBusy,
    RecordingNotFound,
    RecordingPolicy,
    RecordingsUnreadable,
    input_lines,
    output_lines,
)
from jupyter_cloudtty.ttyd.protocol import CloseCode, close_is_final

STARTED = datetime(2026, 12, 6, 21, 30, 5, tzinfo=timezone.utc)


def shell(name: str = "work", record: bool = True, **spec) -> Shell:
    return Shell(name, spec, created=STARTED, record=record)


def policy(tmp_path, mode: str = "optional", **kwargs) -> RecordingPolicy:
    root = tmp_path / "root"
    return RecordingPolicy(mode, root / ".cloudtty" / "recordings", owner="alice", root=root, **kwargs)


def clock(*seconds: float):
    ticks = itertools.chain(seconds, itertools.repeat(seconds[-1]))
    return lambda: next(ticks)


def recorded(rules: RecordingPolicy, name: str, started: datetime, *events, owner: str = "alice") -> Recording:
    """A finished recording of ``name`` in the policy's folder: ``events`` are (seconds, code, data)."""
    times = [0.0] + [t for t, _, _ in events]
    recording = Recording.start(rules.folder, name, (24, 80), owner=owner, record_input=rules.record_input,
                                clock=clock(*times), now=started)  # fmt: skip
    for _, code, data in events:
        if code == "m":
            recording.marker(data)
        else:
            {"o": recording.output, "i": recording.input}[code](data.encode())
    recording.close()
    return recording


# --- which shells, and a create request's "record" ---------------------------------------------


@pytest.mark.parametrize(
    "mode, requested, recorded_or_refused",
    [
        ("off", None, False),
        ("off", False, False),
        ("off", True, "record: recording is off on this server"),
        ("optional", None, False),
        ("optional", False, False),
        ("optional", True, True),
        ("required", None, True),
        ("required", True, True),
        ("required", False, "record: this server records every shell (c.CloudTTY.recording = 'required')"),
        ("optional", "yes", 'record: must be true or false, got "yes"'),
        ("optional", 1, "record: must be true or false, got 1"),
    ],
)
def test_a_create_request_s_record_is_checked_against_the_mode(tmp_path, mode, requested, recorded_or_refused):
    rules = policy(tmp_path, mode)
    if isinstance(recorded_or_refused, str):
        with pytest.raises(InvalidShell) as refused:
            rules.choose(requested)
        assert str(refused.value) == recorded_or_refused and refused.value.field == "record"
    else:
        assert rules.choose(requested) is recorded_or_refused


def test_which_shells_are_recorded(tmp_path):
    for mode, by_record in [("off", (False, False)), ("optional", (False, True)), ("required", (True, True))]:
        rules = policy(tmp_path, mode)
        assert (rules.records(shell(record=False)), rules.records(shell(record=True))) == by_record
    assert policy(tmp_path, "off").recorder(shell) is None  # a session costs nothing when nothing is recorded
    assert policy(tmp_path, "required").recorder(shell).required
    assert not policy(tmp_path, "optional").recorder(shell).required


def test_an_unrecorded_shell_leaves_no_file(tmp_path):
    rules = policy(tmp_path, "optional")
    assert rules.start(shell(record=False), (24, 80)) is None
    assert not rules.folder.exists()


def test_the_header_names_shell_and_owner_and_keeps_env_names_but_not_their_values(tmp_path):
    rules = policy(tmp_path, "required", record_input=True)
    spec = {"commandAction": "bash", "env": [{"name": "API_TOKEN", "value": "s3cret"}, {"name": "EMPTY"}]}
    recording = rules.recorder(lambda: shell("work", record=False, **spec)).start((30, 100))
    recording.close()
    header, events = read(recording.path)
    assert (header["width"], header["height"], events) == (100, 30, [])
    assert header["cloudtty"]["shell"] == "work" and header["cloudtty"]["owner"] == "alice"
    assert header["cloudtty"]["input"] is True
    assert header["cloudtty"]["spec"] == {"commandAction": "bash", "env": [{"name": "API_TOKEN"}, {"name": "EMPTY"}]}
    assert "s3cret" not in recording.path.read_text()


def test_info_says_the_mode_and_whether_input_is_kept(tmp_path):
    assert policy(tmp_path, "required", record_input=True).info() == {"mode": "required", "input": True}
    assert RecordingPolicy().info() == {"mode": "off", "input": False}


def test_4007_is_a_close_code_clients_do_not_retry():
    assert CloseCode.NOT_RECORDED == 4007 and close_is_final(4007)


# --- the list ------------------------------------------------------------------------------


def test_the_list_is_the_owner_s_recordings_newest_first(tmp_path):
    rules = policy(tmp_path)
    recorded(rules, "alpha", STARTED, (1.5, "o", "one\r\n"), (4.25, "m", "the end"))
    later = recorded(rules, "beta", STARTED + timedelta(minutes=5), (2.0, "o", "two\r\n"))
    recorded(rules, "alpha", STARTED + timedelta(minutes=1), owner="bob")  # another user's, in a shared folder
    (rules.folder / "notes.txt").write_text("not a recording")
    (rules.folder / "broken.cast").write_text("not JSON\n")
    listed = rules.list()
    assert [(r["file"], r["shell"]) for r in listed] == [
        (later.path.name, "beta"),
        ("alpha-20261206T213005Z.cast", "alpha"),
    ]
    assert listed[1] == {
        "file": "alpha-20261206T213005Z.cast",
        "path": ".cloudtty/recordings/alpha-20261206T213005Z.cast",  # for the file browser: under the root
        "shell": "alpha",
        "owner": "alice",
        "started": "2026-12-06T21:30:05Z",
        "duration": 4.25,
        "size": (rules.folder / "alpha-20261206T213005Z.cast").stat().st_size,
        "input": False,
    }
    assert [r["shell"] for r in rules.list(shell="alpha")] == ["alpha"]
    assert rules.list(shell="gamma") == []
    assert rules.shown_dir == ".cloudtty/recordings"


def test_a_folder_outside_the_root_is_listed_without_paths(tmp_path):
    rules = RecordingPolicy("required", tmp_path / "admin" / "recordings", owner="alice", root=tmp_path / "root")
    recorded(rules, "s", STARTED)
    assert [r["path"] for r in rules.list()] == [None]
    assert rules.shown_dir == str(tmp_path / "admin" / "recordings")


def test_before_the_first_recording_the_list_is_empty(tmp_path):
    assert policy(tmp_path).list() == []


def test_a_folder_that_cannot_be_read_is_said(tmp_path):
    (tmp_path / "file").write_text("a file where the folder should be")
    rules = RecordingPolicy("required", tmp_path / "file" / "recordings", owner="alice")
    with pytest.raises(RecordingsUnreadable, match="cannot read the recordings' folder .*/file/recordings"):
        rules.list()


def test_list_arguments_are_checked_naming_them(tmp_path):
    rules = policy(tmp_path)
    with pytest.raises(InvalidShell, match="^shell: 'Not A Name' is not a DNS-1123 label"):
        rules.list(shell="Not A Name")
    with pytest.raises(InvalidShell, match="^q: at most 200 characters, got 201"):
        rules.list(q="x" * 201)


# --- the search ------------------------------------------------------------------------------


def test_the_search_finds_text_as_the_terminal_showed_it(tmp_path):
    rules = policy(tmp_path, record_input=True)
    recorded(
        rules, "alpha", STARTED,
        (1, "o", "$ kubectl get pods\r\n\x1b[1mNAME\x1b[0m      READY\r\nweb-7d4b   1/1\r\n"),
        (2, "o", "progress 10%\rprogress 100%\r\n"),  # redrawn in place: the line shown last is kept
        (3, "i", "echo hunter\x7f\x7f\x7f\x7f\x7f\x7fsecret-word\r"),  # typed, with backspaces
    )  # fmt: skip
    recorded(rules, "beta", STARTED + timedelta(seconds=1), (1, "o", "nothing of interest\r\n"))
    found = rules.list(q="ready")
    assert [(r["shell"], r["matches"]) for r in found] == [("alpha", ["NAME      READY"])]  # no escapes, any case
    assert rules.list(q="progress 100%")[0]["matches"] == ["progress 100%"]
    assert rules.list(q="progress 10%\r") == []  # what was written over is not what the terminal showed
    assert rules.list(q="secret-word")[0]["matches"] == ["echo secret-word"]  # input, since it was recorded
    assert rules.list(q="nowhere") == []
    assert [r["shell"] for r in rules.list(q="")] == ["beta", "alpha"]  # no search: every recording


def test_input_is_not_searched_unless_recorded(tmp_path):
    rules = policy(tmp_path, record_input=False)
    recorded(rules, "s", STARTED, (1, "i", "typed-only\r"), (2, "o", "shown\r\n"))
    assert rules.list(q="typed-only") == [] and len(rules.list(q="shown")) == 1


def test_a_search_shows_at_most_five_lines_cut_around_what_it_found(tmp_path):
    rules = policy(tmp_path)
    long_line = "x" * 500 + "NEEDLE" + "y" * 500
    recorded(rules, "s", STARTED, (1, "o", "".join(f"needle {i}\r\n" for i in range(9)) + long_line + "\r\n"))
    assert rules.list(q="needle")[0]["matches"] == [f"needle {i}" for i in range(5)]
    recorded(rules, "t", STARTED, (1, "o", long_line + "\r\n"))
    [shown] = rules.list(q="NEEDLE", shell="t")[0]["matches"]
    assert "NEEDLE" in shown and shown.startswith("…") and shown.endswith("…") and len(shown) == 162


def test_output_lines_follow_carriage_returns_backspaces_and_erasing():
    assert output_lines("abcdef\rxy\r\n") == ["xycdef"]
    assert output_lines("ab\x08\x08X\r\n") == ["Xb"]
    assert output_lines("long line\r\x1b[Kshort\r\n") == ["short"]
    assert output_lines("\x1b]0;title\x07plain \x1b[31mred\x1b[0m\r\n\r\n") == ["plain red"]


def test_input_lines_are_lines_typed():
    assert input_lines("ls -l\rcd /tm\x7fmp\r\x03") == ["ls -l", "cd /tmp"]


# --- one file by name ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../alpha.cast", "a/b.cast", "..", "..cast", "alpha.txt", "", ".hidden.cast"])
def test_a_name_that_is_not_a_recording_s_is_refused(tmp_path, name):
    rules = policy(tmp_path)
    with pytest.raises(InvalidShell, match="^file: not a recording's name"):
        rules.path(name)


def test_one_recording_is_read_and_deleted_by_name(tmp_path):
    rules = policy(tmp_path)
    done = recorded(rules, "alpha", STARTED, (1, "o", "hi\r\n"))
    with rules.open(done.path.name) as f:
        assert json.loads(f.readline())["cloudtty"]["shell"] == "alpha"
    rules.delete(done.path.name)
    assert not done.path.exists()
    with pytest.raises(RecordingNotFound, match="recording 'alpha-20261206T213005Z.cast' not found"):
        rules.open(done.path.name)
    with pytest.raises(RecordingNotFound):
        rules.delete(done.path.name)


def test_another_owner_s_recording_is_not_found(tmp_path):
    rules = policy(tmp_path)
    theirs = recorded(rules, "alpha", STARTED, owner="bob")
    for call in (rules.open, rules.delete):
        with pytest.raises(RecordingNotFound):
            call(theirs.path.name)
    assert theirs.path.exists()


def test_a_recording_still_being_written_is_not_deleted(tmp_path):
    rules = policy(tmp_path, "required")
    live = rules.start(shell(), (24, 80))
    with pytest.raises(RecordingBusy) as busy:
        rules.delete(live.path.name)
    assert busy.value.status == 409 and live.path.exists()
    live.close()
    rules.delete(live.path.name)
    assert not live.path.exists()


def test_a_recording_being_written_is_listed_and_searched_up_to_its_last_whole_event(tmp_path):
    rules = policy(tmp_path)
    live = recorded(rules, "s", STARTED, (1.0, "o", "whole line\r\n"))
    with live.path.open("a") as f:
        f.write('[2.5, "o", "a line cut sho')  # a server died mid-write, or the search came mid-line
    [entry] = rules.list(q="whole")
    assert entry["duration"] == 1.0 and entry["matches"] == ["whole line"]
