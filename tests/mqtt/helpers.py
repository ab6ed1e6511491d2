"""A whole site on loopback with MQTT on: a TCP meter, emulated Modbus chargers, the real
service in this process, its MQTT client pointed at a broker (or a proxy) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadbalancer.backoff import Backoff
from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.meter.emulator import MeterServer
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service
from tests.service.harness import Box, Site, served_boxes, write_site

THREE = ["L1", "L2", "L3"]
BASE = "loadbalancer/site"


def mqtt_section(port: int, **more: Any) -> dict[str, Any]:
    return {"url": f"mqtt://127.0.0.1:{port}", "keepalive_s": 5, **more}


def add_mqtt(site_file: Path, mqtt: dict[str, Any], **more: Any) -> None:
    """The site file with ``mqtt`` as its ``mqtt:`` section (and ``more`` top-level keys)."""
    raw = yaml.safe_load(site_file.read_text())
    raw.update(mqtt=mqtt, **more)
    site_file.write_text(yaml.safe_dump(raw))


@dataclass
class MqttSite:
    site: Site
    site_file: Path

    @property
    def service(self) -> Service:
        return self.site.service

    def lines(self, start: str) -> list[str]:
        return [m for m in self.site.messages if m.startswith(start)]

    async def telegram_decided(self, house: tuple[float, float, float]) -> float:
        """One telegram; the seconds until its decision (a ``decision`` record with trigger
        ``telegram`` and the telegram's currents is written)."""
        before = len(self.site.records("decision"))
        started = time.monotonic()
        sent = await self.site.telegram(house)

        def decided() -> bool:  # not an earlier telegram's decision written late
            new = self.site.records("decision")[before:]
            return any(r["trigger"] == "telegram" and of_currents(r, sent) for r in new)

        await self.site.until(decided, 5.0)
        return time.monotonic() - started


def of_currents(record: dict[str, Any], sent: tuple[float, ...]) -> bool:
    """The decision's meter currents are ``sent`` (as the telegram carries them, to 0.1 A)."""
    meter = record.get("meter_a") or {}
    return all(
        abs((meter.get(phase) or 0.0) - current_a) < 0.11
        for phase, current_a in zip(THREE, sent, strict=True)
    )


@contextlib.asynccontextmanager
async def mqtt_site(
    tmp: Path,
    mqtt: dict[str, Any],
    boxes: list[Box] | None = None,
    *,
    timeout_s: float = 1.0,
    keepalive_s: int | None = None,
    meter_settings: dict[str, Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    tariff: dict[str, Any] | None = None,
    **control: Any,
) -> AsyncIterator[MqttSite]:
    """The site with ``mqtt`` as its ``mqtt:`` section, the service running; short timeouts
    and back-off (``keepalive_s`` below the site file's minimum of 5 s where a test needs a
    stall found fast)."""
    boxes = boxes if boxes is not None else [Box("carport", "alfen-eve", THREE)]
    async with MeterServer() as meter, served_boxes(boxes) as ports:
        site_file, log_path = write_site(
            tmp, meter.url, boxes, ports, meter_settings=meter_settings, **control
        )
        add_mqtt(site_file, mqtt, **({"tariff": tariff} if tariff else {}))
        config = load_site(site_file)
        if keepalive_s is not None:
            from dataclasses import replace

            assert config.mqtt is not None
            config = replace(config, mqtt=replace(config.mqtt, keepalive_s=keepalive_s))
        messages: list[str] = []
        service = Service(
            config,
            log=open_decision_log(str(log_path)),
            notifier=Notifier({}),
            status=messages.append,
            clock=clock,
        )
        assert service.mqtt is not None
        service.mqtt.timeout_s = timeout_s
        service.mqtt.backoff = Backoff(0.05, 0.3)
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        try:
            await meter.wait_for_client()
            site = Site(tmp, meter, {b.name: b for b in boxes}, service, log_path, messages)
            yield MqttSite(site, site_file)
        finally:
            stop.set()
            assert await asyncio.wait_for(runner, 10) == 0
