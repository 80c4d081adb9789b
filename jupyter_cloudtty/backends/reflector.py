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
from typing import Any, Callable

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from ..operator import GROUP, PLURAL, VERSION
from . import cluster
from .cluster import ClusterAccess, ClusterError

log = logging.getLogger(__name__)

SYNC = "SYNC"  # the payload is the full list
ERROR = "ERROR"  # the payload is a ClusterError: listing or watching failed (it is retried)
WATCH_SECONDS = 300
MAX_BACKOFF = 30.0


class Reflector:
    def __init__(
        self,
        access: ClusterAccess,
        namespace: str,
        selector: str,
        on_event: Callable[[str, Any], None],
    ):
        self.access = access
        self.namespace = namespace
        self.selector = selector
        self.on_event = on_event
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
        custom, backoff = self.access.custom, 0.1
        args = (GROUP, VERSION, self.namespace, PLURAL)
        while not self._stopping.is_set():
            try:
                listing = custom.list_namespaced_custom_object(*args, label_selector=self.selector, _request_timeout=30)
                self._post(SYNC, listing.get("items") or [])
                self.last_error, backoff = None, 0.1
                version = listing["metadata"]["resourceVersion"]
                while not self._stopping.is_set():
                    self._watch, began = watch.Watch(), time.monotonic()
                    for event in self._watch.stream(
                        custom.list_namespaced_custom_object,
                        *args,
                        label_selector=self.selector,
                        resource_version=version,
                        timeout_seconds=WATCH_SECONDS,
                        allow_watch_bookmarks=True,
                        _request_timeout=WATCH_SECONDS + 30,
                    ):
                        if event["type"] != "BOOKMARK":
                            self._post(event["type"], event["raw_object"])
                    version = self._watch.resource_version or version
                    if time.monotonic() - began < 1:  # a server that ends watches at once: never spin
                        backoff = min(backoff * 2, MAX_BACKOFF)
                        self._stopping.wait(backoff)
            except ApiException as e:
                if e.status == 410:  # our resourceVersion is too old: list again
                    continue
                self._failed(cluster.error(e, "list", self.namespace))
            except Exception as e:  # the API server unreachable, a dropped stream...
                self._failed(cluster.unreachable(self.access, e))
            if self._stopping.wait(backoff):
                break
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _failed(self, error: ClusterError) -> None:
        if not self._stopping.is_set():
            log.warning("watching CloudShells in %s: %s; listing again", self.namespace, error)
            self._post(ERROR, error)
