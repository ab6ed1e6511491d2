"""A fast discrete model of the closed loop, for comparing control policies on one scenario.

No sockets, one step per simulated second: the house load, each car following its offer after
its delay, a telegram every period (the true currents), charger reads every poll interval.
Three policies run through it: our core (:func:`loadbalancer.control.core.decide`), a static
limiter (a fixed limit the fuse survives over the scenario's sustained peak) and a max-phase,
set-point-based controller as the peers use (reference/anchors.md §2: house = the highest
phase minus the offered set-point, recomputed every cycle, no ramp or resume delay).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.core import decide
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput
from loadbalancer.control.state import initial_state
from loadbalancer.electric import PHASES as GRID_PHASES
from loadbalancer.sim.figures import Figures, Tally, car_draw_a, count_spike_pauses, plugged
from loadbalancer.sim.scenario import Scenario

#: a decision: (now_s, meter currents L1..L3, measured per charger) -> set-point per charger
Policy = Callable[
    [float, tuple[float, float, float], dict[str, tuple[float, ...]]], dict[str, float]
]


@dataclass
class _Car:
    offers: list[tuple[float, float]]

    def offered_at(self, t_s: float) -> float:
        value = 0.0
        for since, offer in self.offers:
            if since <= t_s:
                value = offer
        return value


def run_model(
    name: str,
    scenario: Scenario,
    config: ControlConfig,
    policy: Policy,
    *,
    telegram_period_s: float,
    poll_interval_s: float,
    bound: float,
) -> Figures:
    plans = {plan.charger: plan for plan in scenario.cars}
    specs = {spec.name: spec for spec in config.chargers}
    cars = {name_: _Car([(-math.inf, 0.0)]) for name_ in specs}
    setpoints = dict.fromkeys(specs, 0.0)
    measured: dict[str, tuple[float, ...]] = {n: (0.0,) * len(s.phases) for n, s in specs.items()}
    tally = Tally(config.fuse)
    cuts = pauses = writes = 0
    pause_times: list[float] = []
    for second in range(int(scenario.duration_s)):
        t = float(second)
        house = scenario.house_a(t)
        phase_a = list(house)
        car_total = 0.0
        drawing = [False, False, False]
        draws: dict[str, tuple[float, ...]] = {}
        for charger_name, spec in specs.items():
            plan = plans.get(charger_name)
            if plan is None or not plugged(plan, t):
                draws[charger_name] = (0.0,) * len(spec.phases)
                continue
            amps = car_draw_a(plan, cars[charger_name].offered_at(t - plan.delay_s))
            used = spec.phases[:1] if plan.phases == 1 else spec.phases
            per_phase = tuple(amps if phase in used else 0.0 for phase in spec.phases)
            draws[charger_name] = per_phase
            for phase, value in zip(spec.phases, per_phase, strict=True):
                phase_a[GRID_PHASES.index(phase)] += value
                drawing[GRID_PHASES.index(phase)] |= value > 0
            car_total += sum(per_phase)
        # the model's cars always follow their limit
        tally.sample(tuple(phase_a), car_total, 1.0, allowed=tuple(drawing))
        if second % max(1, round(poll_interval_s)) == 0:
            measured = dict(draws)
        if second % max(1, round(telegram_period_s)) != 0:
            continue
        meter = (round(phase_a[0], 1), round(phase_a[1], 1), round(phase_a[2], 1))
        for charger_name, value in policy(t, meter, measured).items():
            previous = setpoints[charger_name]
            if value == previous:
                continue
            writes += 1
            if value < previous:
                cuts += 1
            if value == 0.0 and previous > 0.0:
                pauses += 1
                pause_times.append(t)
            setpoints[charger_name] = value
            cars[charger_name].offers.append((t, value))
    return Figures(
        name=name,
        overload_s=tally.overload_s,
        overload_ignored_s=tally.overload_ignored_s,
        overload_house_s=tally.overload_house_s,
        energy_kwh=tally.energy_kwh,
        bound_kwh=bound,
        hours=scenario.duration_s / 3600,
        spike_pauses=count_spike_pauses(scenario, pause_times, telegram_period_s),
        cuts=cuts,
        pauses=pauses,
        writes=writes,
        peak_a=tally.peak_a,
    )


def core_policy(config: ControlConfig, scenario: Scenario) -> Policy:
    """Our control core, fed as the service feeds it."""
    state = initial_state(config)
    plans = {plan.charger: plan for plan in scenario.cars}

    def policy(
        t: float, meter: tuple[float, float, float], measured: dict[str, tuple[float, ...]]
    ) -> dict[str, float]:
        nonlocal state
        reads = {}
        for name, amps in measured.items():
            plan = plans.get(name)
            status = (
                "A" if plan is None or not plugged(plan, t) else ("C" if max(amps) > 0 else "B")
            )
            reads[name] = ChargerRead(amps, status, True, t)
        state, decision = decide(state, Inputs(MeterInput(meter, t), reads), config, t)
        return {c.name: c.setpoint_a for c in decision.chargers}

    return policy


def static_limit_a(config: ControlConfig, scenario: Scenario) -> float:
    """The fixed limit a static limiter needs so the fuse survives the scenario: the rating
    minus the highest sustained house current (spikes under a minute are left to the fuse's
    own tolerance), rounded down; below the minimum it cannot charge at all."""
    fuse = config.fuse
    spikes = scenario.spikes()
    worst = 0.0
    for second in range(int(scenario.duration_s)):
        t = float(second)
        if any(e.start_s <= t < e.start_s + e.duration_s for e in spikes):
            continue
        worst = max(worst, max(scenario.house_a(t)[: fuse.phases]))
    limit = math.floor(fuse.rating_a - worst)
    return float(limit) if limit >= 6 else 0.0


def static_policy(config: ControlConfig, scenario: Scenario) -> Policy:
    limit = static_limit_a(config, scenario)
    limits = {spec.name: min(limit, spec.max_current_a) for spec in config.chargers}

    def policy(
        t: float, meter: tuple[float, float, float], measured: dict[str, tuple[float, ...]]
    ) -> dict[str, float]:
        return dict(limits)

    return policy


def max_phase_policy(config: ControlConfig) -> Policy:
    """The peers' loop: one limit from the most loaded phase, house = meter - set-point."""
    fuse = config.fuse
    setpoints = {spec.name: 0.0 for spec in config.chargers}

    def policy(
        t: float, meter: tuple[float, float, float], measured: dict[str, tuple[float, ...]]
    ) -> dict[str, float]:
        offered = sum(setpoints.values())
        house = max(meter[: fuse.phases]) - offered
        room = fuse.rating_a - fuse.margin_a - house
        share = room / max(1, len(setpoints))
        for spec in config.chargers:
            value = math.floor(min(share, spec.max_current_a))
            setpoints[spec.name] = float(value) if value >= spec.min_current_a else 0.0
        return dict(setpoints)

    return policy
