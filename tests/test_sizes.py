"""A size as the server, the magics and the recordings' list write it (jupyter_cloudtty.cloudshell.sizes); the
browser's twin is labextension/test/sizes.spec.ts, with the same cases."""

from __future__ import annotations

import pytest

from jupyter_cloudtty.cloudshell.sizes import size_text


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (512.4, "512 B"),  # a rate: bytes a second
        (1000, "1.0 KB"),
        (14540, "14.5 KB"),
        (588_900, "588.9 KB"),
        (3_000_000, "3.0 MB"),
        (15_200_000, "15.2 MB"),
        (10**9, "1.0 GB"),
        (2e12, "2.0 TB"),
        (3e15, "3000.0 TB"),  # the largest unit goes on counting
    ],
)
def test_bytes_in_powers_of_1000_with_one_decimal(count, said):
    assert size_text(count) == said
