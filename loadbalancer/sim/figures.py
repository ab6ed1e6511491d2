"""The quality figures of SPEC §7, from the ground truth of a simulated evening.

``Tally`` integrates what really flowed (the house plus what the cars drew, per phase, every
simulated second): seconds with a phase above its fuse beyond the overload budget, and the
energy the cars took. ``optimum_kwh`` is the offline optimum: perfect knowledge of the house
load, no telegram or ramp delay, the same fuse (rating minus margin, and the same overload
budget to hold a running car at its minimum), the same minimum current and the same pause
rule (below the minimum is a pause; a paused car resumes only after the resume delay with
room for its minimum plus the resume margin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from loadbalancer.control.fuse import Characteristic, FuseProfile
from loadbalancer.sim.scenario import CarPlan, Scenario

#: nominal phase voltage for energy figures (Swedish 230/400 V)
NOMINAL_V = 230.0


@dataclass
class Tally:
    """Accumulates the truth of one run, one sample per simulated interval."""

    fuse: FuseProfile
    overload_s: float = 0.0
    energy_kwh: float = 0.0
    peak_a: float = 0.0
    used_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def sample(self, phase_a: tuple[float, ...], car_a: float, dt_s: float) -> None:
        """``phase_a``: the true current per grid phase; ``car_a``: the sum over every car
        phase of what the cars drew (A), both held for ``dt_s``."""
        fuse = self.fuse
        over = False
        for p in range(fuse.phases):
            amps = abs(phase_a[p])
            self.peak_a = max(self.peak_a, amps)
            x = amps / fuse.rating_a
            self.used_s[p] = max(0.0, self.used_s[p] + (x * x - 1.0) * dt_s)
            # the fuse's tolerance is its I²t budget (control.md §1.4); the hard limit is the
            # controller's own rule for when not to hold, not a property of the fuse
            if amps > fuse.rating_a and (
                fuse.characteristic is Characteristic.STRICT
                or self.used_s[p] > fuse.overload_budget_s
            ):
                over = True
        if over:
            self.overload_s += dt_s
        self.energy_kwh += car_a * NOMINAL_V * dt_s / 3.6e6


def car_draw_a(plan: CarPlan, offered_a: float) -> float:
    """What a car draws per phase when offered ``offered_a`` (as the emulated car does)."""
    if offered_a < 6.0:
        return 0.0
    return max(0.0, min(offered_a, plan.max_current_a) - plan.shortfall_a)


def plugged(plan: CarPlan, t_s: float) -> bool:
    return t_s >= plan.plug_in_s and (plan.unplug_s is None or t_s < plan.unplug_s)


@dataclass(frozen=True, slots=True)
class ChargerSlot:
    """What the optimum needs to know of one charger."""

    name: str
    phases: tuple[int, ...]
    max_current_a: float
    min_current_a: float
    granularity_a: float
    priority: int


def optimum_kwh(
    scenario: Scenario,
    fuse: FuseProfile,
    chargers: list[ChargerSlot],
    resume_delay_s: float,
    resume_margin_a: float = 1.0,
) -> float:
    """The offline optimum (see the module docstring), one decision per simulated second."""
    plans = {plan.charger: plan for plan in scenario.cars}
    order = sorted(chargers, key=lambda c: -c.priority)
    paused = dict.fromkeys((c.name for c in chargers), False)
    room_since: dict[str, float | None] = {c.name: None for c in chargers}
    budget = Tally(fuse)
    energy = 0.0
    for second in range(int(scenario.duration_s)):
        t = float(second)
        house = scenario.house_a(t)
        room = [fuse.rating_a - fuse.margin_a - house[p] for p in range(3)]
        phase_a = list(house)
        car_total = 0.0
        for charger in order:
            plan = plans.get(charger.name)
            if plan is None or not plugged(plan, t):
                continue
            car_phases = charger.phases[:1] if plan.phases == 1 else charger.phases
            fits = min(room[p] for p in car_phases)
            offer = min(fits, charger.max_current_a, plan.max_current_a)
            offer = math.floor(offer / charger.granularity_a + 1e-9) * charger.granularity_a
            minimum = charger.min_current_a
            if paused[charger.name]:
                # resumes only after resume_delay_s with room for its minimum plus the margin
                if fits >= minimum + resume_margin_a:
                    since = room_since[charger.name]
                    room_since[charger.name] = since = t if since is None else since
                    if t - since >= resume_delay_s:
                        paused[charger.name] = False
                        room_since[charger.name] = None
                else:
                    room_since[charger.name] = None
                if paused[charger.name]:
                    offer = 0.0
            elif offer < minimum:
                holdable = fuse.characteristic is not Characteristic.STRICT and all(
                    budget.used_s[p] < fuse.overload_budget_s
                    and house[p] + minimum < fuse.hard_limit_ratio * fuse.rating_a
                    for p in car_phases
                )
                if holdable:
                    offer = minimum
                else:
                    offer = 0.0
                    paused[charger.name] = True
            draw = car_draw_a(plan, offer)
            for p in car_phases:
                room[p] -= draw
                phase_a[p] += draw
            car_total += draw * len(car_phases)
        budget.sample(tuple(phase_a), car_total, 1.0)
        energy = budget.energy_kwh
    return energy


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of the figures table (SPEC §7)."""

    name: str
    overload_s: float
    energy_kwh: float
    optimum_kwh: float
    spike_pauses: int
    cuts: int
    pauses: int
    writes: int
    peak_a: float

    @property
    def energy_ratio(self) -> float:
        return self.energy_kwh / self.optimum_kwh if self.optimum_kwh > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "overload_s": round(self.overload_s, 1),
            "energy_ratio": round(self.energy_ratio, 4),
            "spike_pauses": self.spike_pauses,
            "energy_kwh": round(self.energy_kwh, 3),
            "optimum_kwh": round(self.optimum_kwh, 3),
            "cuts": self.cuts,
            "pauses": self.pauses,
            "writes": self.writes,
            "peak_a": round(self.peak_a, 2),
        }


def count_spike_pauses(scenario: Scenario, pause_times_s: list[float], slack_s: float) -> int:
    """Pauses that began while a short spike was on (or within ``slack_s`` after it ended)."""
    return sum(1 for t in pause_times_s if scenario.in_spike(t, slack_s))
