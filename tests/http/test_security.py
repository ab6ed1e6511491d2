"""Read-only, bounded and, with a token, closed to anyone without it (real server, real
sockets)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.http.helpers import Live, add_http, live_site
from tests.service.harness import Box, served_boxes, service_running, write_site

TOKEN = "s3cret-token-0123456789"
GET_STATUS = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def raw_request(live: Live, request: bytes) -> bytes:
    """``request`` as sent, the reply's status line (the server may close right after)."""
    host, port = live.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_with_a_token_every_endpoint_wants_it(tmp_path: Path) -> None:
    async with live_site(tmp_path, token=TOKEN) as live:
        for path in ("/", "/livez", "/readyz", "/status", "/events", "/metrics", "/history"):
            assert (await live.get(path))[0] == 401, path
            wrong = {"Authorization": "Bearer s3cret-token-0123456788"}
            assert (await live.get(path, headers=wrong))[0] == 401, path
        code, _ = await live.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert code == 200
        # the page: ?token= once, then a cookie (an EventSource cannot send a header)
        async with live.session.get(f"{live.base}/?token={TOKEN}", allow_redirects=False) as reply:
            assert reply.status == 303 and reply.headers["Location"] == "/"
            cookie = reply.cookies["loadbalancer_token"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert (await live.get("/status"))[0] == 200  # the session kept the cookie
        assert (await live.get("/?token=nope"))[0] == 200  # the cookie, not the wrong token


async def test_nothing_changes_anything_and_oversized_requests_are_refused(
    tmp_path: Path,
) -> None:
    async with live_site(tmp_path) as live:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            async with live.session.request(method, f"{live.base}/status", data=b"{}") as reply:
                assert reply.status == 405, method
        big_header = b"X-Big: " + b"a" * 70_000 + b"\r\n"
        line = await raw_request(live, GET_STATUS + big_header + b"\r\n")
        assert line.split()[1] in (b"400", b"431"), line
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 2000) for i in range(40))  # 80 KB
        line = await raw_request(live, GET_STATUS + many + b"\r\n")
        assert line.split()[1] in (b"400", b"431"), line
        body = GET_STATUS + b"Content-Length: 70000\r\n\r\n" + b"x" * 70_000
        assert (await raw_request(live, body)).split()[1] == b"413"
        # and the service still answers
        assert (await live.get("/livez"))[0] == 200


async def test_the_page_runs_only_its_own_script(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live, live.session.get(live.base + "/") as reply:
        page = await reply.text()
        policy = reply.headers["Content-Security-Policy"]
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", policy), policy
    # self-contained: nothing loaded from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script src" not in page and "@import" not in page


async def test_a_client_that_vanishes_mid_request_does_not_matter(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        host, port = live.base.removeprefix("http://").split(":")
        for _ in range(20):
            _reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /status HTTP/1.1\r\nHo")
            writer.close()
        decisions = live.site.service.decisions
        await live.site.telegram((2.0, 2.0, 2.0))
        await live.site.until(lambda: live.site.service.decisions > decisions, 2.0)
        assert (await live.get("/livez"))[0] == 200


async def test_a_port_in_use_is_reported_and_control_goes_on(tmp_path: Path) -> None:
    async with live_site(tmp_path) as first:
        port = first.base.rsplit(":", 1)[1]
        box = Box("other", "alfen-eve", ["L1", "L2", "L3"])
        async with served_boxes([box]) as ports:
            (tmp_path / "b").mkdir()
            site_file, log_path = write_site(tmp_path / "b", first.site.meter.url, [box], ports)
            add_http(site_file, {"listen": f"127.0.0.1:{port}"})
            messages: list[str] = []
            async with service_running(site_file, log_path, status=messages.append) as second:
                await first.site.until(lambda: second.decisions > 0, 5.0)
                await first.site.until(lambda: any("cannot listen" in m for m in messages), 5.0)
                assert any(
                    f"http: cannot listen on http://127.0.0.1:{port}/" in m for m in messages
                )
                await first.site.until(lambda: second.decisions > 2, 5.0)


async def test_without_a_token_a_host_name_is_refused(tmp_path: Path) -> None:
    """A web page whose name was pointed at 127.0.0.1 (DNS rebinding) reads nothing."""
    async with live_site(tmp_path) as live:
        rebound = await raw_request(
            live, b"GET /status HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n"
        )
        assert rebound.split()[1] == b"421"
        for host in (b"127.0.0.1:8080", b"localhost", b"[::1]:8080"):
            line = await raw_request(live, b"GET /livez HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
            assert line.split()[1] == b"200", host
        async with live.session.head(live.base + "/events") as reply:
            assert reply.status == 200  # and returns: no stream for a HEAD


async def test_one_connection_serves_requests_one_after_the_other(tmp_path: Path) -> None:
    """Keep-alive: two requests sent at once on one connection get two replies, in order, and
    a chunked body over 64 KB is refused like a declared one."""
    async with live_site(tmp_path) as live:
        host, port = live.base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 2)
        for _ in range(2):
            assert (await asyncio.wait_for(reader.readline(), 5)).split()[1] == b"200"
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(re.search(rb"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
            assert b'"live":true' in await reader.readexactly(length)
        writer.close()
        chunk = b"%x\r\n%s\r\n" % (10_000, b"c" * 10_000)
        chunked = b"POST /status HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        line = await raw_request(live, chunked + chunk * 7 + b"0\r\n\r\n")
        assert line.split()[1] == b"413"
        assert (await live.get("/livez"))[0] == 200
