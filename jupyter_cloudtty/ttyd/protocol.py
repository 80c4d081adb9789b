"""The ttyd WebSocket protocol (ttyd 1.7.x), spoken by our server and our client.

Every frame is binary and its first byte says what it is; see ``spec/ttyd-protocol.md``.
Only framing and parsing live here: no sockets.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

SUBPROTOCOL = "tty"

# client -> server
INPUT = ord("0")
RESIZE_TERMINAL = ord("1")
PAUSE = ord("2")
RESUME = ord("3")
HANDSHAKE = ord("{")  # the whole first frame is JSON

# server -> client
OUTPUT = ord("0")
SET_WINDOW_TITLE = ord("1")
SET_PREFERENCES = ord("2")

OUTPUT_PREFIX = b"0"

# A handshake is a few dozen bytes; anything far bigger is not a ttyd client.
MAX_HANDSHAKE_BYTES = 64 * 1024
# ioctl(TIOCSWINSZ) takes unsigned shorts; no real screen is near this.
MAX_DIMENSION = 10_000


class CloseCode(IntEnum):
    """Close codes our server sends to the browser (never inferred from a remote ttyd)."""

    NORMAL = 1000  # the command exited 0, or a `once` shell's last client left
    FAILED = 4000  # the command exited non-zero or was killed by a signal
    EXPIRED = 4001  # the shell's TTL ran out
    DELETED = 4002  # the shell was deleted
    PROTOCOL_ERROR = 4003  # the client broke the protocol (bad handshake, input before it)
    SERVER_STOPPING = 4004  # the Jupyter server is shutting down
    UNREACHABLE = 4005  # the shell's terminal cannot be reached (not Ready, no address, refused)
    IDLE = 4006  # the shell ended after its idle timeout without input or output
    NOT_RECORDED = 4007  # the server must record the terminal (c.CloudTTY.recording = 'required') and cannot


def close_is_final(code: int | None) -> bool:
    """Whether a close says the shell is over (or the client is refused), so reconnecting shows the same.

    Any other close (4004 server stopping, 4005 unreachable, 1001, 1006, none at all) is a dropped
    connection: clients reconnect, as labextension/src/protocol.ts's ``describeClose`` decides.
    """
    return code in (
        CloseCode.NORMAL, CloseCode.FAILED, CloseCode.EXPIRED, CloseCode.IDLE, CloseCode.DELETED,
        CloseCode.PROTOCOL_ERROR, CloseCode.NOT_RECORDED,
    )  # fmt: skip


class ProtocolError(ValueError):
    """A client frame that breaks the protocol."""


@dataclass(frozen=True)
class Handshake:
    """The first client frame: an auth token and, optionally, the terminal size."""

    auth_token: str = ""
    columns: int | None = None
    rows: int | None = None
    # Ours (ttyd ignores keys it does not know): where a `tsz` this client types should save its files,
    # "jupyter" (the server takes it into its root) or "browser" (the client's own trzsz answers it).
    downloads: str = "jupyter"

    @property
    def size(self) -> tuple[int, int] | None:
        """(rows, columns) when the client sent both, else None."""
        if self.columns is None or self.rows is None:
            return None
        return self.rows, self.columns


def _dimension(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_DIMENSION:
        return value
    return None


def parse_handshake(frame: bytes) -> Handshake:
    """Parse the JSON handshake; raise ProtocolError if it is not one."""
    if len(frame) > MAX_HANDSHAKE_BYTES:
        raise ProtocolError(f"handshake of {len(frame)} bytes is too large")
    try:
        data = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"handshake is not valid JSON: {e}") from None
    except RecursionError:  # `[[[[…` is valid JSON, until it is too deep for the parser
        raise ProtocolError("handshake is nested too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError("handshake must be a JSON object")
    token = data.get("AuthToken", "")
    if not isinstance(token, str):
        raise ProtocolError("handshake AuthToken must be a string")
    # A size that is absent or nonsensical is simply not applied, as ttyd does.
    downloads = data.get("downloads")
    downloads = downloads if downloads in ("jupyter", "browser") else "jupyter"
    return Handshake(token, _dimension(data.get("columns")), _dimension(data.get("rows")), downloads)


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a RESIZE_TERMINAL payload, or None if it is unusable.

    A hidden xterm.js may report nonsense sizes during layout; ignoring them (as ttyd
    does) is kinder than closing the terminal.
    """
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    columns, rows = _dimension(data.get("columns")), _dimension(data.get("rows"))
    if columns is None or rows is None:
        return None
    return rows, columns


def encode_handshake(
    auth_token: str = "", columns: int | None = None, rows: int | None = None, downloads: str | None = None
) -> bytes:
    """The client's first frame, as ttyd's own page sends it (``downloads``: ours, see ``Handshake``)."""
    data: dict[str, Any] = {"AuthToken": auth_token}
    if columns is not None and rows is not None:
        data["columns"] = columns
        data["rows"] = rows
    if downloads is not None:
        data["downloads"] = downloads
    return json.dumps(data).encode()


def encode_resize(columns: int, rows: int) -> bytes:
    return b"1" + json.dumps({"columns": columns, "rows": rows}, separators=(",", ":")).encode()


def encode_title(title: str) -> bytes:
    return b"1" + title.encode()


def encode_preferences(preferences: dict[str, Any]) -> bytes:
    """SET_PREFERENCES as ttyd writes it (json-c's spaced style: ``{ }`` when empty)."""
    if not preferences:
        return b"2{ }"
    items = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in preferences.items())
    return b"2{ " + items.encode() + b" }"


def client_option_value(value: str) -> Any:
    """A ``ttyd -t key=value`` value as ttyd sends it: parsed as JSON when it is JSON."""
    try:
        return json.loads(value, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):  # a string, then; as ttyd, whose parser stops at depth 32
        return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python reads NaN and Infinity; a browser's JSON.parse does not


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: it would go out as Infinity
        raise ValueError(f"{text} is out of range")
    return number


def close_reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8 (RFC 6455, 5.5)."""
    data = text.encode()
    if len(data) <= 123:
        return text
    return data[:120].decode(errors="ignore") + "..."
