"""The scrollback kept for late clients."""

from jupyter_cloudtty.server.sessions import Scrollback


def test_keeps_everything_under_the_limit():
    scrollback = Scrollback(100)
    scrollback.append(b"one\r\n")
    scrollback.append(b"two\r\n")
    assert bytes(scrollback) == b"one\r\ntwo\r\n"


def test_trims_to_the_limit_at_a_line_start():
    scrollback = Scrollback(20)
    for i in range(10):
        scrollback.append(b"line %d\r\n" % i)
    kept = bytes(scrollback)
    assert len(scrollback) == len(kept) <= 20
    assert kept == b"line 8\r\nline 9\r\n"


def test_a_line_longer_than_the_limit_is_cut_to_its_tail():
    scrollback = Scrollback(10)
    scrollback.append(b"x" * 100)
    assert bytes(scrollback) == b"x" * 10


def test_zero_keeps_nothing():
    scrollback = Scrollback(0)
    scrollback.append(b"abc")
    assert bytes(scrollback) == b"" and len(scrollback) == 0


def test_tail():
    scrollback = Scrollback(100)
    scrollback.append(b"abc")
    scrollback.append(b"def")
    assert scrollback.tail(4) == b"cdef"


def test_offsets_count_every_byte_ever_appended():
    scrollback = Scrollback(20)
    for i in range(10):
        scrollback.append(b"line %d\r\n" % i)  # 8 bytes each
    assert scrollback.end == 80
    assert scrollback.start == 80 - len(b"line 8\r\nline 9\r\n")
    assert scrollback.since(72) == b"line 9\r\n"
    assert scrollback.since(0) == b"line 8\r\nline 9\r\n"  # older than what is kept: all of it
    assert scrollback.since(80) == b""
