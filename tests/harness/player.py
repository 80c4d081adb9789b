"""The asciinema player in a page (tests/ui): the text it shows, read as a user reads it."""

from __future__ import annotations

from playwright.sync_api import Page


def player_text(scope: str) -> str:
    """JavaScript: the text the player in `scope` shows now, a line per row (its trailing blanks cut), or null."""
    return f"""() => {{ const t = document.querySelector('{scope} .ap-term-text');
      return t ? [...t.querySelectorAll('.ap-line')].map(l => l.textContent.trimEnd()).join('\\n') : null; }}"""


def wait_for_player_text(page: Page, scope: str, pattern: str, timeout: float = 15000) -> str:
    text = player_text(scope)
    test = f"(pattern) => {{ const t = ({text})(); return t !== null && new RegExp(pattern, 'm').test(t); }}"
    page.wait_for_function(test, arg=pattern, timeout=timeout)
    return page.evaluate(player_text(scope))
