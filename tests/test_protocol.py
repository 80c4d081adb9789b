"""ttyd framing and parsing, checked against the frames of a real ttyd 1.7.7."""

import base64
import json
from pathlib import Path

import pytest

from jupyter_cloudtty import protocol
from jupyter_cloudtty.protocol import ProtocolError

TRANSCRIPT = Path(__file__).parents[2] / "shared" / "data" / "ttyd-1.7.7-transcript.json"


def frames(direction):
    return [base64.b64decode(f["b64"]) for f in json.loads(TRANSCRIPT.read_text()) if f["dir"] == direction]


def test_our_frames_match_a_real_ttyd():
    sent = frames("c2s")
    assert protocol.encode_handshake("", 100, 30) in sent
    assert protocol.encode_resize(120, 40) in sent
    # A ttyd started without -t options sends exactly this preferences frame.
    assert protocol.encode_preferences({}) in frames("s2c")


def test_handshake_parsing():
    assert protocol.parse_handshake(frames("c2s")[0]).size == (30, 100)
    bare = protocol.parse_handshake(b'{"AuthToken": "dXNlcjpwYXNz"}')
    assert bare.auth_token == "dXNlcjpwYXNz" and bare.size is None
    # A nonsensical size is not applied (ttyd does the same), the handshake still stands.
    assert protocol.parse_handshake(b'{"columns": 0, "rows": -1}').size is None
    assert protocol.parse_handshake(b'{"columns": true, "rows": 5}').size is None


@pytest.mark.parametrize(
    "frame, words",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"AuthToken": 5}', "AuthToken must be a string"),
        (b'{"AuthToken": "' + b"x" * 70000 + b'"}', "too large"),
        (b"{\xff\xfe}", "not valid JSON"),
    ],
)
def test_bad_handshakes(frame, words):
    with pytest.raises(ProtocolError, match=words):
        protocol.parse_handshake(frame)


@pytest.mark.parametrize(
    "payload, size",
    [
        (b'{"columns":120,"rows":40}', (40, 120)),
        (b'{"columns":0,"rows":40}', None),
        (b'{"columns":99999,"rows":40}', None),
        (b"garbage", None),
        (b"[]", None),
    ],
)
def test_resize_parsing(payload, size):
    assert protocol.parse_resize(payload) == size


def test_preferences_in_json_c_style():
    assert protocol.encode_preferences({"fontSize": 20, "a": "b"}) == b'2{ "fontSize": 20, "a": "b" }'
    assert json.loads(protocol.encode_preferences({"x": [1]})[1:]) == {"x": [1]}


def test_client_option_values_like_ttyd():
    assert protocol.client_option_value("20") == 20
    assert protocol.client_option_value("true") is True
    assert protocol.client_option_value("canvas") == "canvas"


def test_close_reasons_fit_in_a_control_frame():
    assert protocol.close_reason("short") == "short"
    long = protocol.close_reason("é" * 200)
    assert len(long.encode()) <= 123 and long.endswith("...")
