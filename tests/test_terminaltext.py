"""A terminal's output as plain text (jupyter_cloudtty.terminaltext): what ``ShellTerminal.output`` shows."""

from __future__ import annotations

import threading

import pytest

from jupyter_cloudtty.kernel.terminaltext import TerminalText


def text_of(*chunks: bytes, **options) -> str:
    text = TerminalText(**options)
    for chunk in chunks:
        text.feed(chunk)
    return text.text


def test_lines_and_the_prompt_the_cursor_is_on():
    assert text_of(b"bash-5.2$ echo ok\r\nok\r\nbash-5.2$ ") == "bash-5.2$ echo ok\nok\nbash-5.2$"
    assert text_of(b"one\r\ntwo\r\n") == "one\ntwo\n"
    assert text_of(b"") == ""


def test_colours_titles_and_modes_are_dropped():
    ls = b"\x1b]0;user@host: ~\x07\x1b[?2004h$ ls\r\n\x1b[?2004l\r\x1b[0m\x1b[01;34mdir\x1b[0m  file\r\n"
    assert text_of(ls) == "$ ls\ndir  file\n"
    assert text_of(b"\x1b(B\x1b)0\x1b=\x1b>\x1b7a\x1b8\x1bP1$r0m\x1b\\b") == "ab"


def test_carriage_return_overwrites_as_a_progress_bar_does():
    assert text_of(b"10%\r50%\r100%\r\ndone") == "100%\ndone"
    assert text_of(b"downloading...\rok\x1b[K\r\n") == "ok\n"


def test_readline_redraws_backspace_erase_and_moves_within_a_line():
    # Typing "echp", backspace, "o ok": readline sends BS, then the rest.
    assert text_of(b"$ echp\x08\x1b[Ko ok") == "$ echo ok"
    # Moving left twice and inserting a character (ICH), then deleting one (DCH).
    assert text_of(b"$ ab\x1b[2D\x1b[1@x\x1b[C\x1b[P") == "$ xa"
    assert text_of(b"abcdef\x1b[3G\x1b[2X") == "ab  ef"
    assert text_of(b"abcdef\x1b[4G\x1b[1K") == "    ef"
    assert text_of(b"abcdef\x1b[2K\x1b[3Gx") == "  x"
    assert text_of(b"a\tb") == "a       b"
    assert text_of(b"ab\x08\x08\x08c") == "cb"


def test_a_sequence_cut_between_two_reads_is_put_back_together():
    assert text_of(b"red: \x1b[3", b"1mred\x1b", b"[0m.") == "red: red."
    assert text_of(b"\x1b]0;ti", b"tle\x07shown") == "shown"
    # A UTF-8 character cut in two.
    assert text_of("é€".encode()[:3], "é€".encode()[3:]) == "é€"
    # Read between the two halves: the second half completes it.
    text = TerminalText()
    text.feed(b"a\x1b[3")
    assert text.text == "a"
    text.feed(b"1mb")
    assert text.text == "ab"


def test_malformed_escapes_and_bad_bytes_do_not_lose_the_text_around_them():
    assert text_of(b"a\x1b\x07b") == "ab"
    assert text_of(b"a\xff\xfeb") == "a\ufffd\ufffdb"


def test_what_a_full_screen_program_draws_on_the_alternate_screen_is_left_out():
    vim = b"$ vim x\r\n\x1b[?1049h\x1b[22;1H~\r\n~\r\n\x1b[1;1Hhello\x1b[?1049l\r$ "
    assert text_of(vim) == "$ vim x\n$"


def test_bounded_lines_width_and_unread_bytes():
    assert text_of(b"".join(b"line %d\r\n" % i for i in range(10)), max_lines=3) == "line 7\nline 8\nline 9\n"
    assert text_of(b"x" * 10 + b"\r\n", width=4) == "xxxx\nxxxx\nxx\n"
    # More unread output than is kept: its newest bytes, from a line start, and nothing older.
    text = TerminalText(max_pending=20)
    text.feed(b"old\r\n")
    assert text.text == "old\n"
    text.feed(b"".join(b"n%02d\r\n" % i for i in range(10)))
    assert text.text == "n07\nn08\nn09\n"


@pytest.mark.timeout(30)
def test_a_flood_fed_from_another_thread_reads_whole():
    text = TerminalText(max_lines=200_000, max_pending=64 << 20)
    lines = [b"\x1b[32m%06d\x1b[0m " % i + b"x" * 60 + b"\r\n" for i in range(100_000)]

    def feed() -> None:
        for i in range(0, len(lines), 1000):
            text.feed(b"".join(lines[i : i + 1000]))

    feeder = threading.Thread(target=feed)
    feeder.start()
    while feeder.is_alive():
        assert text.text is not None  # reading while it is fed
    feeder.join()
    got = text.lines
    assert len(got) == 100_001 and got[-1] == ""
    assert got[0] == "000000 " + "x" * 60 and got[99_999] == "099999 " + "x" * 60
