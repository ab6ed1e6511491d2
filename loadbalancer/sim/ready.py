"""A car whose user asked for it to be ready by a time (issue 15: ``ready_by``), in the month's
simulation: what the cars have taken so far, and the power the car needs from now on."""

from __future__ import annotations

from dataclasses import dataclass

from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.sim.model import Meter
from loadbalancer.sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class ReadyBy:
    """A charger whose user asked for ``energy_kwh`` by ``until_s`` (scenario seconds)."""

    charger: str
    energy_kwh: float
    until_s: float


@dataclass
class CarMeter:
    """What the cars have taken so far: each second's import less the house's, at 230 V (the
    service counts it from the charger; the model knows it exactly)."""

    scenario: Scenario
    energy_kwh: float = 0.0

    def observe(self, t_s: float, phase_a: Meter) -> None:
        cars_a = sum(phase_a) - sum(self.scenario.house_a(t_s))
        self.energy_kwh += max(0.0, cars_a) * NOMINAL_VOLTAGE_V / 3.6e6

    def needed_kw(self, ready_by: ReadyBy, t_s: float) -> float:
        """The power the car needs from ``t_s`` on to have its energy by its time."""
        missing_kwh = ready_by.energy_kwh - self.energy_kwh
        if missing_kwh <= 0 or t_s >= ready_by.until_s:
            return 0.0
        return missing_kwh * 3600.0 / (ready_by.until_s - t_s)
