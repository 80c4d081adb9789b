"""A terminal's output as plain text, line by line: what ``ShellTerminal.output`` returns.

Pure: bytes in, text out. It understands what shells and line-oriented programs send: CR and LF,
backspace, tabs, erasing and moving within a line (readline's redraws, progress bars), and drops
colours and every other escape sequence (titles, modes). A full-screen program draws on the
terminal's alternate screen; what it draws there is left out, as it is from a terminal's own
scrollback. Moves between rows are not followed: this is a transcript, not a screen.

Bounded: at most ``max_lines`` lines of at most ``width`` characters (longer ones are cut into
several), and at most ``max_pending`` bytes waiting to be read. ``feed`` only appends the bytes
(a reader thread can keep up with any output); they are parsed when the text is asked for.
"""

from __future__ import annotations

import codecs
import re
import threading
from collections import deque

# One token of output: a run of printable text, an escape sequence, or one control character.
_TOKEN = re.compile(
    r"""
    (?P<text>[^\x00-\x1f\x7f-\x9f]+)
  | \x1b\[(?P<params>[0-?]*)[\x20-/]*(?P<final>[@-~])      # CSI
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)                      # OSC (window title...), ended by BEL or ST
  | \x1b[PX^_][^\x1b]*\x1b\\                               # DCS, SOS, PM, APC
  | \x1b(?:[\x20-/]+[0-~]|(?![\[\]PX^_])[0-~])            # any other escape (charset, keypad mode...)
  | (?P<control>[\x00-\x1a\x1c-\x1f\x7f-\x9f])
    """,
    re.VERBOSE,
)
# The start of an escape sequence cut off at the end of what has arrived: kept for the next bytes.
_PARTIAL = re.compile(r"\x1b(?:\[[0-?]*[\x20-/]*|\][^\x07\x1b]*\x1b?|[PX^_][^\x1b]*\x1b?|[\x20-/]*)\Z")
_ALTERNATE_SCREEN = {"?47", "?1047", "?1049"}
_MAX_PARTIAL = 4096  # an unterminated sequence longer than this is dropped


class TerminalText:
    """Plain text of a terminal's output; thread-safe (one thread feeds, another reads)."""

    def __init__(self, max_lines: int = 10_000, width: int = 4096, max_pending: int = 1 << 20):
        self.max_pending = max_pending
        self.width = width
        self._lock = threading.Lock()
        self._pending = bytearray()
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._line = ""  # the line the cursor is on
        self._col = 0
        self._alternate = False
        self._partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        """Take output bytes (parsed later, when the text is read)."""
        with self._lock:
            self._pending += data
            if len(self._pending) > self.max_pending:
                self._forget_older_than_pending()

    @property
    def text(self) -> str:
        """Everything kept, lines joined by ``\\n``; the last line is where the cursor is (a prompt)."""
        with self._lock:
            self._parse_pending()
            return "\n".join([*self._lines, self._line.rstrip()])

    @property
    def lines(self) -> list[str]:
        """The finished lines and the current one (without trailing spaces)."""
        return self.text.split("\n")

    def _forget_older_than_pending(self) -> None:
        """More arrived unread than is kept: keep its newest bytes, from a line start, and nothing older."""
        cut = len(self._pending) - self.max_pending
        newline = self._pending.find(b"\n", cut)
        del self._pending[: newline + 1 if newline != -1 else cut]
        self._lines.clear()
        self._line, self._col, self._partial = "", 0, ""
        self._decoder.reset()

    def _parse_pending(self) -> None:
        if not self._pending:
            return
        data = self._partial + self._decoder.decode(bytes(self._pending))
        self._pending.clear()
        self._partial = ""
        position, end = 0, len(data)
        while position < end:
            match = _TOKEN.match(data, position)
            if match is None:  # an escape: cut off (wait for the rest) or malformed (skip the ESC)
                rest = data[position:]
                if _PARTIAL.match(rest) and len(rest) <= _MAX_PARTIAL:
                    self._partial = rest
                    return
                position += 1
                continue
            position = match.end()
            if match["text"] is not None:
                if not self._alternate:
                    self._write(match["text"])
            elif match["final"] is not None:
                self._csi(match["params"], match["final"])
            elif match["control"] is not None and not self._alternate:
                self._control(match["control"])

    def _write(self, text: str) -> None:
        line, col = self._line, self._col
        if col > len(line):
            line += " " * (col - len(line))
        self._line = line[:col] + text + line[col + len(text) :]
        self._col = col + len(text)
        while len(self._line) > self.width:  # a very long line is kept as several
            self._lines.append(self._line[: self.width].rstrip())
            self._line = self._line[self.width :]
            self._col = max(0, self._col - self.width)

    def _newline(self) -> None:
        self._lines.append(self._line.rstrip())
        self._line, self._col = "", 0

    def _control(self, char: str) -> None:
        if char == "\n" or char in "\x0b\x0c":
            self._newline()
        elif char == "\r":
            self._col = 0
        elif char == "\b":
            self._col = max(0, self._col - 1)
        elif char == "\t":
            self._write(" " * (8 - self._col % 8))
        # BEL, SO/SI and the rest change nothing that is shown

    def _csi(self, params: str, final: str) -> None:
        if final in "hl" and params in _ALTERNATE_SCREEN:
            self._alternate = final == "h"
            return
        if self._alternate or params.startswith(("?", ">", "<", "=")):
            return
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")]
        n = numbers[0]
        count = max(n, 1)
        line, col = self._line, self._col
        if final == "K":  # erase in line: to its end, from its start, all of it
            if n == 0:
                self._line = line[:col]
            elif n == 1:
                self._line = " " * min(col + 1, len(line)) + line[col + 1 :]
            elif n == 2:
                self._line = ""
        elif final == "C":
            self._col = col + count
        elif final == "D":
            self._col = max(0, col - count)
        elif final in "G`":
            self._col = count - 1
        elif final == "P":  # delete characters (the rest of the line moves left)
            self._line = line[:col] + line[col + count :]
        elif final == "@":  # insert blanks
            if col < len(line):
                self._line = line[:col] + " " * count + line[col:]
        elif final == "X":  # erase characters (blanks in their place)
            if col < len(line):
                erased = line[col : col + count]
                self._line = line[:col] + " " * len(erased) + line[col + count :]
        # colours (m), rows and screens (A, B, H, J...), modes: nothing to show
