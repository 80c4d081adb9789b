"""HTTP and WebSocket handlers of the server extension, one per route.

    GET    /cloudtty/api/shells                  list
    POST   /cloudtty/api/shells                  create ({"name"?, "spec"?, "record"?}) -> 201 + Location
    GET    /cloudtty/api/shells/{name}           one shell
    PATCH  /cloudtty/api/shells/{name}           a running shell's new TTL ({"spec": {"ttlSecondsAfterStarted"}})
    DELETE /cloudtty/api/shells/{name}           end and forget it -> 204
    WS     /cloudtty/api/shells/{name}/terminal  the terminal, in ttyd's protocol
    POST   /cloudtty/api/shells/{name}/transfers files to or from the shell through its terminal (NDJSON progress)
    GET    /cloudtty/api/events                  shell changes as Server-Sent Events
    GET    /cloudtty/api/info                    backend, namespace, identity, version, recording
    GET    /cloudtty/api/recordings              recorded sessions (?shell=NAME, ?q=TEXT), newest first
    GET    /cloudtty/api/recordings/{file}       one, as asciicast v2 (application/x-asciicast)
    DELETE /cloudtty/api/recordings/{file}       remove it -> 204

Every route requires Jupyter's authentication and the ``cloudtty`` authorization resource.
"""

from __future__ import annotations

import asyncio
import json
import re
from asyncio import Future
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jupyter_cloudtty.cloudshell.errors import InvalidShell, RequestTooLarge, ShellEnded, ShellError
from jupyter_cloudtty.cloudshell.spec import parse_change_request, parse_create_request, validate_name
from jupyter_cloudtty.server.backends.base import Backend
from jupyter_cloudtty.ttyd import protocol
from jupyter_cloudtty.ttyd.protocol import CloseCode, ProtocolError

from .events import Subscription
from .sessions import Resume, Session, pending
from .transfers import Transfer, TransferRefused, Transfers

AUTH_RESOURCE = "cloudtty"
API_PATH = "cloudtty/api/shells"
EVENTS_PATH = "cloudtty/api/events"
INFO_PATH = "cloudtty/api/info"
RECORDINGS_PATH = "cloudtty/api/recordings"
ASCIICAST = "application/x-asciicast"
NAME = r"(?P<name>[^/]+)"
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch, as RECEIVED (`$` takes a trailing newline)
RECEIVED = re.compile(r"[0-9]{1,18}")  # ASCII digits: str.isdigit() takes '²', which int() refuses
# A request is a few hundred bytes; a CloudShell must fit in etcd's 1.5 MiB anyway.
MAX_BODY_BYTES = 1024 * 1024


class ApiHandler(APIHandler):
    """Answers ``ShellError`` with its status and ``{"message": ...}``, never a traceback."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, backend: Backend) -> None:
        self.backend = backend

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ShellError):
            status_code = error.status
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ShellError):
            self.finish(json.dumps({"message": str(error)}))
        else:
            super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ShellError):
            self.log.info("%s %s: %s", self.request.method, self.request.path, value)
        elif not log_refusal(self, value):
            super().log_exception(typ, value, tb)

    def shell_url(self, name: str) -> str:
        return url_path_join(self.base_url, API_PATH, name)

    def json_body(self) -> Any:
        """The request's JSON (None for an empty body); InvalidShell or RequestTooLarge saying what is wrong."""
        if len(self.request.body) > MAX_BODY_BYTES:
            raise RequestTooLarge(f"body: at most {MAX_BODY_BYTES} bytes, got {len(self.request.body)}")
        if not self.request.body.strip():
            return None
        try:
            return json.loads(self.request.body)
        except ValueError as e:
            raise InvalidShell("body", f"is not valid JSON ({e})") from None
        except RecursionError:  # `[[[[…` is valid JSON, until it is too deep for the parser
            raise InvalidShell("body", "is nested too deeply") from None


def log_refusal(handler: web.RequestHandler, error: Any) -> bool:
    """Log an HTTPError without the query string (tornado's own log line has the URL's ?token=)."""
    if not isinstance(error, web.HTTPError):
        return False
    request = handler.request
    message = (error.log_message % error.args) if error.log_message and error.args else error.log_message
    handler.log.warning("%d %s %s (%s): %s", error.status_code, request.method, request.path, request.remote_ip,
                        message or error.reason or "")  # fmt: skip
    return True


