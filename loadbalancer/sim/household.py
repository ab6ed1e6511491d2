"""A household scenario made for the month's simulation (:mod:`loadbalancer.sim.month`): its
house load computed once per second, and the loads a household that lives with its capacity
tariff would not run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.sim.scenario import LoadEvent, Scenario


@dataclass(frozen=True, slots=True)
class Recorded(Scenario):
    """A scenario whose house load is computed once per second and then looked up (the month's
    evenings run twice through the model and once through the bound)."""

    recorded_a: tuple[tuple[float, float, float], ...] = ()

    def house_a(self, t_s: float) -> tuple[float, float, float]:
        second = int(t_s)
        if 0 <= second < len(self.recorded_a):
            return self.recorded_a[second]
        return Scenario.house_a(self, t_s)


def recorded(scenario: Scenario) -> Recorded:
    """``scenario`` with its house load computed once for every second."""
    houses = tuple(scenario.house_a(float(t)) for t in range(int(scenario.duration_s)))
    fields = {name: getattr(scenario, name) for name in Scenario.__dataclass_fields__}
    return Recorded(**fields, recorded_a=houses)


def within(scenario: Scenario, limit_kw: float, interval_s: float) -> Scenario:
    """``scenario`` without the loads (in catalogue order, later ones first dropped) that would
    take an interval's mean import above ``limit_kw``: reckoned from the base load, the noise's
    bound and each load's current over its overlap with the interval."""
    count = int(scenario.duration_s // interval_s) + 1
    kept: list[LoadEvent] = []
    for event in scenario.events:
        if all(_mean_kw(scenario, [*kept, event], k, interval_s) <= limit_kw for k in range(count)):
            kept.append(event)
    return replace(scenario, events=tuple(kept))


def _mean_kw(scenario: Scenario, events: Sequence[LoadEvent], k: int, interval_s: float) -> float:
    start_s, end_s = k * interval_s, (k + 1) * interval_s
    amp_s = (sum(scenario.base_a) + 3 * scenario.noise_a) * interval_s
    for e in events:
        overlap_s = max(0.0, min(end_s, e.start_s + e.duration_s) - max(start_s, e.start_s))
        amp_s += e.current_a * len(e.phases) * overlap_s
    return amp_s / interval_s * NOMINAL_VOLTAGE_V / 1000.0
