"""The Kubernetes backend: each shell is a CloudShell in the cluster, its terminal relayed from the pod's ttyd.

State lives in the cluster, not here: the server's owner's CloudShells (selected by the owner
label, confirmed by the annotation) are mirrored by a watch (``Reflector``), and every change
is published to the event stream. A terminal is one WebSocket to the pod's ttyd (one process
there), shared by the clients of a ``Session``; when the last client goes, it stays open for
``detach_timeout`` seconds so that a browser back from a network drop finds the same process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import socket
import ssl
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from jupyter_cloudtty.cloudshell import GROUP, PLURAL, VERSION
from jupyter_cloudtty.cloudshell.errors import ShellEnded, ShellExists, ShellNotFound, TooManyShells
from jupyter_cloudtty.cloudshell.model import Phase, Shell, parse_time
from jupyter_cloudtty.cloudshell.names import TOKEN_KEY, secret_name
from jupyter_cloudtty.cloudshell.spec import check_ttl, generate_name, ttl_seconds
from jupyter_cloudtty.server import events
from jupyter_cloudtty.server.backends.base import Backend
from jupyter_cloudtty.server.recordings import RecordingPolicy
from jupyter_cloudtty.server.sessions import Session
from jupyter_cloudtty.ttyd.protocol import CloseCode, close_reason

from . import cloudshells, policy, terminal_url
from .cloudshells import ClusterAccess, ClusterError
from .mirror import ERROR, SYNC, Reflector, Timing
from .relay import NotRecorded, TtydRefused, TtydStream, answers

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """The terminal cannot be opened now: (close code, reason)."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def end_of(obj: dict[str, Any] | None) -> tuple[int, str] | None:
    """How a terminal of this shell ends if the shell has ended (or is gone), else None."""
    if obj is None or policy.deleting(obj):
        return CloseCode.DELETED, "the shell was deleted"
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    if status.get("phase") == Phase.FAILED:
        failed = conditions.get("Failed") or conditions.get("Ready") or {}
        code = CloseCode.NOT_RECORDED if failed.get("reason") == "NotRecorded" else CloseCode.FAILED
        return code, close_reason(failed.get("message") or "the shell failed")
    if status.get("phase") == Phase.COMPLETE:
        ready = conditions.get("Ready") or {}
        code = {"Expired": CloseCode.EXPIRED, "IdleTimeout": CloseCode.IDLE}.get(ready.get("reason"), CloseCode.NORMAL)
        return code, close_reason(ready.get("message") or "the shell completed")
    return None


# The Job's deadline and the operator's clock may differ by this much: a pod that ends this close to
# the shell's TTL ended for it, not lost.
TTL_SLACK_SECONDS = 3.0


def past_ttl(obj: dict[str, Any] | None, now: datetime) -> bool:
    """Whether the shell's TTL has run out (its Job's deadline ends its pod), by its status's start."""
    ttl = ttl_seconds((obj or {}).get("spec") or {})
    started = parse_time(((obj or {}).get("status") or {}).get("lastScheduleTime"))
    return bool(ttl and started and (now - started).total_seconds() >= ttl - TTL_SLACK_SECONDS)


