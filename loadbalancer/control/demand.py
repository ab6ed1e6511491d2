"""What an online charger's car wants: the grid phases it loads and its demand (its claim)."""

from __future__ import annotations

from dataclasses import dataclass

from loadbalancer.control.allocate import Claim
from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.inputs import NO_CAR_STATUSES, ChargerRead
from loadbalancer.control.state import ChargerMemory
from loadbalancer.electric import PHASE_IN_USE_A


@dataclass(frozen=True, slots=True)
class Online:
    """Working values for one online charger (answers, currents plausible) in this decision."""

    index: int
    spec: ChargerSpec
    read: ChargerRead
    memory: ChargerMemory
    phases: tuple[int, ...]
    car_phases: tuple[int, ...] | None
    no_car: bool
    claim: Claim

    @property
    def previous_a(self) -> float | None:
        return self.memory.setpoint_a

    @property
    def running(self) -> bool:
        return self.previous_a is not None and self.previous_a > 0


def working(
    index: int,
    spec: ChargerSpec,
    read: ChargerRead,
    memory: ChargerMemory,
    config: ControlConfig,
    now_s: float,
) -> Online:
    """Which phases the car loads, and how much it wants (its demand)."""
    wired = spec.grid_phase_indices
    measured = list(zip(wired, read.measured_a, strict=False))
    drawing = tuple(p for p, current in measured if current >= PHASE_IN_USE_A)
    no_car = read.status in NO_CAR_STATUSES
    car_phases = drawing or (None if no_car else memory.car_phases)
    max_a = spec.min_current_a if no_car else spec.max_current_a
    drawn_a = max((current for _, current in measured), default=0.0)
    demand_a = min(max(_demand_a(memory, drawn_a, max_a, config, now_s), spec.min_current_a), max_a)
    phases = car_phases or wired
    claim = Claim(index, phases, spec.priority, demand_a, max_a, spare=no_car)
    return Online(index, spec, read, memory, phases, car_phases, no_car, claim)


def _demand_a(
    memory: ChargerMemory, drawn_a: float, max_a: float, config: ControlConfig, now_s: float
) -> float:
    """Its maximum, unless it draws less than it was offered (then a step above its draw), or
    is still following its last change (then what it was offered)."""
    previous_a = memory.setpoint_a
    settled = (
        memory.setpoint_since_s is not None
        and now_s - memory.setpoint_since_s >= config.ev_response_allowance_s
    )
    if previous_a is None or previous_a == 0:
        return max_a
    if not settled:
        # still following its last change: it wants what it was offered, not more yet
        return max(previous_a, drawn_a + config.demand_headroom_a)
    if drawn_a < previous_a - config.follow_tolerance_a:
        # draws less than offered: its draw plus a step, the rest is for the others
        return drawn_a + config.demand_headroom_a
    return max_a
