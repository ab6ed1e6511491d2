"""``loadbalancer simulate --replay LOG...``: the logged period again, through the core.

The house load and the cars come from the logs (:mod:`loadbalancer.sim.replay_trace`). The
period runs through the real control core (:func:`loadbalancer.control.core.decide`, the same
core the model of :mod:`loadbalancer.sim.model` and the service run) on a virtual clock, one
decision per logged telegram: once with the logged site (rebuilt from the ``startup`` record,
:mod:`loadbalancer.sim.replay_site`) and once with a candidate site file. Each car draws what
its replayed offer allows, up to its logged demand, less its logged shortfall; the house is
what it was. The figures of the log itself, of both replays and the upper bound on the energy
are printed side by side; the gaps are listed, not replayed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loadbalancer.chargers.simbox import car_draw_a
from loadbalancer.config import SiteConfig
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.core import decide
from loadbalancer.control.fuse import Characteristic, FuseProfile
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import initial_state
from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASE_IN_USE_A, PHASES
from loadbalancer.errors import UsageError
from loadbalancer.sim.figures import Tally
from loadbalancer.sim.month import import_kw
from loadbalancer.sim.replay_site import candidate_site, logged_site
from loadbalancer.sim.replay_trace import CUT_MIN_A, CarTrace, Gap, Trace, read_trace

#: the tariff peak: the highest mean import over a clock hour
PEAK_INTERVAL_S = 3600


@dataclass(frozen=True, slots=True)
class ReplayFigures:
    """One column of the side-by-side table."""

    name: str
    energy_kwh: float
    pauses: int
    cuts: int
    overload_s: float
    peak_a: float
    tariff_peak_kw: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "energy_kwh": round(self.energy_kwh, 3),
            "pauses": self.pauses,
            "cuts": self.cuts,
            "overload_s": round(self.overload_s, 1),
            "peak_a": round(self.peak_a, 2),
            "tariff_peak_kw": round(self.tariff_peak_kw, 3),
        }


class _Sums:
    """Energy, overload and the hourly import of one run, step by step (private, mutable)."""

    def __init__(self, fuse: FuseProfile) -> None:
        self.tally = Tally(fuse)
        self.hours: dict[int, float] = {}

    def add(self, t_s: float, dt_s: float, phase_a: Sequence[float], car_a: float) -> None:
        if dt_s <= 0:
            return
        self.tally.sample(tuple(phase_a), car_a, dt_s)
        hour = int(t_s // PEAK_INTERVAL_S)
        self.hours[hour] = self.hours.get(hour, 0.0) + import_kw(phase_a) * dt_s

    def figures(self, name: str, cuts: int, pauses: int) -> ReplayFigures:
        tally = self.tally
        return ReplayFigures(
            name=name,
            energy_kwh=tally.energy_kwh,
            pauses=pauses,
            cuts=cuts,
            overload_s=tally.overload_s + tally.overload_ignored_s + tally.overload_house_s,
            peak_a=tally.peak_a,
            tariff_peak_kw=max(self.hours.values(), default=0.0) / PEAK_INTERVAL_S,
        )


def logged_figures(trace: Trace, fuse: FuseProfile) -> ReplayFigures:
    """The log's own figures, counted as the replays count theirs."""
    sums = _Sums(fuse)
    cars = list(trace.cars.values())
    for k in range(trace.steps):
        meter = (trace.meter_a[0][k], trace.meter_a[1][k], trace.meter_a[2][k])
        car_a = sum(car.drawn_a[k] * car.used[k] for car in cars)
        sums.add(trace.t_s[k], trace.dt_s[k], meter, car_a)
    return sums.figures("the log", trace.logged_cuts, trace.logged_pauses)


def replay(trace: Trace, site: SiteConfig, name: str) -> ReplayFigures:
    """The period through the core with ``site``: one decision per logged telegram, and while
    the core waits for a timer (a resume, a raise), one per poll interval until it acts."""
    specs = {spec.name: spec for spec in site.control.chargers}
    missing = [n for n, car in trace.cars.items() if n not in specs and max(car.demand_a) > 0]
    if missing:
        raise UsageError(f"{name}: no charger {', '.join(missing)} (the log's cars charge there)")
    run = _Run(trace, site)
    for k in range(trace.steps):
        run.step(k)
    return run.sums.figures(name, run.cuts, run.pauses)


