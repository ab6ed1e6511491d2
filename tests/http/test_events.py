"""``/events``: the status pushed on every decision; a client that disconnects or never reads
costs the control loop nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, cast

import aiohttp

from loadbalancer.http.hub import EVENTS_QUEUED
from tests.http.helpers import Live, live_site


async def next_event(content: aiohttp.StreamReader) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(content.readline(), 5)
        if line.startswith(b"data: "):
            await content.readline()  # the blank line that ends the event
            return dict(json.loads(line[6:]))


def hub_of(live: Live) -> Any:
    (listener,) = live.site.service.decision_listeners
    return cast(Any, listener).__self__


async def test_every_decision_is_pushed(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live, live.session.get(live.base + "/events") as reply:
        assert reply.headers["Content-Type"] == "text/event-stream"
        first = await next_event(reply.content)  # the status now, at once
        assert first["chargers"][0]["name"] == "carport"
        for house in ((2.0, 2.0, 2.0), (7.0, 2.0, 2.0)):
            await live.site.telegram(house)
            while True:
                event = await next_event(reply.content)
                if (
                    event["phases"][0]["meter_a"] is not None
                    and abs(event["phases"][0]["house_a"] - house[0]) < 0.6
                ):
                    break
            assert event["decisions"] > first["decisions"]
        assert event["ready"]


async def test_a_client_that_disconnects_mid_stream_is_forgotten(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        host, port = live.base.removeprefix("http://").split(":")
        hub = hub_of(live)
        for _ in range(5):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"data: "), 5)
            writer.transport.abort()  # gone without a word
        await live.site.until(lambda: not hub.subscribers, 5.0)
        decisions = live.site.service.decisions
        for _ in range(3):
            await live.site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.1)
        assert live.site.service.decisions > decisions
        assert (await live.get("/livez"))[0] == 200


async def test_a_client_that_never_reads_does_not_slow_control(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        host, port = live.base.removeprefix("http://").split(":")
        hub = hub_of(live)
        service = live.site.service
        _reader, writer = await asyncio.open_connection(host, int(port), limit=1024)
        cast(
            asyncio.Transport, writer.transport
        ).pause_reading()  # the client's buffers fill, then the server's
        writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await live.site.until(lambda: bool(hub.subscribers), 2.0)
        # 2000 decisions, each a ~1.5 KB event: megabytes no one takes
        longest_s = 0.0
        for _ in range(2000):
            start = time.perf_counter()
            service.step()
            longest_s = max(longest_s, time.perf_counter() - start)
            await asyncio.sleep(0)
        (queue,) = hub.subscribers
        assert queue.qsize() <= EVENTS_QUEUED
        assert longest_s < 0.05
        # the loop is free: a telegram is decided on at once
        decisions = service.decisions
        await live.site.telegram((2.0, 2.0, 2.0))
        await live.site.until(lambda: service.decisions > decisions, 1.0)
        assert (await live.get("/status"))[0] == 200
        writer.transport.abort()


async def test_a_stop_with_streams_open_still_ends_within_5_s(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        host, port = live.base.removeprefix("http://").split(":")
        streams = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"data: "), 5)
            streams.append(writer)
        started = time.monotonic()
    # the service, the chargers and the meter stopped (exit 0 asserted by the harness)
    assert time.monotonic() - started < 5.0
    for writer in streams:
        writer.close()
