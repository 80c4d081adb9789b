"""How long a client of a failing API server waits before it tries again (pure)."""

from __future__ import annotations

import random


def delay(failures: int, initial: float, maximum: float, retry_after: float = 0.0) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``initial`` doubled each time up to
    ``maximum``, with jitter (the clients of one API server, e.g. a hub's Jupyter servers, must not
    all come back at the same moment), and at least what a 429's Retry-After asked (up to ``maximum``)."""
    ceiling = min(initial * 2 ** max(failures - 1, 0), maximum)
    return max(random.uniform(ceiling / 2, ceiling), min(retry_after, maximum))


def retry_after(e: BaseException) -> float:
    """The Retry-After (seconds) an API server's error answer carries, else 0."""
    try:
        return float((getattr(e, "headers", None) or {}).get("Retry-After") or 0)
    except ValueError:
        return 0.0
