"""A whole site on loopback with the HTTP status on: a TCP meter, emulated Modbus chargers, the
real service and its HTTP server on a free port of 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from loadbalancer.meter.emulator import MeterServer
from tests.service.harness import Box, Site, free_port, served_boxes, service_running, write_site

THREE = ["L1", "L2", "L3"]
#: Debian's Chromium (``apt-get install chromium``), headless, for the page's tests and demo
CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def add_http(site_file: Path, http: dict[str, Any]) -> None:
    raw = yaml.safe_load(site_file.read_text())
    raw["http"] = http
    site_file.write_text(yaml.safe_dump(raw))


@dataclass
class Live:
    """The site and the base URL of its HTTP server."""

    site: Site
    base: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.get(self.base + path, **kwargs) as reply:
            if reply.content_type == "application/json":
                return reply.status, await reply.json()
            return reply.status, await reply.text()

    async def status(self) -> dict[str, Any]:
        code, body = await self.get("/status")
        assert code == 200, body
        return dict(body)

    async def settle(self, house: tuple[float, float, float], name: str, target: float) -> None:
        """Telegrams every 0.3 s until the charger's set-point reaches ``target``."""

        async def loop() -> None:
            while self.site.setpoint(name) != target:
                await self.site.telegram(house)
                await asyncio.sleep(0.3)

        await asyncio.wait_for(loop(), 15)


@contextlib.asynccontextmanager
async def live_site(
    tmp: Path,
    boxes: list[Box] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **control: Any,
) -> AsyncIterator[Live]:
    boxes = boxes if boxes is not None else [Box("carport", "alfen-eve", THREE)]
    port = free_port()
    async with MeterServer() as meter, served_boxes(boxes) as ports:
        site_file, log_path = write_site(tmp, meter.url, boxes, ports, **control)
        add_http(site_file, {"listen": f"127.0.0.1:{port}"} | ({"token": token} if token else {}))
        messages: list[str] = []
        async with (
            service_running(site_file, log_path, status=messages.append) as service,
            aiohttp.ClientSession(
                headers=headers, cookie_jar=aiohttp.CookieJar(unsafe=True)
            ) as session,
        ):
            await meter.wait_for_client()
            site = Site(tmp, meter, {b.name: b for b in boxes}, service, log_path, messages)
            live = Live(site, f"http://127.0.0.1:{port}", session)
            await site.until(lambda: any(m.startswith("http: status page") for m in messages))
            yield live
