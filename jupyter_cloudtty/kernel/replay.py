"""A terminal recording (asciicast) as a cell's output: what ``%cloudtty replay FILE`` displays.

The bundle has two forms of one recording. ``application/x-asciicast`` is the cast's text, which
our JupyterLab extension plays in its own player (theme-aware, keyboard-driven). ``text/html`` is
a self-contained player: asciinema-player's script and stylesheet inlined with the cast, so a saved
notebook replays where our extension is not, in an HTML export (nbconvert) opened with no network.
The player's files are copied from the labextension's ``node_modules`` into ``static/`` beside
this module by its build (``npm run build:player``); the wheel ships them.

A notebook keeps its outputs, so a recording over ``MAX_BYTES`` is refused: a notebook of a few
hundred megabytes no longer opens in a browser.
"""

from __future__ import annotations

import html
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_cloudtty.cloudshell import asciicast

MIME = "application/x-asciicast"
MAX_BYTES = 20 * 1024 * 1024
STATIC = Path(__file__).with_name("static")
PLAYER_FILES = ("asciinema-player.min.js", "asciinema-player.css", "asciinema-theme.css")


class ReplayError(Exception):
    """A recording that cannot be shown; the message is one line for the user."""


@dataclass(frozen=True)
class Cast:
    """A recording's text and what its header and events say: the terminal's size, its title, its length."""

    text: str
    name: str
    columns: int
    rows: int
    title: str
    duration: float

    def describe(self) -> str:
        """One line: which recording, its size and length (the bundle's ``text/plain``)."""
        seconds = int(self.duration + 0.5)
        length = f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
        title = f" of {self.title}" if self.title else ""
        return f"Terminal recording{title} ({self.name}, {self.columns}x{self.rows}, {length})"


def parse(data: bytes | str, name: str) -> Cast:
    """``data`` checked as asciicast v2 or v3 (the header line, then one JSON array per event); ReplayError
    saying what is wrong, and where, when it is not."""
    if len(data) > MAX_BYTES:
        raise ReplayError(f"{name} is {len(data) / 2**20:.1f} MB: over the {MAX_BYTES // 2**20} MB a notebook can hold")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise ReplayError(f"{name} is not a terminal recording (not UTF-8 text at byte {e.start})") from None
    try:
        cast = asciicast.parse(text)
    except asciicast.NoHeader as e:
        raise ReplayError(f"{name} is not a terminal recording ({e})") from None
    except asciicast.NotACast as e:
        raise ReplayError(f"{name}: {e}") from None
    return Cast(text, name, cast.columns, cast.rows, cast.title, cast.duration)


def read(path: Path) -> Cast:
    """The recording in a file; ReplayError for a file that is missing, unreadable, too big or not a cast."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:  # before reading it all
            raise ReplayError(f"{path} is {size / 2**20:.1f} MB: over the {MAX_BYTES // 2**20} MB a notebook can hold")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReplayError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ReplayError(f"{path} is a directory, not a recording") from None
    except OSError as e:
        raise ReplayError(f"cannot read {path}: {e.strerror or e}") from None
    return parse(data, str(path))


def player_assets() -> dict[str, str]:
    """The player's script and stylesheets, by file name; ReplayError when the build did not copy them."""
    try:
        return {name: (STATIC / name).read_text(encoding="utf-8") for name in PLAYER_FILES}
    except FileNotFoundError as e:
        raise ReplayError(
            f"the player's files are missing ({e.filename}); the labextension's build copies them "
            "(pip install jupyter-cloudtty, or `npm run build` in labextension/)"
        ) from None


def _inline(text: str) -> str:
    """Text safe inside a <script> or <style> element (it cannot end it early)."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


# Runs in the exported page: the player, themed as JupyterLab's player is. The theme's colours are
# CSS variables; asciinema-player reads its default foreground and background once, as hex, so they
# are resolved here (JupyterLab's light theme says "white").
_START = """
(function () {
  var host = document.getElementById(%(id)s);
  var cast = JSON.parse(document.getElementById(%(cast_id)s).textContent);
  function hex(property, fallback) {
    var probe = document.createElement('span');
    probe.style.color = 'var(' + property + ', ' + fallback + ')';
    host.appendChild(probe);
    var rgb = getComputedStyle(probe).color.match(/[\\d.]+/g) || [];
    host.removeChild(probe);
    return rgb.length < 3 ? fallback : '#' + rgb.slice(0, 3).map(function (n) {
      return ('0' + Math.round(Number(n)).toString(16)).slice(-2);
    }).join('');
  }
  host.style.setProperty('--jp-cloudtty-replay-foreground', hex('--jp-ui-font-color0', '#000000'));
  host.style.setProperty('--jp-cloudtty-replay-background', hex('--jp-layout-color0', '#ffffff'));
  AsciinemaPlayer.create({ data: cast }, host, {
    theme: 'jupyterlab', fit: 'width', idleTimeLimit: 2, preload: true
  });
})();
"""


def player_html(cast: Cast, element_id: str | None = None) -> str:
    """A self-contained player of ``cast`` (no network, no JupyterLab), its elements' ids unique to it."""
    assets = player_assets()
    element_id = element_id or f"cloudtty-replay-{uuid.uuid4().hex}"
    cast_id = f"{element_id}-cast"
    style = assets["asciinema-player.css"] + "\n" + assets["asciinema-theme.css"]
    start = _START % {"id": json.dumps(element_id), "cast_id": json.dumps(cast_id)}
    data = json.dumps(cast.text, ensure_ascii=False).replace("<", "\\u003c")  # JSON still, and no "</script>"
    return (
        f'<div class="cloudtty-replay" id="{element_id}" role="region" '
        f'aria-label="{html.escape(cast.describe())}"></div>\n'
        f"<style>{_inline(style)}</style>\n"
        f'<script type="application/json" id="{cast_id}">{data}</script>\n'
        # One copy of the player per page would do, but each output must play alone (an export of one cell).
        f"<script>if (typeof AsciinemaPlayer === 'undefined') {{\n{_inline(assets['asciinema-player.min.js'])}\n}}"
        "</script>\n"
        f"<script>{_inline(start)}</script>\n"
    )


def bundle(cast: Cast, element_id: str | None = None) -> dict[str, Any]:
    """The display bundle: the cast for JupyterLab's player, a self-contained player for everywhere else."""
    return {MIME: cast.text, "text/html": player_html(cast, element_id), "text/plain": cast.describe()}
