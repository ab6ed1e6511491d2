"""The quality figures (README §Performance), from the ground truth of a simulated evening.

``Tally`` integrates what really flowed (the house plus what the cars drew, per phase, every
simulated second): seconds with a phase above its fuse beyond the overload budget, split by who
caused them, and the energy the cars took. The upper bound the energy is compared with is in
:mod:`loadbalancer.sim.bound`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadbalancer.chargers.simbox import car_draw_a as simulated_car_draw_a
from loadbalancer.control.fuse import Characteristic, FuseProfile, spent_s
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.sim.scenario import CarPlan, Scenario


@dataclass
class Tally:
    """Accumulates the truth of one run, one sample per simulated interval.

    A second with a phase above its rating beyond the budget is counted once, as
    ``overload_s`` if a charger on an over phase drew current it had been allowed (what the
    controller could have avoided), else as ``overload_ignored_s`` if one drew against its
    limit, else as ``overload_house_s`` (the house alone, every charger on it at 0).
    """

    fuse: FuseProfile
    overload_s: float = 0.0
    overload_ignored_s: float = 0.0
    overload_house_s: float = 0.0
    energy_kwh: float = 0.0
    peak_a: float = 0.0
    used_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def sample(
        self,
        phase_a: tuple[float, ...],
        car_a: float,
        dt_s: float,
        allowed: tuple[bool, ...] = (True, True, True),
        ignoring: tuple[bool, ...] = (False, False, False),
    ) -> None:
        """``phase_a``: the true current per grid phase; ``car_a``: the sum over every car
        phase of what the cars drew (A), both held for ``dt_s``. ``allowed`` / ``ignoring``:
        per grid phase, whether a charger on it drew current it had been allowed / drew
        against its limit."""
        fuse = self.fuse
        over: list[int] = []
        for p in range(fuse.phases):
            amps = abs(phase_a[p])
            self.peak_a = max(self.peak_a, amps)
            self.used_s[p] = spent_s(self.used_s[p], amps / fuse.rating_a, dt_s)
            # the fuse's tolerance is its I²t budget (docs/control.md §The overload budget); the
            # hard limit is the controller's own rule for when not to hold, not a property of the
            # fuse
            if amps > fuse.rating_a and (
                fuse.characteristic is Characteristic.STRICT
                or self.used_s[p] > fuse.overload_budget_s
            ):
                over.append(p)
        if any(allowed[p] for p in over):
            self.overload_s += dt_s
        elif any(ignoring[p] for p in over):
            self.overload_ignored_s += dt_s
        elif over:
            self.overload_house_s += dt_s
        self.energy_kwh += car_a * NOMINAL_VOLTAGE_V * dt_s / 3.6e6


def car_draw_a(plan: CarPlan, offered_a: float) -> float:
    """What a car draws per phase when offered ``offered_a``: the emulated car's model."""
    return simulated_car_draw_a(offered_a, plan.max_current_a, plan.shortfall_a)


def plugged(plan: CarPlan, t_s: float) -> bool:
    return t_s >= plan.plug_in_s and (plan.unplug_s is None or t_s < plan.unplug_s)


@dataclass(frozen=True, slots=True)
class ChargerSlot:
    """What the bound needs to know of one charger."""

    name: str
    phases: tuple[int, ...]
    max_current_a: float
    min_current_a: float
    granularity_a: float
    priority: int


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of the figures table."""

    name: str
    overload_s: float
    energy_kwh: float
    bound_kwh: float
    spike_pauses: int
    cuts: int
    pauses: int
    writes: int
    peak_a: float
    hours: float = 1.0
    overload_ignored_s: float = 0.0
    overload_house_s: float = 0.0

    @property
    def energy_ratio(self) -> float:
        return self.energy_kwh / self.bound_kwh if self.bound_kwh > 0 else 1.0

    @property
    def pauses_per_h(self) -> float:
        return self.pauses / self.hours if self.hours > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "overload_s": round(self.overload_s, 1),
            "overload_ignored_s": round(self.overload_ignored_s, 1),
            "overload_house_s": round(self.overload_house_s, 1),
            "energy_ratio": round(self.energy_ratio, 4),
            "spike_pauses": self.spike_pauses,
            "energy_kwh": round(self.energy_kwh, 3),
            "bound_kwh": round(self.bound_kwh, 3),
            "cuts": self.cuts,
            "pauses": self.pauses,
            "pauses_per_h": round(self.pauses_per_h, 2),
            "writes": self.writes,
            "peak_a": round(self.peak_a, 2),
        }


def count_spike_pauses(scenario: Scenario, pause_times_s: list[float], slack_s: float) -> int:
    """Pauses that began while a short spike was on (or within ``slack_s`` after it ended)."""
    return sum(1 for t in pause_times_s if scenario.in_spike(t, slack_s))