class KubernetesBackend(Backend):
    kind = "kubernetes"

    def __init__(
        self,
        access: ClusterAccess,
        *,
        owner: str,
        policy: policy.Policy,
        connect_via: str,
        max_shells: int = 32,
        scrollback_bytes: int = 512 * 1024,
        detach_timeout: float = 60.0,
        ready_timeout: float = 300.0,
        connect_timeout: float = 10.0,
        ping_interval: float = 30.0,
        lost_grace: float = 5.0,
        timing: Timing | None = None,
        recordings: RecordingPolicy | None = None,
    ):
        super().__init__(recordings)
        self.access = access
        self.owner = owner
        self.policy = policy
        self.namespace = policy.namespace
        self.connect_via = connect_via
        self.max_shells = max_shells
        self._creating = asyncio.Lock()
        self.scrollback_bytes = scrollback_bytes
        self.detach_timeout = detach_timeout
        self.ready_timeout = ready_timeout
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.lost_grace = lost_grace
        self.timing = timing or Timing()  # of requests to the API server: timeout, watch length, backoff
        self._objects: dict[str, dict[str, Any]] = {}  # name -> CloudShell, as the watch shows it
        self._deleted_uids: set[str] = set()  # deleted by us: late watch events must not revive them
        self._synced = asyncio.Event()
        self._settled = asyncio.Event()  # listed, or failed to
        self._list_error: ClusterError | None = None
        self._changed = asyncio.Event()  # replaced at every change: await it to see the next one
        self._sessions: dict[str, Session] = {}
        self._tokens: dict[str, str] = {}  # shell uid -> its ttyd token (its Secret is immutable)
        self._detach_timers: dict[str, asyncio.TimerHandle] = {}
        # Each relayed connection's watcher of its end: held here, since the loop holds tasks only
        # weakly (one awaiting a long wait could be collected mid-way), and cancelled at shutdown.
        self._watchers: set[asyncio.Task] = set()
        self._reflector: Reflector | None = None

    async def start(self) -> None:
        """Start mirroring the owner's CloudShells (once the event loop runs)."""
        if self._reflector is None:
            selector = policy.owner_selector(self.owner)
            self._reflector = Reflector(self.access, self.namespace, selector, self._on_event, self.timing)
            self._reflector.start()

    def info(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "apiServer": self.access.host,
            "credentials": self.access.source,
            "connectVia": self.connect_via,
            "apiServerError": str(self._list_error) if self._list_error else None,  # the watch's, while it fails
        }

    # --- the mirror of the cluster ---------------------------------------------------------

    def _on_event(self, kind: str, payload: Any) -> None:
        if kind == SYNC:
            fresh = {o["metadata"]["name"]: o for o in payload if policy.owned_by(o, self.owner)}
            for name in set(self._objects) - set(fresh):
                self._forget(name)
            for obj in fresh.values():
                self._store(obj)
            self._list_error = None
            self._synced.set()
            self._settled.set()
        elif kind == ERROR:
            self._list_error = payload
            self._settled.set()
        elif kind in ("ADDED", "MODIFIED") and policy.owned_by(payload, self.owner):
            self._store(payload)
        elif kind in ("ADDED", "MODIFIED", "DELETED"):  # gone, or no longer this owner's
            name, uid = payload["metadata"]["name"], payload["metadata"].get("uid")
            if kind == "DELETED":
                self._deleted_uids.discard(uid)
            if (self._objects.get(name) or {}).get("metadata", {}).get("uid") == uid:
                self._forget(name)

    def _store(self, obj: dict[str, Any]) -> None:
        name, uid = obj["metadata"]["name"], obj["metadata"].get("uid")
        if policy.deleting(obj) or uid in self._deleted_uids:
            self._forget(name)
            return
        previous = self._objects.get(name)
        self._objects[name] = obj
        shown = policy.shell(obj).to_json()
        if previous is None:
            self.events.publish(events.ADDED, shown)
        elif policy.shell(previous).to_json() != shown:
            self.events.publish(events.MODIFIED, shown)
        self._status_changed(name, obj)

    def _forget(self, name: str) -> None:
        obj = self._objects.pop(name, None)
        if obj is not None:
            self._tokens.pop(obj["metadata"].get("uid") or "", None)
            self.events.publish(events.DELETED, policy.shell(obj).to_json())
            self._status_changed(name, None)

    def _status_changed(self, name: str, obj: dict[str, Any] | None) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        session = self._sessions.get(name) if obj is not None else self._sessions.pop(name, None)
        ended = end_of(obj)
        if session is not None and ended is not None:
            session.end(*ended)

    async def _cached(self) -> dict[str, dict[str, Any]]:
        if not self._synced.is_set():
            await self.start()
            try:
                await asyncio.wait_for(self._settled.wait(), self.connect_timeout)
            except asyncio.TimeoutError:
                message = f"the Kubernetes API at {self.access.host} does not answer"
                raise ClusterError(503, message) from None
            if not self._synced.is_set():
                assert self._list_error is not None
                raise self._list_error
        return self._objects

    async def _object(self, name: str) -> dict[str, Any]:
        """The owner's CloudShell ``name``; ShellNotFound also for another user's (never a leak)."""
        obj = (await self._cached()).get(name)
        if obj is None:  # maybe created a moment ago, and not yet watched
            obj = await self._call("get", name)
            if obj is None or not policy.owned_by(obj, self.owner) or policy.deleting(obj):
                raise ShellNotFound(name)
        return obj

    async def _call(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """``<action>_namespaced_custom_object`` on the namespace's CloudShells, in a thread (the client
        blocks); None on 404 (for get/delete), else errors users understand."""
        function = getattr(self.access.custom, f"{action}_namespaced_custom_object")
        try:
            return await asyncio.to_thread(
                function, GROUP, VERSION, self.namespace, PLURAL, *args,
                _request_timeout=self.timing.request_timeout, **kwargs,
            )  # fmt: skip
        except ApiException as e:
            if e.status == 404 and action in ("get", "delete"):
                return None
            raise cloudshells.error(e, action, self.namespace) from None
        except HTTPError as e:
            raise cloudshells.unreachable(self.access, e, self.timing.request_timeout) from None

    # --- the REST API ----------------------------------------------------------------------

    async def create(self, name: str | None, spec: dict[str, Any], record: bool = False) -> Shell:
        # The administrator's policy, applied here once: what it refuses is refused before the cluster is asked.
        body = policy.cloudshell(name or generate_name(), spec, self.owner, self.policy, record)
        # One create at a time: counting, then awaiting the API server, lets concurrent requests all
        # count the same shells and all pass (20 POSTs made 10 shells under max_shells = 2).
        async with self._creating:
            owned = await self._cached()
            if len(owned) >= self.max_shells:
                raise TooManyShells(
                    f"you already have {len(owned)} shells, the most this server allows "
                    "(c.CloudTTY.max_shells); delete one first"
                )
            return await self._create(name, body)

    async def _create(self, name: str | None, body: dict[str, Any]) -> Shell:
        for attempt in range(8):
            if attempt:  # a generated name was taken: draw another
                body = {**body, "metadata": {**body["metadata"], "name": generate_name()}}
            try:
                obj = await self._call("create", body)
            except ClusterError as e:
                if e.status != 409:
                    raise
                if name is not None:
                    raise ShellExists(name) from None
                continue
            log.info("created CloudShell %s/%s for %s", self.namespace, obj["metadata"]["name"], self.owner)
            self._store(obj)
            return policy.shell(obj)
        raise ClusterError(503, "could not find a free shell name; try again")

    async def list(self) -> list[Shell]:
        return [policy.shell(obj) for obj in (await self._cached()).values()]

    async def get(self, name: str) -> Shell:
        return policy.shell(await self._object(name))

    async def set_ttl(self, name: str, ttl: int) -> Shell:
        """A merge patch of the TTL alone: the operator moves the Job's deadline and the status URL with it."""
        obj = await self._object(name)
        if end_of(obj) is not None:
            raise ShellEnded(name)
        check_ttl(ttl, self.policy.max_ttl)
        patched = await self._call("patch", name, {"spec": {"ttlSecondsAfterStarted": ttl}})
        log.info("CloudShell %s/%s: TTL now %ds", self.namespace, name, ttl)
        self._store(patched)
        return policy.shell(patched)

    async def delete(self, name: str) -> None:
        obj = await self._object(name)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        await self._call("delete", name, body=body)
        log.info("deleted CloudShell %s/%s", self.namespace, name)
        self._deleted_uids.add(obj["metadata"].get("uid"))
        self._forget(name)

    async def shutdown(self) -> None:
        if self._reflector is not None:
            self._reflector.stop()
        for session in list(self._sessions.values()):
            session.end(CloseCode.SERVER_STOPPING, "the Jupyter server is stopping")
        for timer in self._detach_timers.values():
            timer.cancel()
        watchers = list(self._watchers)
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self.events.close()

    # --- terminals ---------------------------------------------------------------------------

    async def open(self, name: str) -> Session:
        obj = await self._object(name)
        current = self._sessions.get(name)
        if current is not None and current.ended is None:
            return current
        # A new connection to ttyd, so a new process there (the previous one has ended).
        session = self._sessions[name] = self._new_session(name, obj)
        ended = end_of(obj)
        if ended is not None:
            session.end(*ended)
        return session

    def _new_session(self, name: str, obj: dict[str, Any]) -> Session:
        def connect(rows: int, columns: int) -> Any:
            return self._connect(name, session, rows, columns)

        def shell() -> Shell:  # as the watch shows it when the recording starts
            return policy.shell(self._objects.get(name) or obj)

        session = Session(
            connect,
            title="",
            preferences={},
            scrollback_bytes=self.scrollback_bytes,
            on_last_detach=lambda: self._detached(name, session),
            recorder=self.recordings.recorder(shell),
        )
        return session

    async def _connect(self, name: str, session: Session, rows: int, columns: int) -> TtydStream | None:
        try:
            obj = await self._ready(name)
            token = await self._token(obj)
            url = terminal_url.terminal_url(obj, self.connect_via, self.access.host, token)
        except Unavailable as e:
            session.end(e.code, close_reason(e.reason))
            return None
        except terminal_url.Unreachable as e:
            session.end(CloseCode.UNREACHABLE, close_reason(str(e)))
            return None
        options: dict[str, Any] = {}
        if self.connect_via == "apiserver":
            # A kubeconfig's exec plugin may run to refresh the token: not on the event loop.
            headers = await asyncio.to_thread(self.access.auth_headers)
            options = {"headers": headers, "ssl_context": self.access.ssl_context()}
        try:
            stream = await TtydStream.connect(
                url, rows=rows, columns=columns, timeout=self.connect_timeout, ping_interval=self.ping_interval,
                **options,
            )  # fmt: skip
        except NotRecorded as e:
            # Its recorder (the operator's recording policy) cannot record it: final, as for ours.
            session.end(CloseCode.NOT_RECORDED, close_reason(str(e) or "not recorded"))
            return None
        except (OSError, asyncio.TimeoutError) as e:
            why = f"cannot reach the shell's terminal: {describe(e, url, self.connect_via)}"
            said = apiserver_said(e)  # its own words (who may not do what), for the administrator's log
            shown = hidden(url, token)
            log.warning("shell %s: %s (%s)%s", name, why, shown, f"; the API server said: {said}" if said else "")
            session.end(CloseCode.UNREACHABLE, close_reason(why))
            return None
        log.info("shell %s: relaying %s", name, hidden(url, token))
        session.title, session.preferences = stream.title, stream.preferences

        def still_there() -> Awaitable[bool]:
            return answers(url, timeout=self.connect_timeout, **options)

        watcher = asyncio.ensure_future(self._end_with_output(name, session, stream, still_there))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return stream

    async def _token(self, obj: dict[str, Any]) -> str:
        """The shell's ttyd token, from the Secret the operator made for it ("" if it made none:
        an operator from before tokens). Read once per shell and kept while the shell is known (the
        operator never changes it): a terminal reconnecting while the API server is down still
        reaches its ttyd."""
        uid = obj["metadata"].get("uid") or ""
        if uid in self._tokens:
            return self._tokens[uid]
        name = secret_name(obj)
        try:
            secret = await asyncio.to_thread(
                self.access.core.read_namespaced_secret, name, self.namespace,
                _request_timeout=self.timing.request_timeout,
            )  # fmt: skip
        except ApiException as e:
            if e.status == 404:  # made before Ready by an operator that makes one: there is none
                self._tokens[uid] = ""
                return ""
            if e.status == 403:
                raise Unavailable(
                    CloseCode.UNREACHABLE,
                    "this Jupyter server may not read the shell's Secret (the Role in docs/administrators.md)",
                ) from None
            raise Unavailable(CloseCode.UNREACHABLE, str(cloudshells.error(e, "read", self.namespace))) from None
        except HTTPError as e:
            raise Unavailable(CloseCode.UNREACHABLE, str(cloudshells.unreachable(self.access, e))) from None
        try:
            token = base64.b64decode((secret.data or {}).get(TOKEN_KEY) or "", validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise Unavailable(CloseCode.UNREACHABLE, f"the shell's Secret {name!r} holds no valid token") from None
        self._tokens[uid] = token
        return token

    async def _ready(self, name: str) -> dict[str, Any]:
        """The shell once Ready; Unavailable if it ends, goes, or takes longer than ``ready_timeout``."""

        async def ready() -> dict[str, Any]:
            while True:
                changed = self._changed
                obj = self._objects.get(name)
                ended = end_of(obj)
                if ended is not None:
                    raise Unavailable(*ended)
                assert obj is not None
                if (obj.get("status") or {}).get("phase") == Phase.READY:
                    return obj
                await changed.wait()

        try:
            return await asyncio.wait_for(ready(), self.ready_timeout)
        except asyncio.TimeoutError:
            phase = (self._objects.get(name, {}).get("status") or {}).get("phase") or "no status"
            raise Unavailable(
                CloseCode.UNREACHABLE,
                f"not Ready after {self.ready_timeout:g}s ({phase}): kubectl describe cloudshell {name}",
            ) from None

    async def _end_with_output(
        self, name: str, session: Session, stream: TtydStream, still_there: Callable[[], Awaitable[bool]]
    ) -> None:
        """The connection to ttyd ended: tell the clients why, as far as ttyd and the shell's status say.

        ttyd ends it when its process ends: with a close frame, or (ttyd 1.7.7) by dropping it, and
        then still answers. A ttyd that answers no more was killed, or its pod went: the operator
        will mark the shell Failed or Complete, so wait ``lost_grace`` seconds for the status to
        say so, rather than call a lost connection the process's normal end.
        """
        await session.drained()
        if session.ended is not None:
            return
        if stream.close_code == CloseCode.NOT_RECORDED:  # its recorder's recording failed mid-session
            session.end(CloseCode.NOT_RECORDED, close_reason(stream.close_reason or "not recorded"))
            return
        if stream.lost:
            why = f"the shell's terminal stopped answering (no pong within {self.ping_interval:g}s)"
            session.end(CloseCode.UNREACHABLE, why)
            return
        if stream.closed_by_ttyd or await still_there():
            session.end(*(end_of(self._objects.get(name)) or (CloseCode.NORMAL, "the terminal's process ended")))
            return
        if past_ttl(self._objects.get(name), datetime.now(timezone.utc)):
            # Its TTL ran out: the Job's deadline took the pod, and the status will say Expired (no
            # new pod is coming, whatever the status says meanwhile).
            ended = await self._status_end(name, self.lost_grace)
            ttl = ttl_seconds((self._objects.get(name) or {}).get("spec") or {})
            session.end(*(ended or (CloseCode.EXPIRED, f"its TTL of {ttl}s ran out")))
            return
        ended = await self._status_end(name, self.lost_grace, or_not_ready=True)
        now_status = (self._objects.get(name) or {}).get("status") or {}
        if ended is None and name in self._objects and now_status.get("phase") != Phase.READY:
            # The operator says the shell is no longer Ready but has not ended: its pod is being
            # replaced (a Restarted condition will say why). The clients stay, and go on in the new one.
            session.notice("the shell's pod is gone; waiting for a new one")
            if await session.reopen():
                restarted = _condition(self._objects.get(name), "Restarted")
                why = f" ({restarted['message']})" if restarted and restarted.get("message") else ""
                session.notice(f"a new pod{why}: the old process and what it held are gone")
            return
        # Through the service proxy the API server is one of the two ends that can go (a restart of
        # the control plane breaks every proxied connection): name both, not only ttyd.
        gone = "the API server or the shell's ttyd" if self.connect_via == "apiserver" else "its ttyd"
        why = f"the connection to the shell's terminal was lost mid-stream ({gone} no longer answers)"
        session.end(*(ended or (CloseCode.UNREACHABLE, why)))

    async def _status_end(self, name: str, timeout: float, or_not_ready: bool = False) -> tuple[int, str] | None:
        """How the shell ended, once its status says so (watch events), or None after ``timeout`` seconds
        (or, ``or_not_ready``, once it is not Ready any more without having ended)."""

        async def ended() -> tuple[int, str] | None:
            while True:
                changed = self._changed
                obj = self._objects.get(name)
                if (end := end_of(obj)) is not None:
                    return end
                if or_not_ready and ((obj or {}).get("status") or {}).get("phase") != Phase.READY:
                    return None
                await changed.wait()

        try:
            return await asyncio.wait_for(ended(), timeout)
        except asyncio.TimeoutError:
            return None

    def _detached(self, name: str, session: Session) -> None:
        """The last client left: keep ttyd's process for ``detach_timeout`` seconds, for a client to come back."""
        if timer := self._detach_timers.pop(name, None):
            timer.cancel()

        def expire() -> None:
            self._detach_timers.pop(name, None)
            if session.ended is None and not session.has_clients:
                log.info("shell %s: no client for %gs; closing its terminal", name, self.detach_timeout)
                session.end(CloseCode.NORMAL, f"closed: no client for {self.detach_timeout:g}s")

        self._detach_timers[name] = asyncio.get_running_loop().call_later(self.detach_timeout, expire)


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind and c.get("status") == "True"), None)


