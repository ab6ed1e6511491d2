"""The HTTP server inside ``loadbalancer run``: asyncio streams on the service's own event loop,
HTTP/1.1 parsing and framing by h11 (a pure-Python state machine: no threads, no C code).

Read-only: ``GET``/``HEAD`` only, nothing changes a limit. Each connection is its own task; a
handler that fails answers 500 and control goes on; a slow or vanished client only holds its
own task. A request's head is bounded (:data:`MAX_HEAD_BYTES`, 64 KB: more is refused with
431) and a body over :data:`MAX_BODY_BYTES` is refused (413). With a token (required off
loopback) every request needs ``Authorization: Bearer <token>`` or the cookie the page sets
after ``/?token=<token>``; without one, the ``Host`` must be an address (a web page's host name
pointed at 127.0.0.1, DNS rebinding, gets nothing).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import h11

from loadbalancer.http.hub import StatusHub, status_json, to_json
from loadbalancer.http.metrics import exposition, registry_for
from loadbalancer.http.settings import HttpConfig

if TYPE_CHECKING:
    from loadbalancer.service import Service

#: a request's line and headers together; a body
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024
#: bytes asked of the socket at a time
READ_BYTES = 16 * 1024
#: a connection with no complete request within this long is closed
IDLE_TIMEOUT_S = 60.0
#: how long a refused request's rest is read and dropped before the connection closes
LINGER_S = 1.0
#: a listen address that is taken is tried again after this long (control goes on meanwhile)
REBIND_AFTER_S = 60.0
#: an event (or a reply) not taken by the client within this long ends its connection
EVENT_WRITE_TIMEOUT_S = 30.0
#: the server's share of a stop (the service must stop within 5 s)
SHUTDOWN_TIMEOUT_S = 0.5
TOKEN_COOKIE = "loadbalancer_token"
#: on every reply
COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
JSON = "application/json; charset=utf-8"

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Request:
    """What the handlers need of an h11 request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    @classmethod
    def of(cls, event: h11.Request) -> Request:
        target = urlsplit(event.target.decode("latin-1"))
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            if key in headers:  # a field repeated: one value (cookies are joined with ";")
                text = f"{headers[key]}{'; ' if key == 'cookie' else ', '}{text}"
            headers[key] = text
        return cls(event.method.decode("latin-1"), target.path, parse_qs(target.query), headers)

    def cookie(self, name: str) -> str:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return ""
        morsel = jar.get(name)
        return "" if morsel is None else morsel.value


