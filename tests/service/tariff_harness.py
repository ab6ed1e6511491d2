"""A site with a capacity tariff on loopback: the TCP meter, emulated chargers, the real Service
with an injected wall clock (the tariff's intervals are on it), telegrams with a chosen import
register."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.meter.p1 import build_telegram
from loadbalancer.tariff.calendar import STOCKHOLM
from tests.service.harness import Box, served_boxes, service_running, write_site

THREE = ["L1", "L2", "L3"]


def local_s(
    year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0, fold: int = 0
) -> float:
    """Seconds since the epoch of a Stockholm wall-clock time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=STOCKHOLM, fold=fold).timestamp()


@dataclass
class WallClock:
    """The service's wall clock, set by the test."""

    t_s: float

    def __call__(self) -> float:
        return self.t_s


def tariff_site_file(
    tmp: Path, meter_url: str, boxes: list[Box], ports: dict[str, int], tariff: dict[str, Any]
) -> tuple[Path, Path]:
    """``tmp/site.yaml`` with ``tariff`` (its ``state_dir`` under ``tmp`` unless given); returns
    it and the decision log's path."""
    section = {"tariff": {"state_dir": str(tmp / "state"), **tariff}}
    return write_site(tmp, meter_url, boxes, ports, sections=section)


@dataclass
class TariffSite:
    meter: MeterServer
    service: Any
    log_path: Path
    wall: WallClock
    messages: list[str]
    boxes: list[Box] = field(default_factory=list)

    async def telegram(self, at_s: float, energy_kwh: float | None, house_a: float = 2.0) -> None:
        """One telegram at wall time ``at_s`` with the import register at ``energy_kwh`` (None:
        without one): the house's ``house_a`` on each phase plus what the cars draw; returns
        once it was taken."""
        self.wall.t_s = at_s
        currents = [house_a] * 3
        for box in self.boxes:
            assert box.emulator is not None
            box.emulator.advance()
            for i, drawn in enumerate(box.emulator.box.phase_currents_a()):
                currents[THREE.index(box.phases[i])] += drawn
        loads = (PhaseLoad(currents[0]), PhaseLoad(currents[1]), PhaseLoad(currents[2]))
        when = datetime.fromtimestamp(at_s, STOCKHOLM).replace(tzinfo=None)
        before = self.service.intake.valid_telegrams
        data = swedish_telegram(when, loads, energy_import_kwh=energy_kwh or 0.0)
        if energy_kwh is None:
            header, *lines = data.decode("latin-1").split("!")[0].split("\r\n")
            kept = [line for line in lines if line and not line.startswith("1-0:1.8.0")]
            data = build_telegram(header.removeprefix("/"), kept)
        await self.meter.send(data)
        async with asyncio.timeout(5):
            while self.service.intake.valid_telegrams == before:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)  # the decision on it

    def records(self, event: str) -> list[dict[str, Any]]:
        return read_records(self.log_path, event)


def read_records(path: Path, event: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            if record["event"] == event:
                out.append(record)
    return out


@contextlib.asynccontextmanager
async def tariff_site(
    tmp: Path,
    tariff: dict[str, Any],
    wall_s: float,
    boxes: list[Box] | None = None,
) -> AsyncIterator[TariffSite]:
    """The real Service with ``tariff`` and its wall clock at ``wall_s``; stopped on the way
    out (exit 0 asserted)."""
    boxes = boxes if boxes is not None else [Box("carport", "alfen-eve", THREE)]
    wall = WallClock(wall_s)
    async with MeterServer() as meter, served_boxes(boxes) as ports:
        site_file, log_path = tariff_site_file(tmp, meter.url, boxes, ports, tariff)
        messages: list[str] = []
        async with service_running(
            site_file, log_path, status=messages.append, wall_clock=wall
        ) as service:
            await meter.wait_for_client()
            yield TariffSite(meter, service, log_path, wall, messages, boxes)
