"""Issue 19 test helpers: a fast-switching copy of a bundled profile, and one charger link with
1p/3p switching on, against its emulated box on loopback."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadbalancer.charger_open import modbus_charger
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import ModbusChargerConfig, load_site
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.link import ChargerLink, LinkContext
from loadbalancer.logwriter import open_decision_log
from loadbalancer.resources import find_profile
from tests.service.harness import Box, one_box_site

THREE = ["L1", "L2", "L3"]
#: the test profile's times: the car has 1 s to stop, the box 0.3 s, the car 1 s to resume
FAST = {"stop_timeout_s": 1, "switch_wait_s": 0.3, "resume_timeout_s": 1}


def fast_profile(tmp_path: Path, name: str = "alfen-eve") -> Path:
    """The bundled profile ``name`` with its phase switch's own times made short."""
    text = find_profile("chargers", name).text
    for key, value in FAST.items():
        text = re.sub(rf"(\n  {key}:) [0-9.]+", rf"\1 {value}", text)
    assert all(f"{key}: {value}" in text for key, value in FAST.items())
    path = tmp_path / f"{name}-fast.yaml"
    path.write_text(text)
    return path


def with_switching(site_file: Path, **keys: Any) -> None:
    """Turn 1p/3p switching on for the site file's first charger."""
    data = yaml.safe_load(site_file.read_text())
    data["chargers"][0].update({"phase_switching": "auto", **keys})
    site_file.write_text(yaml.safe_dump(data))


@dataclass
class Linked:
    link: ChargerLink
    emulator: ChargerEmulator
    log_path: Path
    wakes: int = 0

    def records(self, event: str) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return [r for r in map(json.loads, lines) if r["event"] == event]

    @property
    def phase_writes(self) -> list[float]:
        """When the box's phase register was written (clock time)."""
        register = self.emulator.profile.phase_switch
        assert register is not None
        return [at_s for at_s, name in self.emulator.write_log if name == register.register]


@asynccontextmanager
async def linked(
    tmp_path: Path, car: SimulatedCar | None = None, profile: str = "alfen-eve"
) -> AsyncIterator[Linked]:
    """One link, switching on, its box served on loopback with ``car`` behind it."""
    box = Box("carport", str(fast_profile(tmp_path, profile)), THREE)
    if car is not None:
        box.car = car
    async with one_box_site(tmp_path, "tcp://127.0.0.1:1", box) as (emulator, site_file, log_path):
        with_switching(site_file)
        site = load_site(site_file)
        log = open_decision_log(str(log_path))
        holder: list[Linked] = []

        def wake() -> None:
            holder[0].wakes += 1

        context = LinkContext(site, log, lambda _m: None, time.monotonic, wake)
        config = site.chargers[0]
        assert isinstance(config, ModbusChargerConfig)
        client = modbus_charger(
            config, connect_timeout_s=0.5, request_timeout_s=0.5, clock=time.monotonic
        )
        holder.append(Linked(ChargerLink(config, client, context), emulator, log_path))
        try:
            yield holder[0]
        finally:
            await client.close()
            log.close()


def switch_to(count: int) -> ChargerDecision:
    """The core's switch decision: paused, to ``count`` phases."""
    reason = Reason.PHASE_SWITCH_DOWN if count == 1 else Reason.PHASE_SWITCH_UP
    return ChargerDecision("carport", 0.0, reason, 10.0, (), ("L1",), phase_count=count)


def running(setpoint_a: float, count: int = 3) -> ChargerDecision:
    return ChargerDecision(
        "carport", setpoint_a, Reason.START, None, (), ("L1",), phase_count=count
    )