def page_and_policy() -> tuple[bytes, str]:
    """The live page and its Content-Security-Policy: its own inline script and style, by hash,
    and nothing from anywhere else."""
    page = resources.files("loadbalancer.http").joinpath("page.html").read_text("utf-8")

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in found
        )

    policy = (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return page.encode(), policy


class RequestTooLarge(Exception):
    """A body over :data:`MAX_BODY_BYTES`."""


class StatusServer:
    def __init__(self, service: Service, config: HttpConfig) -> None:
        self.service = service
        self.config = config
        self.hub = StatusHub(service, service.status)
        self.registry = registry_for(self.hub)
        self.page, self.policy = page_and_policy()
        self.routes: dict[str, Callable[[], Reply]] = {
            "/": self.index,
            "/livez": self.livez,
            "/readyz": self.readyz,
            "/status": self.status,
            "/history": self.history,
            "/metrics": self.metrics,
            "/favicon.ico": lambda: Reply(204),  # browsers ask: no 404 in the console
        }
        self.connections: set[asyncio.Task[None]] = set()
        self._failed = False

    # ---- a connection: h11 events in, bytes out --------------------------------------------

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Requests one after the other (keep-alive) until the client closes, a reply says
        close, or a stream ends."""
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        clean = False
        try:
            while (event := await self._next(conn, reader)) is not None:
                if not await self._exchange(conn, reader, writer, event):
                    break
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
            clean = True
        except h11.RemoteProtocolError as exc:  # a malformed or oversized request
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                hint = exc.error_status_hint
                error = "request head too large" if hint == 431 else "bad request"
                with contextlib.suppress(ConnectionError, TimeoutError):
                    await self._send(conn, writer, "GET", _json({"error": error}, hint))
                    await _linger(reader, writer)
                    clean = True
        except (ConnectionError, TimeoutError):
            pass  # the client went away, stopped reading or sent nothing more
        except asyncio.CancelledError:
            pass  # the server stops (the connection's task is asyncio's own: it ends quietly)
        finally:
            self.connections.discard(task)
            if clean:
                writer.close()  # after what is buffered
            else:
                writer.transport.abort()

    async def _next(self, conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Event | None:
        """The next event of the request (None: the client closed)."""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    conn.receive_data(await reader.read(READ_BYTES))
            elif isinstance(event, h11.Event) and not isinstance(event, h11.ConnectionClosed):
                return event
            else:  # closed, or PAUSED (h11's word for a request not taken: never here)
                return None

    async def _body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> None:
        """Read and drop a request's body (nothing here takes one), bounded."""
        got = 0
        while not isinstance(event := await self._next(conn, reader), h11.EndOfMessage):
            if event is None:
                raise ConnectionResetError("closed in the body")
            if isinstance(event, h11.Data):
                got += len(event.data)
                if got > MAX_BODY_BYTES:
                    raise RequestTooLarge

    async def _exchange(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        event: h11.Event,
    ) -> bool:
        """Answer one request; False: the connection ends."""
        assert isinstance(event, h11.Request)
        request = Request.of(event)
        if _head_bytes(event) > MAX_HEAD_BYTES:  # it came whole, so h11 did not bound it
            error = _json({"error": "request head too large"}, 431)
            await self._send(conn, writer, request.method, error)
            await _linger(reader, writer)
            return False
        try:
            length = int(request.headers.get("content-length", "0"))
            if length > MAX_BODY_BYTES:
                raise RequestTooLarge
            if conn.they_are_waiting_for_100_continue:
                writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            await self._body(conn, reader)
        except RequestTooLarge:
            await self._send(conn, writer, request.method, _json({"error": "body too large"}, 413))
            await _linger(reader, writer)
            return False
        if request.path == "/events" and request.method == "GET":
            denied = self.guard(request)
            if denied is not None:
                await self._send(conn, writer, request.method, denied)
                return True
            await self.events(conn, writer)
            return False
        await self._send(conn, writer, request.method, self.answer(request))
        return True

    async def _send(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, method: str, reply: Reply
    ) -> None:
        headers = [*reply.headers, *COMMON_HEADERS]
        if reply.content_type is not None:
            headers.append(("Content-Type", reply.content_type))
        if reply.status != 204:
            headers.append(("Content-Length", str(len(reply.body))))
        response = h11.Response(
            status_code=reply.status, headers=headers, reason=HTTPStatus(reply.status).phrase
        )
        out = conn.send(response)
        if reply.body and method != "HEAD" and reply.status != 204:
            out += conn.send(h11.Data(data=reply.body))
        out += conn.send(h11.EndOfMessage())
        writer.write(out)
        async with asyncio.timeout(EVENT_WRITE_TIMEOUT_S):
            await writer.drain()

    # ---- the guard ------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        """The reply to any request but an event stream's."""
        denied = self.guard(request)
        if denied is not None:
            return denied
        if request.path == "/events":  # a HEAD: no stream
            return Reply(200, content_type="text/event-stream")
        route = self.routes.get(request.path)
        if route is None:
            return _json({"error": "not found"}, 404)
        try:
            return route()
        except Exception as exc:  # a bug in a handler: this request fails, control goes on
            if not self._failed:
                self._failed = True
                self.service.status(f"http: {request.path} failed ({exc!r}); control goes on")
            return _json({"error": "internal error"}, 500)

    def guard(self, request: Request) -> Reply | None:
        """Why this request gets nothing (None: it may go on)."""
        if request.method not in ("GET", "HEAD"):
            return _json({"error": "read-only: only GET and HEAD"}, 405, Allow="GET, HEAD")
        if self.config.token is not None:
            return self._check_token(request)
        if not _plain_host(request.headers.get("host", "")):
            # no token: only addresses, never a name a web page's DNS could point here
            return _json({"error": "use the address (127.0.0.1), not a host name"}, 421)
        return None

    def _check_token(self, request: Request) -> Reply | None:
        token = self.config.token
        assert token is not None
        given = request.headers.get("authorization", "")
        offered = [
            given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else "",
            request.cookie(TOKEN_COOKIE),
        ]
        if any(_same(o, token) for o in offered if o):
            return None
        query = request.query.get("token", [""])[0]
        if request.path == "/" and query and _same(query, token):
            # the token leaves the address bar for a cookie
            jar: SimpleCookie = SimpleCookie()
            jar[TOKEN_COOKIE] = token
            jar[TOKEN_COOKIE].update({"httponly": "yes", "samesite": "Strict", "path": "/"})
            cookie = jar[TOKEN_COOKIE].OutputString()
            return Reply(303, headers=[("Location", "/"), ("Set-Cookie", cookie)])
        return _json({"error": "a bearer token is required"}, 401, **{"WWW-Authenticate": "Bearer"})

    # ---- the endpoints --------------------------------------------------------------------

    def index(self) -> Reply:
        return Reply(
            200,
            self.page,
            "text/html; charset=utf-8",
            [("Content-Security-Policy", self.policy), ("X-Frame-Options", "DENY")],
        )

    def livez(self) -> Reply:
        live = self.hub.snapshot().live
        return _json({"live": live}, 200 if live else 503)

    def readyz(self) -> Reply:
        status = self.hub.snapshot()
        body = {"ready": status.ready, "reasons": list(status.not_ready)}
        return _json(body, 200 if status.ready else 503)

    def status(self) -> Reply:
        return Reply(200, status_json(self.hub.snapshot()), JSON)

    def history(self) -> Reply:
        return _json(self.hub.history_json())

    def metrics(self) -> Reply:
        return Reply(200, exposition(self.registry), "text/plain; version=0.0.4; charset=utf-8")

    async def events(self, conn: h11.Connection, writer: asyncio.StreamWriter) -> None:
        """Server-Sent Events: the status now, then after every decision (chunked, or until
        the connection closes for an HTTP/1.0 client). Ends the connection when it ends."""
        queue = self.hub.subscribe()
        if queue is None:
            await self._send(conn, writer, "GET", _json({"error": "too many event streams"}, 503))
            return
        try:
            headers = [("Content-Type", "text/event-stream"), *COMMON_HEADERS]
            writer.write(conn.send(h11.Response(status_code=200, headers=headers, reason="OK")))
            event = self.hub.event()
            while True:
                writer.write(conn.send(h11.Data(data=event)))
                async with asyncio.timeout(EVENT_WRITE_TIMEOUT_S):
                    await writer.drain()
                event = await queue.get()
        finally:
            self.hub.unsubscribe(queue)


def _same(given: str, token: str) -> bool:
    """In constant time (whatever bytes a client sent)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def _plain_host(host: str) -> bool:
    """``Host`` is an IP address or localhost (with any port)."""
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.split(":")[0]
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _head_bytes(event: h11.Request) -> int:
    """About the size of the request's line and headers as sent."""
    return len(event.target) + sum(len(name) + len(value) + 4 for name, value in event.headers)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After a reply that ends a request the client is still sending: no more from us, and what
    it still sends is read and dropped for a moment (closing on unread data would reset the
    connection, and the client could lose the reply)."""
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_S):
            while await reader.read(READ_BYTES):
                pass


def _json(body: object, status: int = 200, **headers: str) -> Reply:
    return Reply(status, to_json(body).encode(), JSON, list(headers.items()))


async def serve_http(service: Service, config: HttpConfig) -> None:
    """Serve until cancelled (with the service's TaskGroup). An address that cannot be bound is
    reported and tried again every :data:`REBIND_AFTER_S`; control goes on meanwhile."""
    server = StatusServer(service, config)
    service.decision_listeners.append(server.hub.on_decision)
    listening: asyncio.Server | None = None
    try:
        while listening is None:
            try:
                listening = await asyncio.start_server(
                    server.connection, config.host, config.port, reuse_address=True
                )
            except OSError as exc:
                service.status(
                    f"http: cannot listen on {config.url}: {exc.strerror or exc}; "
                    f"trying again in {REBIND_AFTER_S:g} s (control goes on)"
                )
                await asyncio.sleep(REBIND_AFTER_S)
        service.status(f"http: status page on {config.url}")
        await asyncio.Future()  # until cancelled
    finally:
        with contextlib.suppress(ValueError):
            service.decision_listeners.remove(server.hub.on_decision)
        if listening is not None:
            listening.close()
        for task in server.connections:
            task.cancel()
        if server.connections:
            await asyncio.wait(server.connections, timeout=SHUTDOWN_TIMEOUT_S)
