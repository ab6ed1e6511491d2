"""A decision log turned into what ``simulate --replay`` runs again: the house and the cars.

Every ``telegram`` decision is one step. The house load per phase is the meter minus what the
chargers measured at that telegram; each car's demand is what it drew while it was not held by
its set-point (it drew clearly less than it was offered), and while it was held, at least what
it drew and otherwise what it last showed it wanted in this session (at first the charger's
maximum). A car that draws nothing though offered at least its minimum wants nothing (unplugged
or full); a paused car keeps its demand. The steps are held in arrays (a month is 260 000).

What cannot be rebuilt is a gap, kept and said, never filled: the service not running (a
restart, a stretch without records), the meter stale or without currents, a charger not read.
Neither the log's figures nor the replays count the time of a gap.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadbalancer.electric import IEC_MIN_CURRENT_A, PHASE_IN_USE_A, PHASES
from loadbalancer.errors import UsageError
from loadbalancer.review.facts import as_dict, as_list, num
from loadbalancer.review.lines import Record
from loadbalancer.review.stream import LogStream

#: a car counts as held by its set-point while it draws within this of its offer
HELD_WITHIN_A = 1.5
#: a stretch without a telegram decision longer than this many telegram periods is a gap
GAP_PERIODS = 3.0
#: a cut lowers a set-point by at least this much (smaller steps trim the meter's noise, and
#: depend on it: the replay's noise is not the log's)
CUT_MIN_A = 1.0


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch the replay does not run: ``why`` in words."""

    start_s: float
    end_s: float
    why: str


