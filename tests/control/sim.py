"""A small house-and-cars model around ``decide``, for scenario and property tests.

The meter sees the house plus what every car really draws; each charger reports what its car
draws, in the charger's phase order. A car is the emulated car's model
(:func:`loadbalancer.chargers.simbox.car_draw_a`) without its shortfall: nothing below 6 A, else
its offer up to its own limit, on one or three of the charger's phases; it may follow a new
offer one telegram late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loadbalancer.chargers.simbox import car_draw_a
from loadbalancer.control import (
    ChargerRead,
    ControlConfig,
    ControllerState,
    Decision,
    Inputs,
    MeterInput,
    decide,
    initial_state,
)
from loadbalancer.electric import PHASES

#: Swedish HAN pushes a telegram every 10 s
TELEGRAM_PERIOD_S = 10.0


@dataclass
class Car:
    """An electric car on one charger: how many of the charger's phases it uses, its own limit."""

    phases_used: int = 3
    limit_a: float = 32.0
    slow: bool = False
    plugged: bool = True
    draw_a: float = 0.0
    pending_a: float = 0.0

    def follow(self, offer_a: float) -> None:
        # the emulated car's model, without its shortfall: it draws all it is offered
        wanted = car_draw_a(offer_a, self.limit_a, 0.0) if self.plugged else 0.0
        if self.slow:
            self.draw_a, self.pending_a = self.pending_a, wanted
        else:
            self.draw_a = self.pending_a = wanted

    def unplug(self) -> None:
        self.plugged, self.draw_a, self.pending_a = False, 0.0, 0.0

    @property
    def status(self) -> str:
        if not self.plugged:
            return "A"
        return "C" if self.draw_a > 0 else "B"


@dataclass
class Site:
    """The controller in a loop with a modelled house and cars."""

    config: ControlConfig
    cars: dict[str, Car] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    house_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    state: ControllerState | None = None
    meter: MeterInput | None = None
    last: Decision | None = None
    last_inputs: Inputs | None = None

    def __post_init__(self) -> None:
        self.state = initial_state(self.config)
        for spec in self.config.chargers:
            self.cars.setdefault(spec.name, Car())

    def car_grid_draw(self, name: str) -> list[float]:
        """What a charger's car draws on L1, L2, L3."""
        spec = next(spec for spec in self.config.chargers if spec.name == name)
        car = self.cars[name]
        draw = [0.0, 0.0, 0.0]
        for _i, phase in enumerate(spec.phases[: car.phases_used]):
            draw[PHASES.index(phase)] += car.draw_a
        return draw

    def seen_grid_draw(self, name: str) -> list[float]:
        """What the last decision was told a charger draws, on L1, L2, L3."""
        assert self.last_inputs is not None
        spec = next(spec for spec in self.config.chargers if spec.name == name)
        draw = [0.0, 0.0, 0.0]
        for phase, current in zip(
            spec.phases, self.last_inputs.chargers[name].measured_a, strict=False
        ):
            draw[PHASES.index(phase)] += current
        return draw

    def measured(self, name: str) -> tuple[float, ...]:
        spec = next(spec for spec in self.config.chargers if spec.name == name)
        car = self.cars[name]
        return tuple(car.draw_a if i < car.phases_used else 0.0 for i in range(len(spec.phases)))

    def meter_current(self) -> tuple[float, float, float]:
        total = list(self.house_a)
        for name in self.cars:
            for p, draw in enumerate(self.car_grid_draw(name)):
                total[p] += draw
        return (total[0], total[1], total[2])

    def inputs(self, now_s: float) -> Inputs:
        reads = {
            name: ChargerRead(self.measured(name), car.status, name not in self.offline, now_s)
            for name, car in self.cars.items()
        }
        return Inputs(self.meter, reads)

    def telegram(self, now_s: float, house_a: tuple[float, float, float] | None = None) -> Decision:
        """The meter pushes a telegram at ``now_s``; the controller decides; cars follow."""
        if house_a is not None:
            self.house_a = house_a
        self.meter = MeterInput(self.meter_current(), now_s)
        return self.decide(now_s)

    def decide(self, now_s: float) -> Decision:
        assert self.state is not None
        self.last_inputs = self.inputs(now_s)
        self.state, decision = decide(self.state, self.last_inputs, self.config, now_s)
        self.last = decision
        for charger in decision.chargers:
            if charger.name not in self.offline:
                self.cars[charger.name].follow(charger.setpoint_a)
        return decision


def run_trace(
    site: Site, house_at: Mapping[float, tuple[float, float, float]], until_s: float
) -> list[tuple[float, Decision]]:
    """Telegrams every 10 s from 0 to ``until_s``; ``house_at``: house load from that time on."""
    trace = []
    now_s = 0.0
    house = (0.0, 0.0, 0.0)
    while now_s <= until_s:
        house = house_at.get(now_s, house)
        trace.append((now_s, site.telegram(now_s, house)))
        now_s += TELEGRAM_PERIOD_S
    return trace