def hidden(url: str, token: str) -> str:
    """``url`` for a log line: the token is a credential."""
    return url.replace(f"/{token}/", "/<token>/") if token else url


def describe(e: BaseException, url: str, connect_via: str) -> str:
    """Why a connection to ttyd failed, in words that point at the fix, within a close reason's 123
    bytes even where the fix takes words (the log has the URL and the API server's own message)."""
    host = urlsplit(url).hostname
    if isinstance(e, socket.gaierror):
        if connect_via == "service":
            return "its Service's name does not resolve (outside the cluster? use connect_via 'apiserver')"
        return f"{host} does not resolve"
    if isinstance(e, TtydRefused):
        if connect_via == "apiserver" and e.code == 403 and apiserver_said(e):  # RBAC, not ttyd behind the proxy
            return "this Jupyter server may not use services/proxy (the Role in docs/administrators.md)"
        return f"HTTP {e.code} {e.reason} from {host}"
    if isinstance(e, asyncio.TimeoutError):
        return f"no answer from {host}"
    if isinstance(e, OSError) and e.errno and not isinstance(e, ssl.SSLError):
        return os.strerror(e.errno)  # asyncio's own words name only the address: "Connect call failed (...)"
    return str(e) or type(e).__name__


def apiserver_said(e: BaseException) -> str:
    """The API server's own words when it refused a request itself (a Kubernetes Status), else ""."""
    body = e.body if isinstance(e, TtydRefused) else b""
    try:
        status = json.loads(body) if body else {}
    except ValueError:
        return ""
    if not (isinstance(status, dict) and status.get("kind") == "Status"):
        return ""
    return str(status.get("message") or "")
