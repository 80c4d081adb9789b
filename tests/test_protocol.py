"""ttyd framing and parsing, checked against the frames of a real ttyd 1.7.7."""

import base64
import json
from pathlib import Path

import pytest

from jupyter_cloudtty.ttyd import protocol
from jupyter_cloudtty.ttyd.protocol import ProtocolError

TRANSCRIPT = Path(__file__).parent / "data" / "ttyd-1.7.7-transcript.json"  # captured from a real ttyd 1.7.7


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


def test_a_handshake_is_a_json_object():
    # Unreachable through the server, which takes only a frame starting with "{" for a handshake; the
    # malformed handshakes a client can send are attacks (tests/harness/attacks.py), fuzzed in test_fuzz.py.
    with pytest.raises(ProtocolError, match="JSON object"):
        protocol.parse_handshake(b"[1, 2]")


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
    # What a browser's JSON.parse would refuse, or too deep to parse, stays a string.
    for value in ("NaN", "-Infinity", "1e999", "[" * 5000 + "]" * 5000):
        assert protocol.client_option_value(value) == value


def test_close_reasons_fit_in_a_control_frame():
    assert protocol.close_reason("short") == "short"
    long = protocol.close_reason("é" * 200)
    assert len(long.encode()) <= 123 and long.endswith("...")
