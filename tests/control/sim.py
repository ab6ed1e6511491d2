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
    #: issue 19: per box that can switch, the phases it is set to (1 or 3), as the last
    #: decision's inputs saw them, the boxes that refuse a switch and those given up on
    box_phases: dict[str, int] = field(default_factory=dict)
    seen_box_phases: dict[str, int] = field(default_factory=dict)
    refusing: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    #: (time, charger, what its car drew) at every phase change the shell made
    switches: list[tuple[float, str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = initial_state(self.config)
        for spec in self.config.chargers:
            self.cars.setdefault(spec.name, Car())
            if spec.phase_switch is not None and len(spec.phases) == 3:
                self.box_phases.setdefault(spec.name, 3)

    def _wired(self, name: str, box_phases: dict[str, int]) -> tuple[str, ...]:
        """The grid phases a box's output is on: its one-phase grid phase when on one."""
        spec = next(spec for spec in self.config.chargers if spec.name == name)
        if box_phases.get(name) == 1 and spec.phase_switch is not None:
            return (spec.phase_switch.one_phase_on,)
        return spec.phases

    def car_grid_draw(self, name: str) -> list[float]:
        """What a charger's car draws on L1, L2, L3."""
        car = self.cars[name]
        draw = [0.0, 0.0, 0.0]
        for _i, phase in enumerate(self._wired(name, self.box_phases)[: car.phases_used]):
            draw[PHASES.index(phase)] += car.draw_a
        return draw

    def seen_grid_draw(self, name: str) -> list[float]:
        """What the last decision was told a charger draws, on L1, L2, L3."""
        assert self.last_inputs is not None
        draw = [0.0, 0.0, 0.0]
        for phase, current in zip(
            self._wired(name, self.seen_box_phases),
            self.last_inputs.chargers[name].measured_a,
            strict=False,
        ):
            draw[PHASES.index(phase)] += current
        return draw

    def measured(self, name: str) -> tuple[float, ...]:
        spec = next(spec for spec in self.config.chargers if spec.name == name)
        car = self.cars[name]
        used = min(car.phases_used, len(self._wired(name, self.box_phases)))
        return tuple(car.draw_a if i < used else 0.0 for i in range(len(spec.phases)))

    def meter_current(self) -> tuple[float, float, float]:
        total = list(self.house_a)
        for name in self.cars:
            for p, draw in enumerate(self.car_grid_draw(name)):
                total[p] += draw
        return (total[0], total[1], total[2])

    def inputs(self, now_s: float) -> Inputs:
        reads = {
            name: ChargerRead(
                self.measured(name),
                car.status,
                name not in self.offline,
                now_s,
                phase_count=self.box_phases.get(name),
                phase_switch_failed=name in self.failed,
            )
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
        self.seen_box_phases = dict(self.box_phases)
        for charger in decision.chargers:
            if charger.name not in self.offline:
                self.cars[charger.name].follow(charger.setpoint_a)
        self._switch_boxes(decision, now_s)
        return decision

    def _switch_boxes(self, decision: Decision, now_s: float) -> None:
        """The shell's sequence, in one step: a box asked for another phase count is switched
        once its car draws nothing (a refusing box is given up on for the session)."""
        for charger in decision.chargers:
            name, car = charger.name, self.cars[charger.name]
            if not car.plugged:
                self.failed.discard(name)
            count = self.box_phases.get(name)
            if count is None or name in self.offline or charger.phase_count == count:
                continue
            if car.draw_a > 0 or name in self.failed:
                continue
            self.switches.append((now_s, name, car.draw_a))
            if name in self.refusing:
                self.failed.add(name)
            else:
                self.box_phases[name] = charger.phase_count


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
