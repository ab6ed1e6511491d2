"""A site with OCPP charge points on loopback: a TCP meter, the real service with its central
system (port 0), and emulated charge points (real WebSocket clients) that connect to it.

The meter's currents are the house load plus what the emulated cars draw, so the loop is
closed as on a real site.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from loadbalancer.electric import PHASES
from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.ocpp.emulator import EmulatedChargePoint
from loadbalancer.service import Service
from tests.service.harness import Box, served_boxes, service_running, site_yaml

PASSWORD = b"0123456789abcdef0123"


@dataclass
class Point:
    """One OCPP charger of the site and its emulated box."""

    name: str
    profile: str
    phases: list[str]
    box: EmulatedChargePoint
    max_current_a: float = 16.0
    connector: int = 1  # the box's outlet this charger is
    #: more keys of its site entry (e.g. issue 19's ``phase_switching``)
    site_keys: dict[str, Any] = field(default_factory=dict)


@dataclass
class OcppSite:
    meter: MeterServer
    points: dict[str, Point]
    service: Service
    log_path: Path
    messages: list[str]
    url: str
    meter_time: datetime = datetime(2026, 1, 14, 18, 0, 0)
    energy_kwh: float = 5000.0
    modbus: list[Box] = field(default_factory=list)  # Modbus boxes on the same site

    def box(self, name: str) -> EmulatedChargePoint:
        return self.points[name].box

    async def telegram(self, house_a: tuple[float, float, float]) -> tuple[float, ...]:
        total = list(house_a)
        for point in self.points.values():
            drawn = point.box.connectors[point.connector].phase_currents_a()
            for i, current in enumerate(drawn):
                total[PHASES.index(point.phases[i])] += current
        for box in self.modbus:
            assert box.emulator is not None
            box.emulator.advance()
            for i, current in enumerate(box.emulator.box.phase_currents_a()):
                total[PHASES.index(box.phases[i])] += current
        currents = tuple(round(x, 1) for x in total)
        self.meter_time += timedelta(seconds=1)
        self.energy_kwh += 0.01
        loads = (PhaseLoad(currents[0]), PhaseLoad(currents[1]), PhaseLoad(currents[2]))
        await self.meter.send(
            swedish_telegram(self.meter_time, loads, energy_import_kwh=self.energy_kwh)
        )
        return currents

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        out = [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
        return [r for r in out if event is None or r["event"] == event]

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
        start = time.monotonic()
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - the emulated state has no event
                await asyncio.sleep(0.01)
        return time.monotonic() - start

    async def ticks(
        self, house_a: tuple[float, float, float], condition: Callable[[], bool], timeout_s: float
    ) -> None:
        """Telegrams and MeterValues every 0.2 s until ``condition()`` holds."""

        async def loop() -> None:
            while not condition():
                for box in boxes_of(list(self.points.values())):
                    await box.send_meter_values()
                await self.telegram(house_a)
                await asyncio.sleep(0.2)

        await asyncio.wait_for(loop(), timeout_s)


def ocpp_site_yaml(
    meter_url: str, points: list[Point], log: Path, tmp: Path, **control: Any
) -> dict[str, Any]:
    (tmp / "ocpp.pw").write_bytes(PASSWORD + b"\n")
    (tmp / "ocpp.pw").chmod(0o600)
    settings: dict[str, Any] = {
        "safe_current_a": 6,
        "ramp_up_delay_s": 2,
        "resume_delay_s": 3,
        "poll_interval_s": 0.2,
    }
    settings.update(control)
    return {
        "meter": {
            "source": meter_url,
            "protocol": "p1",
            "telegram_period_s": 1,
            "stale_after_s": 3,
        },
        "fuse": "3x20A-gG",
        "chargers": [
            {
                "name": p.name,
                "protocol": "ocpp",
                "charge_point_id": p.box.cp_id,
                "profile": p.profile,
                "phases": p.phases,
                "max_current_a": p.max_current_a,
                "connector_id": p.connector,
                **p.site_keys,
            }
            for p in points
        ],
        "ocpp": {"listen": "127.0.0.1:0", "auth": "basic", "password_file": "ocpp.pw"},
        "control": settings,
        "log": {"decisions": str(log)},
    }


@contextlib.asynccontextmanager
async def ocpp_site(
    tmp: Path,
    points: list[Point],
    *,
    connect: bool = True,
    ocpp_timeout_s: float = 2.0,
    modbus: list[Box] | None = None,
    **control: Any,
) -> AsyncIterator[OcppSite]:
    """The meter, the service with its central system, and the boxes connected (unless
    ``connect=False``) and reporting; ``modbus``: emulated Modbus boxes on the same site."""
    log_path = tmp / "decisions.jsonl"
    modbus = modbus or []
    async with (
        contextlib.AsyncExitStack() as boxes,
        MeterServer() as meter,
        served_boxes(modbus) as ports,
    ):
        for box in boxes_of(points):  # closed last: the service's stop still reaches them
            boxes.push_async_callback(box.close)
        raw = ocpp_site_yaml(meter.url, points, log_path, tmp, **control)
        raw["chargers"] += site_yaml(meter.url, modbus, ports, log_path)["chargers"]
        site_file = tmp / "site.yaml"
        site_file.write_text(yaml.safe_dump(raw))
        messages: list[str] = []
        async with service_running(
            site_file, log_path, status=messages.append, ocpp_timeout_s=ocpp_timeout_s
        ) as service:
            central = service.central
            assert central is not None
            async with asyncio.timeout(5):
                while central.server is None:  # noqa: ASYNC110 - started by the run task
                    await asyncio.sleep(0.01)
            await meter.wait_for_client()
            url = f"ws://127.0.0.1:{central.port}/ocpp"
            site = OcppSite(meter, {p.name: p for p in points}, service, log_path, messages, url)
            site.modbus = modbus
            if connect:
                for box in boxes_of(points):
                    await box.connect(url)
            yield site


def boxes_of(points: list[Point]) -> list[EmulatedChargePoint]:
    """Each box once (two connectors of one box are two points)."""
    return list({id(p.box): p.box for p in points}.values())


def point(name: str, profile: str = "generic-ocpp", **box: Any) -> Point:
    """A three-phase charger on L1-L3 with its emulated box (``box``: its options)."""
    box.setdefault("password", PASSWORD)
    return Point(name, profile, ["L1", "L2", "L3"], EmulatedChargePoint(f"CP-{name}", **box))


REPO = Path(__file__).resolve().parents[2]


def profile_file(tmp: Path, name: str, base: str = "generic-ocpp", **sections: Any) -> str:
    """A profile beside the site file: the bundled ``base`` with ``sections`` merged in (e.g.
    ``writes={"min_interval_s": 0}``); returns its file name."""
    data = yaml.safe_load((REPO / "profiles" / "ocpp" / f"{base}.yaml").read_text())
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    data["name"] = name
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return f"{name}.yaml"


def fast(tmp: Path, **sections: Any) -> str:
    """generic-ocpp without a minimum write interval and a verification time of 2 s."""
    writes = {"min_interval_s": 0, "verify_s": 2, **sections.pop("writes", {})}
    return profile_file(tmp, "fast", writes=writes, **sections)
