"""A whole site on loopback: a TCP meter, emulated Modbus chargers, the real service.

The meter's currents are the house load plus what the emulated cars draw, mapped to grid
phases, so the loop is closed the way it is on a real site.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from loadbalancer.charger_open import modbus_charger
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.profile import load_profile
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import ModbusChargerConfig, load_site
from loadbalancer.electric import PHASES
from loadbalancer.link import ChargerLink, LinkContext
from loadbalancer.logwriter import open_decision_log
from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Box:
    name: str
    profile: str
    phases: list[str]
    max_current_a: float = 16.0
    car: SimulatedCar = field(default_factory=lambda: SimulatedCar(delay_s=0.1, shortfall_a=0.2))
    priority: int = 1
    emulator: ChargerEmulator | None = None


@dataclass
class Site:
    tmp: Path
    meter: MeterServer
    boxes: dict[str, Box]
    service: Service
    log_path: Path
    messages: list[str]
    energy_kwh: float = 5000.0
    meter_time: datetime = datetime(2026, 1, 14, 18, 0, 0)

    def box(self, name: str) -> ChargerEmulator:
        emulator = self.boxes[name].emulator
        assert emulator is not None
        return emulator

    def grid_currents(self, house_a: tuple[float, float, float]) -> tuple[float, ...]:
        total = list(house_a)
        for box in self.boxes.values():
            assert box.emulator is not None
            box.emulator.advance()
            drawn = box.emulator.box.phase_currents_a()
            for i, phase in enumerate(box.phases):
                total[PHASES.index(phase)] += drawn[i]
        return tuple(round(x, 1) for x in total)

    async def telegram(self, house_a: tuple[float, float, float]) -> tuple[float, ...]:
        """Send one telegram: the house load plus what the cars draw now."""
        currents = self.grid_currents(house_a)
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
        lines = self.log_path.read_text().splitlines()
        out = [json.loads(line) for line in lines if line.strip()]
        return [r for r in out if event is None or r["event"] == event]

    def decisions_for(self, name: str) -> list[dict[str, Any]]:
        return [
            next(c for c in r["chargers"] if c["name"] == name) for r in self.records("decision")
        ]

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
        """Wait (polling) until ``condition()`` holds; returns the seconds it took."""
        start = time.monotonic()
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - emulator state has no event to wait on
                await asyncio.sleep(0.01)
        return time.monotonic() - start

    def setpoint(self, name: str) -> float:
        return self.box(name).box.setpoint_a


def site_yaml(
    meter_url: str,
    boxes: list[Box],
    ports: dict[str, int],
    log: Path,
    protocol: str = "p1",
    fuse: str = "3x20A-gG",
    **control: Any,
) -> dict[str, Any]:
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
            "protocol": protocol,
            "telegram_period_s": 1,
            "stale_after_s": 3,
        },
        "fuse": fuse,
        "chargers": [
            {
                "name": b.name,
                "profile": b.profile,
                "host": "127.0.0.1",
                "port": ports[b.name],
                "phases": b.phases,
                "max_current_a": b.max_current_a,
                "priority": b.priority,
            }
            for b in boxes
        ],
        "control": settings,
        "log": {"decisions": str(log)},
    }


def write_site(
    tmp: Path,
    meter_url: str,
    boxes: list[Box],
    ports: dict[str, int],
    protocol: str = "p1",
    fuse: str = "3x20A-gG",
    *,
    meter_settings: dict[str, Any] | None = None,
    sections: dict[str, Any] | None = None,
    **control: Any,
) -> tuple[Path, Path]:
    """``tmp/site.yaml`` for the boxes (``meter_settings`` override the meter's; ``sections``
    are further top-level keys, ``tariff:``); returns it and the decision log's path."""
    log_path = tmp / "decisions.jsonl"
    raw = site_yaml(meter_url, boxes, ports, log_path, protocol, fuse, **control)
    raw["meter"].update(meter_settings or {})
    raw.update(sections or {})
    site_file = tmp / "site.yaml"
    site_file.write_text(yaml.safe_dump(raw))
    return site_file, log_path


