"""The HTTP server inside ``loadbalancer run`` (aiohttp, on the service's own event loop).

Read-only: ``GET``/``HEAD`` only, nothing changes a limit. Each request is its own task; a
handler that fails answers 500 and control goes on; a slow or vanished client only holds its
own task. Headers are bounded (:data:`MAX_HEADERS` fields of at most
:data:`MAX_FIELD_BYTES`: 64 KB in all) and a body over :data:`MAX_BODY_BYTES` is refused. With
a token (required off loopback) every request needs ``Authorization: Bearer <token>`` or the
cookie the page sets after ``/?token=<token>``; without one, the ``Host`` must be an address
(a web page's host name pointed at 127.0.0.1, DNS rebinding, gets nothing).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from loadbalancer.http.hub import StatusHub, to_json
from loadbalancer.http.metrics import exposition, registry_for
from loadbalancer.http.settings import HttpConfig

if TYPE_CHECKING:
    from loadbalancer.service import Service

MAX_BODY_BYTES = 64 * 1024
MAX_FIELD_BYTES = 2048
MAX_HEADERS = 32
#: a listen address that is taken is tried again after this long (control goes on meanwhile)
REBIND_AFTER_S = 60.0
#: an event not taken by the client within this long ends its stream
EVENT_WRITE_TIMEOUT_S = 30.0
#: the server's share of a stop (the service must stop within 5 s)
SHUTDOWN_TIMEOUT_S = 0.5
TOKEN_COOKIE = "loadbalancer_token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


class StatusServer:
    def __init__(self, service: Service, config: HttpConfig) -> None:
        self.service = service
        self.config = config
        self.hub = StatusHub(service, service.status)
        self.registry = registry_for(self.hub)
        self.page, self.policy = page_and_policy()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/", self.index)
        app.router.add_get("/livez", self.livez)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/status", self.status)
        app.router.add_get("/history", self.history)
        app.router.add_get("/events", self.events)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/favicon.ico", self.no_icon)  # browsers ask: no 404 in the console
        return app

    # ---- the guard ------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _json({"error": "read-only: only GET and HEAD"}, 405, Allow="GET, HEAD")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _json({"error": "body too large"}, 413)
        if self.config.token is not None:
            denied = self._check_token(request)
            if denied is not None:
                return denied
        elif not _plain_host(request.host):
            # no token: only addresses, never a name a web page's DNS could point here
            return _json({"error": "use the address (127.0.0.1), not a host name"}, 421)
        response = await handler(request)
        response.headers.update(
            {
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            }
        )
        return response

    def _check_token(self, request: web.Request) -> web.StreamResponse | None:
        token = self.config.token
        assert token is not None
        given = request.headers.get("Authorization", "")
        offered = [
            given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else "",
            request.cookies.get(TOKEN_COOKIE, ""),
        ]
        if any(_same(o, token) for o in offered if o):
            return None
        query = request.query.get("token", "")
        if request.path == "/" and query and _same(query, token):
            # the token leaves the address bar for a cookie
            found = web.Response(status=303, headers={"Location": "/"})
            found.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
            return found
        return _json({"error": "a bearer token is required"}, 401, **{"WWW-Authenticate": "Bearer"})

    # ---- the endpoints --------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=self.page,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": self.policy, "X-Frame-Options": "DENY"},
        )

    async def no_icon(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def livez(self, _request: web.Request) -> web.StreamResponse:
        live = self.hub.snapshot().live
        return _json({"live": live}, 200 if live else 503)

    async def readyz(self, _request: web.Request) -> web.StreamResponse:
        status = self.hub.snapshot()
        body = {"ready": status.ready, "reasons": list(status.not_ready)}
        return _json(body, 200 if status.ready else 503)

    async def status(self, _request: web.Request) -> web.StreamResponse:
        return _json(self.hub.snapshot().to_dict())

    async def history(self, _request: web.Request) -> web.StreamResponse:
        return _json(self.hub.history_json())

    async def metrics(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=exposition(self.registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: the status now, then after every decision."""
        if request.method == "HEAD":
            return web.Response(headers={"Content-Type": "text/event-stream"})
        queue = self.hub.subscribe()
        if queue is None:
            return _json({"error": "too many event streams"}, 503)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        try:
            await response.prepare(request)
            event = self.hub.event()
            while True:
                async with asyncio.timeout(EVENT_WRITE_TIMEOUT_S):
                    await response.write(event)
                event = await queue.get()
        except (ConnectionError, TimeoutError):
            pass  # the client went away or stopped reading: its stream ends here
        finally:
            self.hub.unsubscribe(queue)
        return response


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


def _json(body: object, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        text=to_json(body), status=status, content_type="application/json", headers=headers
    )


async def serve_http(service: Service, config: HttpConfig) -> None:
    """Serve until cancelled (with the service's TaskGroup). An address that cannot be bound is
    reported and tried again every :data:`REBIND_AFTER_S`; control goes on meanwhile."""
    server = StatusServer(service, config)
    service.decision_listeners.append(server.hub.on_decision)
    runner = web.AppRunner(
        server.app(),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        max_field_size=MAX_FIELD_BYTES,
        max_line_size=MAX_FIELD_BYTES,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    try:
        while True:
            site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                service.status(
                    f"http: cannot listen on {config.url}: {exc.strerror or exc}; "
                    f"trying again in {REBIND_AFTER_S:g} s (control goes on)"
                )
                await asyncio.sleep(REBIND_AFTER_S)
                continue
            service.status(f"http: status page on {config.url}")
            await asyncio.Future()  # until cancelled
    finally:
        with contextlib.suppress(ValueError):
            service.decision_listeners.remove(server.hub.on_decision)
        await runner.cleanup()