@dataclass
class CarTrace:
    """One charger's car over the steps (private to the replay; arrays, not lists)."""

    name: str
    phases: tuple[str, ...]
    max_current_a: float
    #: per step: what the car would draw per phase if offered all it wants
    demand_a: array[float] = field(default_factory=lambda: array("d"))
    #: per step: on how many of the charger's phases the car draws (a one-phase car: 1)
    used: array[int] = field(default_factory=lambda: array("b"))
    #: per step: what it drew (the largest phase) and what it was offered then
    drawn_a: array[float] = field(default_factory=lambda: array("d"))
    #: offer minus draw while held: the car's shortfall, the median taken
    shortfalls: list[float] = field(default_factory=list)
    _session_a: float = 0.0
    _used: int = 0
    #: the offer at the step before: a car just offered more may not have followed yet
    _offered_a: float = 0.0

    def shortfall_a(self) -> float:
        if not self.shortfalls:
            return 0.0
        ordered = sorted(self.shortfalls)
        return max(0.0, ordered[len(ordered) // 2])


@dataclass
class Trace:
    """The steps of the logs, the site they ran and what could not be rebuilt."""

    startup: Record | None = None
    t_s: array[float] = field(default_factory=lambda: array("d"))
    #: per step: the time it holds (to the next step; 0 before a gap)
    dt_s: array[float] = field(default_factory=lambda: array("d"))
    house_a: tuple[array[float], array[float], array[float]] = field(
        default_factory=lambda: (array("d"), array("d"), array("d"))
    )
    meter_a: tuple[array[float], array[float], array[float]] = field(
        default_factory=lambda: (array("d"), array("d"), array("d"))
    )
    cars: dict[str, CarTrace] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    restarts: int = 0
    fallbacks: int = 0
    #: the log's own cuts and pauses, over every decision (telegram or event), outside gaps
    logged_cuts: int = 0
    logged_pauses: int = 0
    unreadable: str | None = None

    @property
    def steps(self) -> int:
        return len(self.t_s)

    @property
    def replayed_s(self) -> float:
        return sum(self.dt_s)


def read_trace(paths: Iterable[str | Path], *, period_s: float | None = None) -> Trace:
    """The trace of the logs (plain, rotated or gzip, any order); a UsageError without steps."""
    stream = LogStream.of(paths)
    reader = _Reader(period_s)
    for t_s, record in stream:
        reader.add(t_s, record)
    trace = reader.finish()
    trace.unreadable = stream.unreadable.report()
    if trace.steps < 2:
        names = ", ".join(str(p) for p in stream.paths)
        raise UsageError(f"{names}: fewer than two telegram decisions with meter currents")
    return trace


class _Reader:
    """Walks the records once and fills the trace (private, mutable)."""

    def __init__(self, period_s: float | None) -> None:
        self.trace = Trace()
        self.period_s = period_s
        self.last_s: float | None = None  # the last step, None after a gap began
        self.broken: tuple[float, str] | None = None  # an open gap: since when, why
        self.stale = False
        self.setpoints: dict[str, float] = {}

    def add(self, t_s: float, record: Record) -> None:
        event = record["event"]
        if event == "decision":
            self._decision(t_s, record)
        elif event == "startup":
            if self.trace.startup is not None:
                self.trace.restarts += 1
                self._break(t_s, "the service restarted")
            self.trace.startup = record
            self._period_from(record)
        elif event == "shutdown":
            self._break(t_s, "the service stopped")
        elif event == "meter_stale":
            self.trace.fallbacks += 1
            self.stale = True
            self._break(t_s, "meter fallback (no valid telegram)")
        elif event == "meter_recovered":
            self.stale = False

    def _period_from(self, startup: Record) -> None:
        if self.period_s is None:
            self.period_s = num(as_dict(startup.get("control")).get("telegram_period_s"))

    def _break(self, t_s: float, why: str) -> None:
        """A gap begins at ``t_s``, or a telegram period after the last step if that is sooner
        (the step before it holds until then, and no longer)."""
        if self.last_s is not None:
            t_s = min(t_s, self.last_s + (self.period_s or 10.0))
            self.trace.dt_s[-1] = max(0.0, t_s - self.last_s)
            self.last_s = None
        if self.broken is None:
            self.broken = (t_s, why)

    def _decision(self, t_s: float, record: Record) -> None:
        entries = [c for c in as_list(record.get("chargers")) if isinstance(c, dict)]
        if record.get("trigger") == "telegram":
            self._telegram(t_s, record, entries)
        self._count(entries)

    def _telegram(self, t_s: float, record: Record, entries: list[dict[str, Any]]) -> None:
        meter = _phases(record.get("meter_a"))
        if meter is None or self.stale:
            self._break(t_s, "no meter currents in the decision")
            return
        if self.last_s is not None and t_s - self.last_s > GAP_PERIODS * (self.period_s or 10.0):
            self._break(t_s, "no telegram decision logged")
        measured = self._measured(entries)
        if measured is None:
            self._break(t_s, "a charger was not read")
            return
        self._step(t_s, meter, measured, entries)

    def _count(self, entries: list[dict[str, Any]]) -> None:
        """Cuts and pauses: each set-point against the last one logged for that charger."""
        inside_gap = self.broken is not None and self.last_s is None and bool(self.trace.steps)
        for entry in entries:
            name, setpoint = entry.get("name"), num(entry.get("setpoint_a"))
            if not isinstance(name, str) or setpoint is None:
                continue
            before = self.setpoints.get(name)
            self.setpoints[name] = setpoint
            if inside_gap or before is None:
                continue
            drawn = [x for x in as_list(entry.get("measured_a")) if num(x) is not None]
            if setpoint == 0.0 < before and max(drawn, default=0.0) > PHASE_IN_USE_A:
                self.trace.logged_pauses += 1
            if setpoint <= before - CUT_MIN_A:
                self.trace.logged_cuts += 1

    def _measured(self, entries: list[dict[str, Any]]) -> dict[str, tuple[float, ...]] | None:
        out: dict[str, tuple[float, ...]] = {}
        for entry in entries:
            name = entry.get("name")
            values = [num(x) for x in as_list(entry.get("measured_a"))]
            if not isinstance(name, str) or not values or None in values:
                return None
            out[name] = tuple(x for x in values if x is not None)
        return out

    def _step(
        self,
        t_s: float,
        meter: tuple[float, float, float],
        measured: dict[str, tuple[float, ...]],
        entries: list[dict[str, Any]],
    ) -> None:
        trace = self.trace
        if self.broken is not None:
            trace.gaps.append(Gap(self.broken[0], t_s, self.broken[1]))
            self.broken = None
        if self.last_s is not None:
            trace.dt_s[-1] = t_s - self.last_s
        house = list(meter)
        for entry in entries:
            name = str(entry["name"])
            phases = tuple(p for p in as_list(entry.get("phases")) if p in PHASES)
            amps = measured[name]
            for phase, amp in zip(phases, amps, strict=False):
                house[PHASES.index(phase)] -= amp
            car = trace.cars.get(name)
            if car is None:
                car = trace.cars[name] = self._car(name, phases, trace.steps)
            _follow(car, amps, num(entry.get("previous_a")))
        for car in trace.cars.values():
            if len(car.demand_a) < trace.steps + 1:  # not in this decision: no car
                _pad(car, trace.steps + 1)
        trace.t_s.append(t_s)
        trace.dt_s.append(0.0)
        for p in range(3):
            trace.house_a[p].append(house[p])
            trace.meter_a[p].append(meter[p])
        self.last_s = t_s

    def _car(self, name: str, phases: tuple[str, ...], steps: int) -> CarTrace:
        maximum = 16.0
        startup = self.trace.startup or {}
        for charger in as_list(startup.get("chargers")):
            if isinstance(charger, dict) and charger.get("name") == name:
                maximum = num(charger.get("max_current_a")) or maximum
        car = CarTrace(name, phases, maximum, _session_a=maximum, _used=len(phases))
        _pad(car, steps)
        return car

    def finish(self) -> Trace:
        if self.broken is not None and self.trace.steps:
            last = self.trace.t_s[-1] + self.trace.dt_s[-1]
            if last > self.broken[0]:  # a stop at the end of the log is no gap
                self.trace.gaps.append(Gap(self.broken[0], last, self.broken[1]))
        return self.trace


def _pad(car: CarTrace, steps: int) -> None:
    while len(car.demand_a) < steps:
        car.demand_a.append(0.0)
        car.used.append(len(car.phases))
        car.drawn_a.append(0.0)


def _follow(car: CarTrace, amps: tuple[float, ...], offered_a: float | None) -> None:
    """The car's demand at this step from what it drew under ``offered_a``."""
    drawn = max(amps, default=0.0)
    in_use = sum(1 for a in amps if a > PHASE_IN_USE_A)
    if in_use:
        car._used = in_use
    # offered more since the step before: the car may still be on its way up
    following = offered_a is not None and offered_a > car._offered_a + 0.05
    car._offered_a = offered_a or 0.0
    if offered_a is None or offered_a < IEC_MIN_CURRENT_A:
        demand = car._session_a if drawn <= PHASE_IN_USE_A else max(drawn, car._session_a)
    elif drawn <= PHASE_IN_USE_A:
        demand, car._session_a = 0.0, car.max_current_a  # nothing wanted; a new session next
    elif following:
        demand = max(drawn, car._session_a)
    elif drawn < offered_a - HELD_WITHIN_A:
        demand = car._session_a = drawn
    else:
        demand = max(drawn, car._session_a)
        car.shortfalls.append(offered_a - drawn)
        if len(car.shortfalls) > 2000:
            car.shortfalls = sorted(car.shortfalls)[500:1500]
    car.demand_a.append(demand)
    car.used.append(car._used)
    car.drawn_a.append(drawn)


def _phases(value: object) -> tuple[float, float, float] | None:
    phases = as_dict(value)
    values = [num(phases.get(p)) for p in PHASES]
    if None in values:
        return None
    return (values[0] or 0.0, values[1] or 0.0, values[2] or 0.0)
