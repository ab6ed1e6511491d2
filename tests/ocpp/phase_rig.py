"""Issue 19 test helpers for OCPP boxes: one charger link with 1p/3p switching on, its charger
in the real central system on loopback, and an emulated charge point (a real ``ocpp`` client)
connected to it, with a fast-switching copy of the bundled ``alfen-ocpp`` profile."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import load_site
from loadbalancer.link import ChargerLink, LinkContext
from loadbalancer.logwriter import open_decision_log
from loadbalancer.ocpp.central import central_for
from loadbalancer.ocpp.charger import OcppCharger
from loadbalancer.ocpp.emulator import EmulatedChargePoint, Quirks
from loadbalancer.ocpp.site import OcppChargerConfig
from tests.ocpp.harness import profile_file

#: the test profile's times: the car has 1 s to stop, the box 0.3 s, the car 1 s to resume
FAST = {"stop_timeout_s": 1, "switch_wait_s": 0.3, "resume_timeout_s": 1}


def drawing_car(*, resumes: bool = True) -> SimulatedCar:
    return SimulatedCar(delay_s=0.0, shortfall_a=0.2, resumes_after_switch=resumes)


def switching_profile(tmp: Path, **phase_switch: Any) -> str:
    """alfen-ocpp (numberPhases switching) with short times and no minimum write interval."""
    return profile_file(
        tmp,
        "switching",
        base="alfen-ocpp",
        writes={"min_interval_s": 0},
        phase_switch={**FAST, **phase_switch},
    )


def write_site(tmp: Path, profile: str, **charger: Any) -> Path:
    """A site file with one OCPP charger, switching ``auto`` (``charger``: more of its keys)."""
    data = {
        "meter": {"source": "tcp://127.0.0.1:1", "protocol": "p1"},
        "fuse": "3x20A-gG",
        "chargers": [
            {
                "name": "carport",
                "protocol": "ocpp",
                "charge_point_id": "CP1",
                "profile": profile,
                "phases": ["L1", "L2", "L3"],
                "max_current_a": 16,
                "phase_switching": "auto",
                **charger,
            }
        ],
        "ocpp": {"listen": "127.0.0.1:0", "auth": "none"},
        "log": {"decisions": str(tmp / "decisions.jsonl")},
    }
    site_file = tmp / "site.yaml"
    site_file.write_text(yaml.safe_dump(data))
    return site_file


@dataclass
class Rig:
    link: ChargerLink
    charger: OcppCharger
    box: EmulatedChargePoint
    log_path: Path

    def records(self, event: str) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return [r for r in map(json.loads, lines) if r["event"] == event]

    @property
    def sent_counts(self) -> list[int | None]:
        """The ``numberPhases`` of each profile the box received, in order."""
        return [
            profile["charging_schedule"]["charging_schedule_period"][0].get("number_phases")
            for _, profile in self.box.state.profiles
        ]

    async def report(self) -> None:
        """The box sends its MeterValues and the link reads them."""
        await self.box.send_meter_values()
        await self.link.poll_once()


@asynccontextmanager
async def rigged(
    tmp: Path,
    car: SimulatedCar | None = None,
    quirks: Quirks | None = None,
    profile: str | None = None,
    *,
    box_count: int = 3,
) -> AsyncIterator[Rig]:
    """The link, the central system and the box connected (its count ``box_count``), with
    ``car`` behind it; the box has sent one MeterValues."""
    site = load_site(write_site(tmp, profile or switching_profile(tmp)))
    log_path = tmp / "decisions.jsonl"
    log = open_decision_log(str(log_path))
    central = central_for(site, log=log, status=lambda _m: None, clock=time.monotonic)
    await central.start()
    config = site.chargers[0]
    assert isinstance(config, OcppChargerConfig)
    charger = central.chargers[config.key]
    context = LinkContext(site, log, lambda _m: None, time.monotonic, lambda: None)
    link = ChargerLink(config, charger, context)
    assert link.phase is not None
    link.phase.poll_s = 0.05
    box = EmulatedChargePoint("CP1", car=car or drawing_car(), quirks=quirks)
    box.state.phase_count = box_count
    try:
        await box.connect(f"ws://127.0.0.1:{central.port}/ocpp")
        await box.send_meter_values()
        yield Rig(link, charger, box, log_path)
    finally:
        await box.close()
        await charger.close()
        await central.close()
        log.close()
