"""A fast discrete model of the closed loop, for comparing control policies on one scenario.

No sockets, one step per simulated second: the house load, each car following its offer after
its delay, a telegram every period (the true currents), charger reads every poll interval.
Three policies run through it: our core (:func:`loadbalancer.control.core.decide`), a static
limiter (a fixed limit the fuse survives over the scenario's sustained peak) and a max-phase,
set-point-based controller as the peers use (evcc and openWB as their sources read: house = the
highest phase minus the offered set-point, recomputed every cycle, no ramp or resume delay).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from loadbalancer.config import SiteConfig
from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.core import decide
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput, TariffInput
from loadbalancer.control.state import initial_state
from loadbalancer.electric import PHASE_IN_USE_A
from loadbalancer.electric import PHASES as GRID_PHASES
from loadbalancer.sim.figures import Figures, Tally, car_draw_a, count_spike_pauses, plugged
from loadbalancer.sim.scenario import CarPlan, Scenario

#: a decision: (now_s, meter currents L1..L3 or None when no valid telegram came, measured per
#: charger or None while it is offline) -> set-point per charger
Meter = tuple[float, float, float]
Policy = Callable[[float, Meter | None, dict[str, tuple[float, ...] | None]], dict[str, float]]


@dataclass
class _Box:
    """One charger of the model: what it offers its car since when, and whether it answers."""

    spec: ChargerSpec
    offers: list[tuple[float, float]]
    offline_since_s: float | None = None

    def offered_at(self, t_s: float) -> float:
        value = 0.0
        for since, offer in self.offers:
            if since <= t_s:
                value = offer
        return value

    def offer(self, t_s: float, value_a: float) -> None:
        self.offers.append((t_s, value_a))


@dataclass
class _Counts:
    cuts: int = 0
    pauses: int = 0
    writes: int = 0
    pause_times: list[float] = field(default_factory=list)


def run_model(
    name: str,
    scenario: Scenario,
    config: ControlConfig,
    policy: Policy,
    *,
    telegram_period_s: float,
    poll_interval_s: float,
    bound: float,
    failsafe_timeout_s: float = 60.0,
    observe: Callable[[float, Meter], None] | None = None,
) -> Figures:
    """One policy through the scenario, faults included: a silent or corrupt meter sends no
    telegram (the policy is asked with ``None``), an offline charger takes no write and falls
    to its failsafe current after ``failsafe_timeout_s``, a car that ignores its limit draws
    its maximum. Every policy meets the same faults. ``observe`` is told every second's true
    currents per grid phase (house and cars), before the policy is asked (the meter's import
    register of :mod:`loadbalancer.sim.month`)."""
    plans = {plan.charger: plan for plan in scenario.cars}
    boxes = {spec.name: _Box(spec, [(-math.inf, 0.0)]) for spec in config.chargers}
    measured: dict[str, tuple[float, ...] | None] = {
        n: (0.0,) * len(b.spec.phases) for n, b in boxes.items()
    }
    tally = Tally(config.fuse)
    counts = _Counts()
    for second in range(int(scenario.duration_s)):
        t = float(second)
        _failsafe(scenario, boxes, t, failsafe_timeout_s)
        draws, phase_a, allowed, ignoring = _draws(scenario, plans, boxes, t)
        car_total = sum(sum(d) for d in draws.values())
        tally.sample(tuple(phase_a), car_total, 1.0, tuple(allowed), tuple(ignoring))
        if observe is not None:
            observe(t, (phase_a[0], phase_a[1], phase_a[2]))
        if second % max(1, round(poll_interval_s)) == 0:
            measured = {
                n: None if boxes[n].offline_since_s is not None else d for n, d in draws.items()
            }
        if second % max(1, round(telegram_period_s)) != 0:
            continue
        meter: Meter | None = (round(phase_a[0], 1), round(phase_a[1], 1), round(phase_a[2], 1))
        if scenario.fault("meter_silent", t) or scenario.fault("corrupt_telegrams", t):
            meter = None
        drawing = {n: max(d, default=0.0) > PHASE_IN_USE_A for n, d in draws.items()}
        _apply(policy(t, meter, measured), boxes, drawing, t, counts)
    return Figures(
        name=name,
        overload_s=tally.overload_s,
        overload_ignored_s=tally.overload_ignored_s,
        overload_house_s=tally.overload_house_s,
        energy_kwh=tally.energy_kwh,
        bound_kwh=bound,
        hours=scenario.duration_s / 3600,
        spike_pauses=count_spike_pauses(scenario, counts.pause_times, telegram_period_s),
        cuts=counts.cuts,
        pauses=counts.pauses,
        writes=counts.writes,
        peak_a=tally.peak_a,
    )


def run_site_model(
    name: str, scenario: Scenario, site: SiteConfig, policy: Policy, *, bound: float = 0.0
) -> Figures:
    """:func:`run_model` with the site's telegram period, poll interval and failsafe timeout."""
    return run_model(
        name,
        scenario,
        site.control,
        policy,
        telegram_period_s=site.meter.telegram_period_s,
        poll_interval_s=site.poll_interval_s,
        bound=bound,
        failsafe_timeout_s=site.failsafe_timeout_s,
    )


