"""Recording a terminal as asciicast v2 (issue 21's first part): the file a player reads, owner-only,
characters whole across reads, input only when asked, failures said."""

from __future__ import annotations

import itertools
import os
import stat
from datetime import datetime, timezone

import pytest

from jupyter_cloudtty.cloudshell.recording import Recording, RecordingFailed, read

STARTED = datetime(2026, 12, 6, 21, 30, 5, tzinfo=timezone.utc)


def clock(*seconds: float):
    ticks = itertools.chain(seconds, itertools.repeat(seconds[-1]))
    return lambda: next(ticks)


def test_a_session_becomes_an_asciicast_v2_file_a_player_reads(tmp_path):
    folder = tmp_path / ".cloudtty" / "recordings"
    recording = Recording.start(folder, "work", (24, 80), owner="alice", spec={"commandAction": "bash"},
                                clock=clock(10.0, 10.5, 11.25, 12.0, 13.0), now=STARTED)  # fmt: skip
    recording.output(b"\x1b[1mhello\x1b[0m\r\n")
    recording.resize(40, 120)
    recording.marker("after the resize")
    recording.close()
    assert recording.path == folder / "work-20261206T213005Z.cast"
    header, events = read(recording.path)
    assert (header["version"], header["width"], header["height"]) == (2, 80, 24)
    assert header["timestamp"] == int(STARTED.timestamp()) and header["title"] == "work"
    assert header["cloudtty"] == {"shell": "work", "owner": "alice", "spec": {"commandAction": "bash"},
                                  "input": False, "started": "2026-12-06T21:30:05Z"}  # fmt: skip
    assert events == [[0.5, "o", "\x1b[1mhello\x1b[0m\r\n"], [1.25, "r", "120x40"], [2.0, "m", "after the resize"]]


def test_only_its_owner_may_read_it(tmp_path):
    recording = Recording.start(tmp_path / "recordings", "s", (24, 80), now=STARTED)
    recording.close()
    assert stat.S_IMODE(os.stat(recording.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "recordings").st_mode) == 0o700


def test_a_character_split_across_two_reads_is_recorded_whole(tmp_path):
    recording = Recording.start(tmp_path, "s", (24, 80), clock=clock(0, 1, 2, 3), now=STARTED)
    snowman = "☃".encode()
    recording.output(b"a" + snowman[:2])  # a read ends inside the character
    recording.output(snowman[2:] + b"b")
    recording.output(b"\xe2\x98")  # cut short at the very end
    recording.close()
    _, events = read(recording.path)
    assert [e[2] for e in events] == ["a", "☃b", "\ufffd"]


def test_input_is_recorded_only_when_the_administrator_asks(tmp_path):
    quiet = Recording.start(tmp_path / "a", "s", (24, 80), now=STARTED)
    quiet.input(b"secret\r")
    quiet.close()
    assert read(quiet.path)[1] == []
    typed = Recording.start(tmp_path / "b", "s", (24, 80), record_input=True, clock=clock(0, 1), now=STARTED)
    typed.input(b"ls\r")
    typed.close()
    header, events = read(typed.path)
    assert header["cloudtty"]["input"] is True and events == [[1, "i", "ls\r"]]


def test_a_folder_it_cannot_write_is_a_clear_failure(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(
        RecordingFailed, match=f"^cannot record the terminal \\(Not a directory\\) in {blocked}/recordings$"
    ):
        Recording.start(blocked / "recordings", "s", (24, 80), now=STARTED)


def test_a_second_recording_of_the_same_second_never_overwrites_the_first(tmp_path):
    first = Recording.start(tmp_path, "s", (24, 80), now=STARTED)
    first.output(b"first")
    first.close()
    second = Recording.start(tmp_path, "s", (24, 80), now=STARTED)
    second.close()
    assert (first.path.name, second.path.name) == ("s-20261206T213005Z.cast", "s-20261206T213005Z-2.cast")
    assert read(first.path)[1][0][2] == "first" and read(second.path)[1] == []


def test_a_discarded_recording_leaves_no_file(tmp_path):
    recording = Recording.start(tmp_path, "s", (24, 80), now=STARTED)
    recording.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_is_said_once_and_ends_the_recording(tmp_path):
    recording = Recording.start(tmp_path, "s", (24, 80), now=STARTED)

    class Full:
        def write(self, _text):
            raise OSError(28, "No space left on device")

    recording._out = Full()
    with pytest.raises(RecordingFailed, match="s-20261206T213005Z.cast failed: No space left on device"):
        recording.output(b"x")
    recording.output(b"y")  # closed: nothing more is tried
    assert recording.closed
