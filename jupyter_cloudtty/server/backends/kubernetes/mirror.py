"""A list-then-watch of the owner's CloudShells in a thread, its events handed to the event loop.

As kubespawner's reflectors: one list, then a watch from its resourceVersion, resumed where it
stopped, listed again on 410 Gone or an error (with backoff). Nothing polls. The official
client blocks, so it runs in its own thread; ``on_event`` runs on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION
from jupyter_cloudtty.kube import backoff, errors

from . import cloudshells
from .cloudshells import ClusterAccess

log = logging.getLogger(__name__)

SYNC = "SYNC"  # the payload is the full list
ERROR = "ERROR"  # the payload is a ClusterError: listing or watching failed (it is retried)


@dataclass(frozen=True)
class Timing:
    """How long the API server may stay silent, how long a watch lasts, how retries back off."""

    request_timeout: float = 10.0  # a list unanswered this long, or a watch silent this long past its end, failed
    watch_seconds: int = 60  # the API server ends each watch after this long; we resume it at once
    backoff: float = 0.5  # the first retry after a failure, doubled each time...
    max_backoff: float = 30.0  # ...up to this

    def delay(self, failures: int, retry_after: float = 0) -> float:
        """Seconds to wait after ``failures`` failures in a row (jittered, at least a Retry-After)."""
        return backoff.delay(failures, self.backoff, self.max_backoff, retry_after)


class Reflector:
    def __init__(
        self,
        access: ClusterAccess,
        namespace: str,
        selector: str,
        on_event: Callable[[str, Any], None],
        timing: Timing | None = None,
    ):
        self.access = access
        self.namespace = namespace
        self.selector = selector
        self.on_event = on_event
        self.timing = timing or Timing()
        self._loop = asyncio.get_running_loop()  # created on the loop, which then gets the events
        self._stopping = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=f"cloudshells-{namespace}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()
            response = getattr(self._watch, "_resp", None)  # the open watch: end its blocking read now
            if response is not None and hasattr(response, "shutdown"):
                try:
                    response.shutdown()
                except (OSError, ValueError):
                    pass  # already closed, or not a socket we can shut down: the flag will do

    def _post(self, kind: str, payload: Any) -> None:
        if not self._stopping.is_set():
            self._loop.call_soon_threadsafe(self.on_event, kind, payload)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            retry_after = 0.0
            try:
                version = self._list()
                failures = 0
                self._follow(version)
                continue  # stopping
            except ApiException as e:
                if e.status == 410:  # our resourceVersion is too old: list again, at once
                    continue
                error, retry_after = cloudshells.error(e, "list", self.namespace), errors.retry_after(e)
            except Exception as e:  # the API server unreachable or silent, a dropped stream...
                error = cloudshells.unreachable(self.access, e, self.timing.request_timeout)
            failures += 1
            delay = self.timing.delay(failures, retry_after)
            if not self._stopping.is_set():
                log.warning("watching CloudShells in %s: %s; listing again in %.1fs", self.namespace, error, delay)
                self._post(ERROR, error)
            if self._stopping.wait(delay):
                break

    def _list(self) -> str:
        listing = self.access.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, label_selector=self.selector,
            _request_timeout=self.timing.request_timeout,
        )  # fmt: skip
        self._post(SYNC, listing.get("items") or [])
        return listing["metadata"]["resourceVersion"]

    def _follow(self, version: str) -> None:
        """Watch from ``version``, one watch after another, until an error (raised) or stop()."""
        seconds, quick = self.timing.watch_seconds, 0
        while not self._stopping.is_set():
            self._watch, began = watch.Watch(), time.monotonic()
            for event in self._watch.stream(
                self.access.custom.list_namespaced_custom_object,
                GROUP, VERSION, self.namespace, PLURAL,
                label_selector=self.selector,
                resource_version=version,
                timeout_seconds=seconds,
                allow_watch_bookmarks=True,
                # connect, and read: silent past the watch's own end means the API server hangs
                _request_timeout=(self.timing.request_timeout, seconds + self.timing.request_timeout),
            ):  # fmt: skip
                if event["type"] != "BOOKMARK":
                    self._post(event["type"], event["raw_object"])
            version = self._watch.resource_version or version
            # A server that ends watches long before their time, again and again: never spin.
            quick = quick + 1 if time.monotonic() - began < min(1.0, seconds / 2) else 0
            if quick and self._stopping.wait(self.timing.delay(quick)):
                return
