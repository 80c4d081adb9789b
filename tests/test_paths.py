"""Whether a path lies inside a folder (jupyter_cloudtty.server.paths): the check both the transfers' paths
and the peer's file names from the shell go through. Their refusals end to end are tests/test_transfers.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_cloudtty.server.paths import inside


@pytest.mark.parametrize(
    ("folder", "path", "within"),
    [
        ("/srv/root", "/srv/root", True),
        ("/srv/root", "/srv/root/a/b.csv", True),
        ("/srv/root", "/srv/rootless/b.csv", False),  # a name that starts the same is not inside
        ("/srv/root", "/srv", False),
        ("/srv/root/", "/srv/root/a", True),
        ("/", "/etc/passwd", True),
        (Path("/srv/root"), Path("/srv/root/a"), True),
        (Path("/srv/root"), "/srv/other", False),
    ],
)
def test_a_path_is_inside_its_folder_and_nowhere_else(folder, path, within):
    assert inside(folder, path) is within