def _failsafe(scenario: Scenario, boxes: dict[str, _Box], t: float, timeout_s: float) -> None:
    """Chargers going offline or coming back; an offline box falls to its failsafe current."""
    for name, box in boxes.items():
        offline = scenario.fault("charger_offline", t, name)
        if not offline:
            box.offline_since_s = None
            continue
        if box.offline_since_s is None:
            box.offline_since_s = t
        if t - box.offline_since_s == timeout_s:
            box.offer(t, box.spec.failsafe_current_a)


def _draws(
    scenario: Scenario, plans: dict[str, CarPlan], boxes: dict[str, _Box], t: float
) -> tuple[dict[str, tuple[float, ...]], list[float], list[bool], list[bool]]:
    """What each car draws this second, the phase totals, and who draws on each phase."""
    phase_a = list(scenario.house_a(t))
    allowed = [False, False, False]
    ignoring = [False, False, False]
    draws: dict[str, tuple[float, ...]] = {}
    for name, box in boxes.items():
        spec = box.spec
        plan = plans.get(name)
        if plan is None or not plugged(plan, t):
            draws[name] = (0.0,) * len(spec.phases)
            continue
        against = scenario.fault("ignore_setpoint", t, name)
        amps = plan.max_current_a if against else car_draw_a(plan, box.offered_at(t - plan.delay_s))
        used = spec.phases[:1] if plan.phases == 1 else spec.phases
        per_phase = tuple(amps if phase in used else 0.0 for phase in spec.phases)
        draws[name] = per_phase
        for phase, value in zip(spec.phases, per_phase, strict=True):
            p = GRID_PHASES.index(phase)
            phase_a[p] += value
            if value > 0:
                (ignoring if against else allowed)[p] = True
    return draws, phase_a, allowed, ignoring


def _apply(
    setpoints: dict[str, float],
    boxes: dict[str, _Box],
    drawing: dict[str, bool],
    t: float,
    counts: _Counts,
) -> None:
    """Write what changed to the boxes that answer; count writes, cuts and pauses (a box set to
    0 A while its car draws: a contactor opens; with no car drawing it is a write only)."""
    for name, value in setpoints.items():
        box = boxes[name]
        previous = box.offered_at(t)
        if value == previous or box.offline_since_s is not None:
            continue
        counts.writes += 1
        if value < previous:
            counts.cuts += 1
        if value == 0.0 and previous > 0.0 and drawing[name]:
            counts.pauses += 1
            counts.pause_times.append(t)
        box.offer(t, value)


def core_policy(
    config: ControlConfig,
    scenario: Scenario,
    tariff: Callable[[float], TariffInput | None] | None = None,
) -> Policy:
    """Our control core, fed as the service feeds it: a missing telegram leaves the last
    reading to age (the core falls back when it is stale), an offline charger reads offline.
    ``tariff``: the capacity tariff's running interval at a time (None: no tariff)."""
    state = initial_state(config)
    plans = {plan.charger: plan for plan in scenario.cars}
    last_meter: MeterInput | None = None

    def policy(
        t: float, meter: Meter | None, measured: dict[str, tuple[float, ...] | None]
    ) -> dict[str, float]:
        nonlocal state, last_meter
        reads = {}
        for name, amps in measured.items():
            if amps is None:
                continue  # offline: the core books it as it would an unanswering box
            plan = plans.get(name)
            status = (
                "A" if plan is None or not plugged(plan, t) else ("C" if max(amps) > 0 else "B")
            )
            reads[name] = ChargerRead(amps, status, True, t)
        if meter is not None:
            last_meter = MeterInput(meter, t)
        running = None if tariff is None else tariff(t)
        state, decision = decide(state, Inputs(last_meter, reads, running), config, t)
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
        t: float, meter: Meter | None, measured: dict[str, tuple[float, ...] | None]
    ) -> dict[str, float]:
        return dict(limits)

    return policy


def max_phase_policy(config: ControlConfig) -> Policy:
    """The peers' loop: one limit from the most loaded phase, house = meter - set-point."""
    fuse = config.fuse
    setpoints = {spec.name: 0.0 for spec in config.chargers}

    def policy(
        t: float, meter: Meter | None, measured: dict[str, tuple[float, ...] | None]
    ) -> dict[str, float]:
        if meter is None:
            # no telegram: the peers' loop runs on telegrams and has no fallback of its own,
            # so every box keeps the limit it was given last
            return dict(setpoints)
        offered = sum(setpoints.values())
        house = max(meter[: fuse.phases]) - offered
        room = fuse.rating_a - fuse.margin_a - house
        share = room / max(1, len(setpoints))
        for spec in config.chargers:
            value = math.floor(min(share, spec.max_current_a))
            setpoints[spec.name] = float(value) if value >= spec.min_current_a else 0.0
        return dict(setpoints)

    return policy
