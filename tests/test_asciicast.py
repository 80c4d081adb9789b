"""A recording taken apart (jupyter_cloudtty.cloudshell.asciicast), as the replay, the list and the search read it.
What the replay says of a file that is not one is tests/test_replay.py's; the list and the search are
tests/test_recordings.py's."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from jupyter_cloudtty.cloudshell import asciicast
from jupyter_cloudtty.cloudshell.recording import Recording


def test_what_our_server_writes_is_read_back_whole_even_with_unicode_line_separators(tmp_path):
    times = iter([0.0, 0.5, 1.25])
    recording = Recording.start(
        tmp_path, "work", (24, 80), clock=lambda: next(times), now=datetime(2026, 12, 7, tzinfo=timezone.utc)
    )
    recording.output("a\u2028b\u0085c\r\n".encode())  # written as they are, not escaped
    recording.resize(30, 100)
    recording.close()
    cast = asciicast.parse(recording.path.read_text(encoding="utf-8"))
    assert (cast.columns, cast.rows, cast.title, cast.duration) == (80, 24, "work", 1.25)
    assert cast.events == [[0.5, "o", "a\u2028b\u0085c\r\n"], [1.25, "r", "100x30"]]
    assert cast.header["cloudtty"]["shell"] == "work"


def test_v3_counts_time_between_events_and_allows_comments():
    text = "\n".join(
        [
            json.dumps({"version": 3, "term": {"cols": 100, "rows": 30}}),
            '[0.5, "o", "a"]',
            "# a note",
            '[2.0, "o", "b"]',
        ]
    )
    cast = asciicast.parse(text)
    assert (cast.columns, cast.rows, cast.title, cast.duration) == (100, 30, "", 2.5)
    assert len(cast.events) == 2


@pytest.mark.parametrize(
    ("text", "error", "said"),
    [
        ("", asciicast.NoHeader, "no asciicast v2 or v3 header on its first line"),
        ('{"version": 1}', asciicast.NoHeader, "no asciicast v2 or v3 header on its first line"),
        ('{"version": 2, "width": 0, "height": 24}', asciicast.NotACast, "its header has no terminal size"),
        ('{"version": 2, "width": 80, "height": 24}\n[1, "o", "x"]\n# no comments in v2', asciicast.NotACast,
         "line 3 is not an event ([time, code, data])"),
    ],
)  # fmt: skip
def test_what_is_not_a_recording_says_what_and_where(text, error, said):
    with pytest.raises(error, match=rf"^{re.escape(said)}$"):
        asciicast.parse(text)


def test_a_line_at_a_time_what_is_not_a_header_or_an_event_is_none():
    assert asciicast.header(b'{"version": 2, "width": 80, "height": 24}\n') == {"version": 2, "width": 80, "height": 24}
    assert asciicast.header(b'[0.5, "o", "x"]') is None
    assert asciicast.header(b"\xff\xfe not text") is None
    assert asciicast.event(b'[0.5, "o", "x"]\n') == [0.5, "o", "x"]
    assert asciicast.event('[0.5, "o", "x') is None  # cut short: a recording being written
    assert asciicast.event('["0.5", "o", "x"]') is None  # no number of seconds
    assert asciicast.event('[0.5, "o"]') is None
    assert asciicast.event('{"version": 2}') is None
