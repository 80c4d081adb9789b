"""Shell changes fanned out to subscribers (the event-stream endpoint), never buffered without bound.

A backend calls ``ShellEvents.publish`` whenever a shell appears, changes or goes. Each
subscriber holds at most one pending change per shell name: a subscriber that reads slowly
gets the newest state of each shell, not a growing queue of every intermediate one.
"""

from __future__ import annotations

import asyncio
from typing import Any

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


class Subscription:
    """Pending changes of one subscriber: name -> (type, shell JSON), in first-change order."""

    def __init__(self, events: ShellEvents):
        self._events = events
        self._pending: dict[str, tuple[str, dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        self.closed = False

    def _put(self, kind: str, shell: dict[str, Any]) -> None:
        name = shell["name"]
        previous = self._pending.pop(name, None)
        if previous is not None and previous[0] == ADDED and kind == MODIFIED:
            kind = ADDED  # the subscriber has not seen it yet: it is still new to them
        if previous is not None and previous[0] == ADDED and kind == DELETED:
            self._wake.set()  # came and went unseen: nothing to tell
            return
        self._pending[name] = (kind, shell)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        self._events._subscriptions.discard(self)

    async def next_batch(self, timeout: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Changes since the last call; waits up to ``timeout`` for one ([] on timeout or close)."""
        if not self._pending and not self.closed:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        self._wake.clear()
        batch, self._pending = list(self._pending.values()), {}
        return batch


class ShellEvents:
    """The publisher side, one per backend."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, kind: str, shell: dict[str, Any]) -> None:
        for subscription in self._subscriptions:
            subscription._put(kind, shell)

    def close(self) -> None:
        """End every subscription (the server is stopping)."""
        for subscription in list(self._subscriptions):
            subscription.close()