class ShellsHandler(ApiHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        shells = await self.backend.list()
        self.finish(json.dumps([shell.to_json() for shell in sorted(shells, key=lambda s: s.created)]))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        record = None
        if isinstance(body, dict) and "record" in body:  # ours, beside the CloudShell's name and spec
            body = dict(body)
            record = body.pop("record")
            if record is None:
                raise InvalidShell("record", "must be true or false, got null")
        name, spec = parse_create_request(body)
        shell = await self.backend.create(name, spec, record=self.backend.recordings.choose(record))
        self.set_status(201)
        self.set_header("Location", self.shell_url(shell.name))
        self.finish(json.dumps(shell.to_json()))


class ShellHandler(ApiHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        shell = await self.backend.get(validate_name(name))
        self.finish(json.dumps(shell.to_json()))

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        body = self.json_body()
        current = await self.backend.get(validate_name(name))
        if current.ended:
            raise ShellEnded(name)
        shell = await self.backend.set_ttl(name, parse_change_request(body, current.spec))
        self.finish(json.dumps(shell.to_json()))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        await self.backend.delete(validate_name(name))
        self.set_status(204)
        self.finish()


class EventsHandler(ApiHandler):
    """Server-Sent Events: a ``snapshot`` (the list), then a ``shell`` event per change.

    ``data`` of a ``shell`` event is ``{"type": "ADDED"|"MODIFIED"|"DELETED", "shell": {...}}``.
    Clients apply ADDED and MODIFIED as upserts. A comment line every ``ping_interval``
    seconds keeps proxies from closing an idle stream.
    """

    ping_interval = 25.0
    _subscription: Subscription | None = None

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx (and ingress-nginx): do not hold it back
        # Subscribe before listing, so no change falls between the snapshot and the stream.
        subscription = self._subscription = self.backend.events.subscribe()
        try:
            shells = sorted(await self.backend.list(), key=lambda shell: shell.created)
            self._event("snapshot", [shell.to_json() for shell in shells])
            await self.flush()
            while not subscription.closed:
                batch = await subscription.next_batch(timeout=self.ping_interval)
                for kind, shell in batch:
                    self._event("shell", {"type": kind, "shell": shell})
                if not batch:
                    self.write(": ping\n\n")
                await self.flush()  # a slow reader slows us; its pending changes coalesce
        except StreamClosedError:
            pass
        finally:
            subscription.close()

    def _event(self, event: str, data: Any) -> None:
        self.write(f"event: {event}\ndata: {json.dumps(data)}\n\n")

    def on_connection_close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()


class RecordingsHandler(ApiHandler):
    """The list of recordings, ``?shell=`` one shell's, ``?q=`` those whose text holds it (with the lines)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        recordings = self.backend.recordings
        shell, q = self.get_query_argument("shell", None), self.get_query_argument("q", None)
        found = await asyncio.to_thread(recordings.list, shell, q or None)  # reads files: off the loop
        self.finish(json.dumps({"recordings": found, "dir": recordings.shown_dir}))


class RecordingHandler(ApiHandler):
    """One recording: its bytes, or its deletion."""

    @web.authenticated
    @authorized
    async def get(self, file: str) -> None:
        with self.backend.recordings.open(file) as f:
            self.set_header("Content-Type", ASCIICAST)
            self.set_header("Content-Disposition", f'inline; filename="{file}"')
            try:
                while chunk := f.read(256 * 1024):
                    self.write(chunk)
                    await self.flush()  # a long recording is not held whole in memory
            except StreamClosedError:
                return  # the client went away
        self.finish(set_content_type=ASCIICAST)

    @web.authenticated
    @authorized
    async def delete(self, file: str) -> None:
        self.backend.recordings.delete(file)
        self.set_status(204)
        self.finish()


class InfoHandler(ApiHandler):
    def initialize(self, backend: Backend, info: Callable[[], dict[str, Any]]) -> None:  # type: ignore[override]
        super().initialize(backend)
        self.info = info

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps(self.info()))


class TransfersHandler(ApiHandler):
    """``POST /cloudtty/api/shells/{name}/transfers``: files through the shell's terminal (server/transfers.py).

    Checked before anything starts (a 4xx names the field). The status is sent with the first line, once
    the shell's trz/tsz has answered, so "not installed" and "not at a prompt" are 4xx too; then NDJSON
    lines: ``start``, ``progress`` (at most 5 a second), and ``done`` or ``error``. Closing the request
    cancels the transfer.
    """

    def initialize(self, backend: Backend, transfers: Transfers) -> None:  # type: ignore[override]
        super().initialize(backend)
        self.transfers = transfers
        self._transfer: Transfer | None = None

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        plan = self.transfers.plan(self.json_body())
        shell = await self.backend.get(validate_name(name))
        if shell.ended:
            raise ShellEnded(name)
        session = await self.backend.open(name)
        await session.open(None)
        if session.ended is not None:
            raise TransferRefused(f"the shell's terminal cannot be opened: {session.ended[1]}", 409)
        self._transfer = self.transfers.transfer(session, plan, self._line)
        try:
            result = await self.transfers.run(self._transfer)
        except TransferRefused as e:
            if not self._headers_written:
                raise
            self._line({"event": "error", "status": e.status, "message": str(e)})
        else:
            self._line(result)
        if self.request.connection is not None and not self._finished:
            self.finish()

    def _line(self, event: dict[str, Any]) -> None:
        if self.request.connection is None or self._finished:
            return
        if not self._headers_written:
            self.set_header("Content-Type", "application/x-ndjson")
            self.set_header("Cache-Control", "no-cache")
        self.write(json.dumps(event) + "\n")
        self.flush()  # not awaited: a progress line is small, and a slow reader only delays the next

    def on_connection_close(self) -> None:
        if self._transfer is not None:
            self._transfer.cancel()  # trz/tsz is told to delete what it began; a download's staging goes


ACTIVITY = "cloudtty_last_activity"  # in the server's settings


class TerminalHandler(WebSocketMixin, JupyterHandler, WebSocketHandler):
    """A browser's terminal: ttyd's protocol in, a shared session behind it."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, backend: Backend, handshake_timeout: float, transfers: Transfers) -> None:
        self.backend = backend
        self.handshake_timeout = handshake_timeout
        self.transfers = transfers
        self.downloads = "jupyter"  # where a `tsz` typed here saves (the handshake's "downloads")
        self.session: Session | None = None
        self._resume: Resume | None = None
        self._attached = False
        self._handshake_timer: object | None = None

    async def get(self, name: str) -> None:
        # Authenticate and authorize before upgrading; Origin is checked by tornado's
        # call to check_origin (WebSocketMixin applies the server's allow_origin rules).
        user = self.current_user
        if not user:
            raise web.HTTPError(403, "not authenticated")
        if not await ensure_async(self.authorizer.is_authorized(self, user, "execute", AUTH_RESOURCE)):
            raise web.HTTPError(403, "not authorized to use cloud shells")
        self._resume = self._resume_argument()
        try:
            self.session = await self.backend.open(validate_name(name))
        except ShellError as e:
            raise web.HTTPError(e.status, "%s", str(e)) from None
        if self.session.watch is None:
            self.session.watch = self.transfers.watch  # a `tsz` typed in it can save into the Jupyter root
        await super().get(name)

    def _resume_argument(self) -> Resume | None:
        """``?client=<id>&received=<output bytes>``: a client resuming after a drop."""
        client, received = self.get_query_argument("client", None), self.get_query_argument("received", "0")
        if client is None:
            return None
        if not CLIENT_ID.fullmatch(client):
            raise web.HTTPError(400, "client: 1 to 64 letters, digits, '-' or '_'")
        if not RECEIVED.fullmatch(received):
            raise web.HTTPError(400, "received: a count of output bytes")
        return client, int(received)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not log_refusal(self, value):
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # A refused upgrade says why as the REST API does, {"message": ...}, not with an HTML page.
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = self._reason
        if isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def skip_check_origin(self) -> bool:
        # jupyter_server waives the Origin check for token-authenticated requests. Not for
        # a shell: a token leaked into a foreign page must not open one. The server's
        # allow_origin / allow_origin_pat still apply; clients sending no Origin pass.
        return False

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return protocol.SUBPROTOCOL if protocol.SUBPROTOCOL in subprotocols else None

    def open(self, name: str) -> None:  # type: ignore[override]
        super().open()  # keep-alive pings
        self.set_nodelay(True)  # a keystroke is one small frame: never wait for Nagle
        self._handshake_timer = IOLoop.current().call_later(self.handshake_timeout, self._fail, "no handshake received")

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        # Returning an awaitable makes tornado wait before reading the next frame: input is
        # backpressured by the PTY, not queued here. Input the stream took at once returns None:
        # tornado then reads on without a task per keystroke.
        if isinstance(message, str):
            message = message.encode()
        if not message or self.session is None:
            return None
        self._active()
        command = message[0]
        if not self._attached:
            if command != protocol.HANDSHAKE:
                self._fail("expected the JSON handshake first")
                return None
            try:
                handshake = protocol.parse_handshake(message)
            except ProtocolError as e:
                self._fail(str(e))
                return None
            self.downloads = handshake.downloads
            return self._attach(handshake.size)
        if command == protocol.INPUT:
            return pending(self.session.write(self, message[1:]))
        if command == protocol.RESIZE_TERMINAL:
            size = protocol.parse_resize(message[1:])
            if size:
                return self.session.resize(self, *size)  # backpressured like input
        elif command == protocol.PAUSE:
            self.session.pause(self)
        elif command == protocol.RESUME:
            self.session.resume(self)
        # Anything else (a second handshake, unknown commands) is ignored, as ttyd does.
        return None

    async def _attach(self, size: tuple[int, int] | None) -> None:
        assert self.session is not None
        if self._handshake_timer is not None:
            IOLoop.current().remove_timeout(self._handshake_timer)
        self._attached = True
        session = self.session
        await session.open(size)  # the first client starts the process at its size, if it has not started
        replay = session.attach(self, size, self._resume)
        if self.ws_connection is None or self.ws_connection.is_closing():
            session.detach(self)  # left while the process started (a `once` shell ends)
            return
        # ttyd's order: title, preferences, then output (here: the scrollback, then live).
        # All are queued in this same tick as attach(), so no live output can overtake.
        writes = [
            self.write_message(protocol.encode_title(session.title), binary=True),
            self.write_message(protocol.encode_preferences(session.preferences), binary=True),
        ]
        if replay:
            writes.append(self.write_message(protocol.OUTPUT_PREFIX + replay, binary=True))
        if session.ended:
            self.end(*session.ended)
        try:
            for write in writes:
                await write
        except WebSocketClosedError:
            pass

    def _fail(self, reason: str) -> None:
        self.log.info("closing terminal %s: %s", self.request.path, reason)
        self.close(CloseCode.PROTOCOL_ERROR, protocol.close_reason(reason))

    # --- the session's view of this client ------------------------------------------

    def send_output(self, data: bytes) -> Awaitable[None] | None:
        # The frame goes to the socket now, as far as the socket takes it; the session need not wait
        # when nothing is left to write (the usual case): it reads on at once.
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return None  # on_close detaches us
        frame = protocol.OUTPUT_PREFIX + data
        if getattr(connection, "_compressor", True) is None and hasattr(connection, "_write_frame"):
            # tornado's write_message wraps each frame's write in a new task only to turn one exception
            # into another; that task and its callbacks cost the loop two more turns per output, on the
            # CPU the browser's echo waits for (15-20 µs a keystroke, bench/relay.py). Its frame writer
            # (tornado >= 4.0) writes the same frame; a compressing connection keeps write_message.
            try:
                written = connection._write_frame(True, 0x2, frame)
            except StreamClosedError:
                return None
        else:
            try:
                written = self.write_message(frame, binary=True)
            except WebSocketClosedError:
                return None
            written.add_done_callback(_closed_is_fine)
        self._active()
        if not connection.stream.writing():
            return None
        return _written(written)

    def _active(self) -> None:
        # The server's activity, as JupyterLab's own terminals record theirs (any setting named
        # *_last_activity counts in /api/status and in what jupyterhub-singleuser reports): a hub's
        # idle culler must not stop the server of someone who works only in a cloud shell. Input and
        # output count; an idle prompt sends neither (keep-alive pings are not messages).
        self.settings[ACTIVITY] = datetime.now(timezone.utc)

    def end(self, code: int, reason: str) -> None:
        self.close(code, reason)

    def on_close(self) -> None:
        if self._handshake_timer is not None:
            IOLoop.current().remove_timeout(self._handshake_timer)
        if self.session is not None:
            self.session.detach(self)


def _closed_is_fine(written: Future[None]) -> None:
    if not written.cancelled():
        written.exception()  # a WebSocketClosedError: on_close detaches the client


async def _written(written: Future[None]) -> None:
    try:
        await written
    except (WebSocketClosedError, StreamClosedError):
        pass


def handlers(
    backend: Backend, handshake_timeout: float, info: Callable[[], dict[str, Any]], transfers: Transfers
) -> list[tuple[str, type, dict[str, Any]]]:
    """Routes relative to the server's base URL (the ExtensionApp prefixes it)."""
    return [
        (EVENTS_PATH, EventsHandler, {"backend": backend}),
        (INFO_PATH, InfoHandler, {"backend": backend, "info": info}),
        (RECORDINGS_PATH, RecordingsHandler, {"backend": backend}),
        (f"{RECORDINGS_PATH}/(?P<file>[^/]+)", RecordingHandler, {"backend": backend}),
        (API_PATH, ShellsHandler, {"backend": backend}),
        (f"{API_PATH}/{NAME}", ShellHandler, {"backend": backend}),
        (
            f"{API_PATH}/{NAME}/terminal",
            TerminalHandler,
            {"backend": backend, "handshake_timeout": handshake_timeout, "transfers": transfers},
        ),
        (f"{API_PATH}/{NAME}/transfers", TransfersHandler, {"backend": backend, "transfers": transfers}),
    ]