#: reasons of a core that waits for a timer: the service decides again before the next telegram
WAITING = frozenset({Reason.PAUSED_WAIT_RESUME, Reason.HOLD_RAMP_DELAY})
#: reasons of a core at rest: every car has what it wants (or there is none), no timer runs
RESTING = frozenset({Reason.AT_MAX, Reason.STEADY, Reason.NO_CAR})
#: at rest, a telegram within this of the one last decided on (every phase), with the same
#: charger reads, is not decided again: the core would give the same set-points (a month of
#: telegrams through the core takes minutes; most of them are such)
REST_TOLERANCE_A = 0.5


class _Run:
    """One replay (private, mutable): the core's state, the offers in force, the counts."""

    def __init__(self, trace: Trace, site: SiteConfig) -> None:
        self.trace, self.config = trace, site.control
        self.poll_s = site.poll_interval_s
        self.cars = [(spec, trace.cars.get(spec.name)) for spec in self.config.chargers]
        self.shortfall = {spec.name: car.shortfall_a() for spec, car in self.cars if car}
        self.offers = {spec.name: 0.0 for spec in self.config.chargers}
        self.state = initial_state(self.config)
        self.sums = _Sums(self.config.fuse)
        self.cuts = self.pauses = 0
        #: at rest: the meter and the charger currents last decided on
        self.rest: tuple[list[float], list[tuple[float, ...]]] | None = None
        self.resting = False
        #: telegrams decided on and telegrams left at rest
        self.decided = self.rested = 0

    def step(self, k: int) -> None:
        """The telegram of step ``k``: what the cars draw on the offers in force, the decision."""
        trace = self.trace
        t = trace.t_s[k]
        phase_a = [trace.house_a[0][k], trace.house_a[1][k], trace.house_a[2][k]]
        reads, car_a = {}, 0.0
        for spec, car in self.cars:
            draw = _draw(car, k, self.offers[spec.name], self.shortfall.get(spec.name, 0.0))
            used = spec.phases[: car.used[k]] if car is not None else spec.phases
            amps = tuple(draw if phase in used else 0.0 for phase in spec.phases)
            for phase, amp in zip(spec.phases, amps, strict=True):
                phase_a[PHASES.index(phase)] += amp
            car_a += sum(amps)
            status = "C" if draw > 0 else ("B" if car is not None and car.demand_a[k] else "A")
            reads[spec.name] = ChargerRead(amps, status, True, t)
        self.sums.add(t, trace.dt_s[k], phase_a, car_a)
        currents = [r.measured_a for r in reads.values()]
        if self._at_rest(phase_a, currents):
            self.rested += 1
            return
        meter = MeterInput((phase_a[0], phase_a[1], phase_a[2]), t)
        waiting = self.decide(Inputs(meter, reads, None), t)
        self.decided += 1
        if self.resting:
            self.rest = (phase_a, currents)
        sub_t = t + self.poll_s
        while waiting and sub_t < t + trace.dt_s[k]:
            fresh = {n: replace(r, read_s=sub_t) for n, r in reads.items()}
            waiting = self.decide(Inputs(meter, fresh, None), sub_t)
            sub_t += self.poll_s

    def _at_rest(self, phase_a: list[float], currents: list[tuple[float, ...]]) -> bool:
        if self.rest is None:
            return False
        meter, before = self.rest
        if currents != before or any(
            abs(a - b) > REST_TOLERANCE_A for a, b in zip(phase_a, meter, strict=True)
        ):
            self.rest = None
            return False
        return True

    def decide(self, inputs: Inputs, t: float) -> bool:
        """One decision; True while it only waits (no set-point changed, a timer running)."""
        self.state, decision = decide(self.state, inputs, self.config, t)
        self.resting = all(outcome.reason in RESTING for outcome in decision.chargers)
        self.rest = None
        changed, waiting = False, False
        for outcome in decision.chargers:
            before = self.offers[outcome.name]
            if outcome.setpoint_a != before:
                changed = True
            if outcome.setpoint_a <= before - CUT_MIN_A:
                self.cuts += 1
            if outcome.setpoint_a == 0.0 < before:
                self.pauses += max(inputs.chargers[outcome.name].measured_a) > PHASE_IN_USE_A
            self.offers[outcome.name] = outcome.setpoint_a
            waiting = waiting or outcome.reason in WAITING
        return waiting and not changed


