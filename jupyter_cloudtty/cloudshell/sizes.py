"""A count of bytes as people read it, the same wherever a size is shown: the server's lines in a terminal,
the magics' output, the recordings' list (pure). The labextension's ``formatBytes`` (src/sizes.ts) says it
the same way in the browser.

Powers of 1000, as disks and network rates count (a transfer's MB/s is 10**6 bytes a second)."""

from __future__ import annotations

UNITS = ("KB", "MB", "GB", "TB")


def size_text(count: float) -> str:
    """``812 B``, ``14.5 KB``, ``3.0 MB``, up to TB; a rate is this and ``/s``."""
    if count < 1000:
        return f"{count:.0f} B"
    unit = 0
    count /= 1000
    while count >= 1000 and unit < len(UNITS) - 1:
        count /= 1000
        unit += 1
    return f"{count:.1f} {UNITS[unit]}"
