"""The docs' screenshots (tests/harness/screenshots.py) made afresh: the six PNGs docs/users.md shows, at the
sizes it shows them, each under 150 kB, and the dark theme's dark."""

from __future__ import annotations

import pytest
from PIL import Image, ImageStat

from tests.harness.screenshots import NAMES, VIEWPORT, make_screenshots

MAX_BYTES = 150_000


@pytest.mark.timeout(300)  # one JupyterLab, two pages, a kernel each
def test_the_docs_screenshots_are_made_in_both_themes(tmp_path) -> None:
    paths = make_screenshots(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(NAMES) == sorted(p.name for p in paths)

    brightness = {}
    for path in paths:
        assert path.stat().st_size < MAX_BYTES, (path.name, path.stat().st_size)
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            brightness[path.stem] = ImageStat.Stat(image.convert("L")).mean[0]
        if path.name.startswith("panel-"):
            # The side bar and its panel with a little of the main area: narrow, as tall as its shells.
            assert 250 <= width <= VIEWPORT["width"] // 3 and 250 <= height <= VIEWPORT["height"], (
                path.name,
                width,
                height,
            )
        else:
            assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"]), path.name

    for shot in ("panel", "tab", "widget"):
        light, dark = brightness[f"{shot}-light"], brightness[f"{shot}-dark"]
        assert light > 200 and dark < light / 3, (shot, light, dark)
