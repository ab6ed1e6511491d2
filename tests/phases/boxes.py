"""Issue 19 test helpers: a fast-switching copy of a bundled profile, and one charger link with
1p/3p switching on, against its emulated box on loopback."""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import yaml

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.resources import find_profile
from tests.service.harness import Box, Linked, one_link

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


def phase_writes(run: Linked) -> list[float]:
    """When the box's phase register was written (clock time)."""
    register = run.emulator.profile.phase_switch
    assert register is not None
    return [at_s for at_s, name in run.emulator.write_log if name == register.register]


def linked(
    tmp_path: Path, car: SimulatedCar | None = None, profile: str = "alfen-eve"
) -> AbstractAsyncContextManager[Linked]:
    """One link, switching on, its box served on loopback with ``car`` behind it."""
    box = Box("carport", str(fast_profile(tmp_path, profile)), THREE)
    if car is not None:
        box.car = car
    return one_link(tmp_path, box, with_switching)


def switch_to(count: int) -> ChargerDecision:
    """The core's switch decision: paused, to ``count`` phases."""
    reason = Reason.PHASE_SWITCH_DOWN if count == 1 else Reason.PHASE_SWITCH_UP
    return ChargerDecision("carport", 0.0, reason, 10.0, (), ("L1",), phase_count=count)


def running(setpoint_a: float, count: int = 3) -> ChargerDecision:
    return ChargerDecision(
        "carport", setpoint_a, Reason.START, None, (), ("L1",), phase_count=count
    )