@contextlib.asynccontextmanager
async def served_boxes(
    boxes: list[Box], clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[dict[str, int]]:
    """Every box emulated on 127.0.0.1 with its car, its clock ticking (``clock``: a test's
    own); yields the ports by box name, and stops them on the way out."""
    tasks: list[asyncio.Task[Any]] = []
    ports: dict[str, int] = {}
    try:
        for b in boxes:
            b.emulator = ChargerEmulator(load_profile(b.profile), clock=clock, car=b.car)
            await b.emulator.start()
            ports[b.name] = b.emulator.port
            tasks.append(asyncio.create_task(b.emulator.run_clock(0.05)))
        yield ports
    finally:
        for task in tasks:
            task.cancel()
        for b in boxes:
            if b.emulator is not None:
                await b.emulator.stop()


@contextlib.asynccontextmanager
async def one_box_site(
    tmp: Path, meter_url: str, box: Box, protocol: str = "p1", **settings: Any
) -> AsyncIterator[tuple[ChargerEmulator, Path, Path]]:
    """One served box and the site file around it (``settings`` as :func:`write_site`'s);
    yields the box's emulator, the site file and the decision log's path."""
    async with served_boxes([box]) as ports:
        site_file, log_path = write_site(tmp, meter_url, [box], ports, protocol, **settings)
        assert box.emulator is not None
        yield box.emulator, site_file, log_path


@dataclass
class Linked:
    """One charger link, without the service around it, and its box's emulator."""

    link: ChargerLink
    emulator: ChargerEmulator
    log_path: Path

    def records(self, event: str) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return [r for r in map(json.loads, lines) if r["event"] == event]


@contextlib.asynccontextmanager
async def one_link(
    tmp: Path, box: Box, edit_site: Callable[[Path], None] | None = None
) -> AsyncIterator[Linked]:
    """A link to ``box`` served on loopback (its site file changed by ``edit_site`` first),
    talking to its box only through the Modbus driver."""
    async with one_box_site(tmp, "tcp://127.0.0.1:1", box) as (emulator, site_file, log_path):
        if edit_site is not None:
            edit_site(site_file)
        site = load_site(site_file)
        log = open_decision_log(str(log_path))
        context = LinkContext(site, log, lambda _m: None, time.monotonic, lambda: None)
        config = site.chargers[0]
        assert isinstance(config, ModbusChargerConfig)
        client = modbus_charger(
            config, connect_timeout_s=0.5, request_timeout_s=0.5, clock=time.monotonic
        )
        try:
            yield Linked(ChargerLink(config, client, context), emulator, log_path)
        finally:
            await client.close()
            log.close()


@contextlib.asynccontextmanager
async def service_running(
    site_file: Path,
    log_path: Path,
    *,
    shadow: bool = False,
    start: bool = True,
    status: Callable[[str], None] = lambda _m: None,
    **service_options: Any,
) -> AsyncIterator[Service]:
    """The real Service in this process on the site file (not started with ``start=False``);
    stopped on the way out, exit 0 asserted, so that the shutdown records are in the log."""
    service = Service(
        load_site(site_file),
        shadow=shadow,
        log=open_decision_log(str(log_path)),
        notifier=Notifier({}),
        status=status,
        **service_options,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop)) if start else None
    try:
        yield service
    finally:
        stop.set()
        if runner is not None:
            assert await asyncio.wait_for(runner, 10) == 0


@contextlib.asynccontextmanager
async def running_site(
    tmp: Path,
    boxes: list[Box],
    *,
    shadow: bool = False,
    start: bool = True,
    protocol: str = "p1",
    fuse: str = "3x20A-gG",
    service_options: dict[str, Any] | None = None,
    **control: Any,
) -> AsyncIterator[Site]:
    """A TCP meter, the boxes and the Service in this process (see the module's docstring)."""
    async with MeterServer() as meter, served_boxes(boxes) as ports:
        site_file, log_path = write_site(tmp, meter.url, boxes, ports, protocol, fuse, **control)
        messages: list[str] = []
        async with service_running(
            site_file,
            log_path,
            shadow=shadow,
            start=start,
            status=messages.append,
            **(service_options or {}),
        ) as service:
            if start:
                await meter.wait_for_client()
            yield Site(tmp, meter, {b.name: b for b in boxes}, service, log_path, messages)