def _draw(car: CarTrace | None, k: int, offer_a: float, shortfall_a: float) -> float:
    """What the car draws per phase at step ``k`` when offered ``offer_a``."""
    if car is None or car.demand_a[k] <= 0:
        return 0.0
    return car_draw_a(offer_a, car.demand_a[k] + shortfall_a, shortfall_a)


def bound_kwh(trace: Trace, config: ControlConfig) -> float:
    """The per-second cap bound of :func:`loadbalancer.sim.bound.cap_bound_kwh`, per logged
    step: each car alone, up to its logged demand and the fuse's hard limit on its phases (a
    phase the house alone takes above the rating drops the fuse there)."""
    fuse = config.fuse
    ceiling = fuse.rating_a * (
        1.0 if fuse.characteristic is Characteristic.STRICT else fuse.hard_limit_ratio
    )
    specs = {spec.name: spec for spec in config.chargers}
    total = 0.0
    for name, car in trace.cars.items():
        spec = specs.get(name)
        phases = spec.phases if spec is not None else car.phases
        indices = [PHASES.index(p) for p in phases]
        for k in range(trace.steps):
            cap, dt = car.demand_a[k], trace.dt_s[k]
            if cap <= 0 or dt <= 0:
                continue
            for p in indices[: car.used[k]]:
                house = trace.house_a[p][k]
                if p < fuse.phases and house <= fuse.rating_a:
                    cap = min(cap, max(0.0, ceiling - house))
            total += cap * min(car.used[k], len(indices)) * dt
    return total * NOMINAL_VOLTAGE_V / 3.6e6


@dataclass(frozen=True, slots=True)
class ReplayReport:
    files: tuple[str, ...]
    candidate: Path | None
    trace: Trace
    logged: ReplayFigures
    runs: tuple[ReplayFigures, ...]
    bound_kwh: float
    #: the startup record's fields that were missing (defaults taken)
    defaults: tuple[str, ...]
    #: what the replay leaves out, in words
    notes: tuple[str, ...]
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        trace = self.trace
        return {
            "files": list(self.files),
            "candidate": None if self.candidate is None else str(self.candidate),
            "from_s": trace.t_s[0],
            "to_s": trace.t_s[-1] + trace.dt_s[-1],
            "telegrams": trace.steps,
            "replayed_s": round(trace.replayed_s, 1),
            "gaps": [_gap_json(g) for g in trace.gaps],
            "restarts": trace.restarts,
            "meter_fallbacks": trace.fallbacks,
            "defaults_taken": list(self.defaults),
            "notes": list(self.notes),
            "logged": self.logged.to_dict(),
            "replays": {run.name: run.to_dict() for run in self.runs},
            "bound_kwh": round(self.bound_kwh, 3),
            "bound_method": "per-step cap",
            "wall_s": round(self.wall_s, 2),
        }


def _gap_json(gap: Gap) -> dict[str, Any]:
    return {"from_s": gap.start_s, "to_s": gap.end_s, "seconds": gap.end_s - gap.start_s}


def run_replay(files: Sequence[str], candidate: Path | None) -> ReplayReport:
    """Read the logs, replay them with the logged site and (if given) the candidate."""
    started = time.monotonic()
    trace = read_trace(files)
    site, defaults = logged_site(trace.startup)
    runs = [replay(trace, site, "replay: logged site")]
    notes = []
    if candidate is not None:
        other = candidate_site(candidate)
        runs.append(replay(trace, other, "replay: candidate"))
        if other.tariff is not None:
            notes.append("the candidate's capacity tariff is not replayed (the fuse alone)")
    return ReplayReport(
        files=tuple(files),
        candidate=candidate,
        trace=trace,
        logged=logged_figures(trace, site.control.fuse),
        runs=tuple(runs),
        bound_kwh=bound_kwh(trace, site.control),
        defaults=tuple(defaults),
        notes=tuple(notes),
        wall_s=time.monotonic() - started,
    )
