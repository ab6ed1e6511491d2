"""What the capacity tariff's limit cost the cars, and what they drew, decision by decision.

The estimate (pure, from the decision records alone): a charger whose decision says
``tariff_limit`` was offered its set-point; the fuse alone would have offered it the room on its
phases (``allowed_a``, what the online chargers may draw on each phase by the fuse: rating −
margin − house − reserve) less the other chargers' set-points there (a charger also held by the
tariff counts at what the fuse would have given it, taken in the log's order), no more than its
``max_current_a`` (from the startup record) and nothing below its ``min_current_a``. The
difference × its phases × 230 V, over the time the decision was in force, is the energy denied.
A car that drew over 1 A below a set-point kept from the decision before was taking all it
wanted: nothing is counted for it. It is an upper bound on what the car would have drawn: a car
may take less than it is offered (full soon, its own limit), and a car that is denied energy
now often takes it later in the evening.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from loadbalancer.control.reasons import Reason
from loadbalancer.electric import IEC_MIN_CURRENT_A, NOMINAL_VOLTAGE_V
from loadbalancer.review.facts import CompactDecision, as_dict, as_list, charger_entries, num
from loadbalancer.review.lines import Record, TimedRecord
from loadbalancer.review.timeline import decision_intervals

#: a car drawing this far below a set-point it already had is taking all it wants
SLACK_A = 1.0


@dataclass(frozen=True, slots=True)
class ChargerLimits:
    """A charger's own limits, from the startup record (None where it does not say)."""

    max_current_a: float | None = None
    min_current_a: float = IEC_MIN_CURRENT_A


def startup_limits(record: Record) -> dict[str, ChargerLimits]:
    """The chargers' limits a ``startup`` record names."""
    out: dict[str, ChargerLimits] = {}
    for entry in as_list(record.get("chargers")):
        if isinstance(entry, dict) and isinstance(name := entry.get("name"), str):
            low = num(entry.get("min_current_a"))
            out[name] = ChargerLimits(
                num(entry.get("max_current_a")), IEC_MIN_CURRENT_A if low is None else low
            )
    return out


@dataclass(frozen=True, slots=True)
class ChargerStep:
    """One charger over one decision interval."""

    name: str
    #: a car there able to charge (the reason is not ``no_car``)
    car: bool
    #: what it drew: the sum of its measured phase currents × 230 V (0 where unmeasured)
    drawn_kw: float
    #: what the fuse alone would have let it draw (see the module), kW
    fuse_kw: float
    #: its minimum, kW (its minimum current on each of its phases)
    min_kw: float
    #: the energy rate the tariff's limit denied it (0 unless ``tariff_limit``), kW
    denied_kw: float
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    """One decision interval: the house's draw (None: the meter gave nothing usable) and each
    charger's."""

    start_s: float
    end_s: float
    house_kw: float | None
    chargers: tuple[ChargerStep, ...]


def steps(records: Sequence[TimedRecord], *, limited_only: bool = False) -> Iterator[Step]:
    """Every decision interval of the log with its figures in kW (see the module);
    ``limited_only``: only those where a charger says ``tariff_limit`` (the summary of a month
    of compact decisions passes the others by at the cost of one look at each)."""
    limits = Limits([item for item in records if item[1]["event"] == "startup"])
    for start_s, end_s, record in decision_intervals(records):
        if limited_only and not limited(record):
            continue
        yield Step(start_s, end_s, house_kw(record), charger_steps(record, limits.at(start_s)))


def limited(record: Record) -> bool:
    """Whether a charger of the decision says ``tariff_limit`` (a compact decision has none:
    those are read whole)."""
    return type(record) is not CompactDecision and any(
        c.get("reason") == Reason.TARIFF_LIMIT for c in charger_entries(record)
    )


class Limits:
    """The chargers' limits of the last startup before each time asked (times in order)."""

    def __init__(self, startups: Sequence[TimedRecord]) -> None:
        self.starts = iter(startups)
        self.upcoming = next(self.starts, None)
        self.limits: dict[str, ChargerLimits] = {}

    def at(self, t_s: float) -> dict[str, ChargerLimits]:
        while self.upcoming is not None and self.upcoming[0] <= t_s:
            self.limits = startup_limits(self.upcoming[1])
            self.upcoming = next(self.starts, None)
        return self.limits


def house_kw(record: Record) -> float | None:
    """The house's draw (meter − chargers, ``house_a``) at 230 V per phase; None when no phase
    has a figure."""
    values = [v for v in map(num, as_dict(record.get("house_a")).values()) if v is not None]
    return max(0.0, sum(values)) * NOMINAL_VOLTAGE_V / 1000.0 if values else None


def charger_steps(record: Record, limits: Mapping[str, ChargerLimits]) -> tuple[ChargerStep, ...]:
    """Each charger of a decision: drawn, what the fuse alone would allow, what was denied."""
    entries = charger_entries(record)
    allowed = as_dict(record.get("allowed_a"))
    # what each charger counts at on its phases: its set-point, or for one the tariff held,
    # what the fuse would have given it (filled in as they are met)
    taken = {id(e): num(e.get("setpoint_a")) or 0.0 for e in entries}
    out = []
    for entry in entries:
        name = str(entry["name"])
        own = limits.get(name, ChargerLimits())
        phases = [p for p in as_list(entry.get("phases")) if isinstance(p, str)] or ["?"]
        volts_kw = len(phases) * NOMINAL_VOLTAGE_V / 1000.0
        others = [o for o in entries if o is not entry]
        room = [
            a - sum(taken[id(o)] for o in others if p in as_list(o.get("phases")))
            for p in phases
            if (a := num(allowed.get(p))) is not None
        ]
        fuse_a = min(room, default=0.0)
        if own.max_current_a is not None:
            fuse_a = min(fuse_a, own.max_current_a)
        fuse_a = fuse_a if fuse_a >= own.min_current_a else 0.0
        reason = str(entry.get("reason"))
        setpoint = num(entry.get("setpoint_a")) or 0.0
        measured = [v for v in map(num, as_list(entry.get("measured_a"))) if v is not None]
        denied_a = 0.0
        if reason == Reason.TARIFF_LIMIT and not _satisfied(entry, setpoint, measured):
            denied_a = max(0.0, fuse_a - setpoint)
            taken[id(entry)] = max(setpoint, fuse_a)
        out.append(
            ChargerStep(
                name,
                reason != Reason.NO_CAR,
                max(0.0, sum(measured)) * NOMINAL_VOLTAGE_V / 1000.0,
                fuse_a * volts_kw,
                own.min_current_a * volts_kw,
                denied_a * volts_kw,
                reason,
            )
        )
    return tuple(out)


def _satisfied(entry: Record, setpoint: float, measured: list[float]) -> bool:
    """The car drew well below a set-point it already had: it took all it wanted."""
    previous = num(entry.get("previous_a"))
    return (
        setpoint > 0
        and previous is not None
        and previous <= setpoint
        and bool(measured)
        and max(measured) < setpoint - SLACK_A
    )


@dataclass(frozen=True, slots=True)
class TariffCost:
    """The energy the tariff's limit denied the cars (see the module), and how it was found."""

    energy_kwh: float
    #: per charger, kWh
    by_charger: Mapping[str, float]
    #: the charger decisions that said ``tariff_limit``, and the time they were in force
    decisions: int
    limited_s: float


def tariff_cost(
    records: Sequence[TimedRecord], window: tuple[float, float] | None = None
) -> TariffCost:
    """The energy denied by the tariff's limit within ``window`` (the whole log by default)."""
    tally = CostTally(window)
    for step in steps(records, limited_only=True):
        tally.add(step)
    return tally.cost()


class CostTally:
    """The energy denied by the tariff's limit within ``window``, step by step."""

    def __init__(self, window: tuple[float, float] | None) -> None:
        self.window = window
        self.by_charger: dict[str, float] = {}
        self.decisions = 0
        self.limited_s = 0.0

    def add(self, step: Step) -> None:
        lo, hi = (step.start_s, step.end_s) if self.window is None else self.window
        dt_s = max(0.0, min(step.end_s, hi) - max(step.start_s, lo))
        counted = lo <= step.start_s <= hi
        if not counted and dt_s <= 0:
            return
        by_charger = self.by_charger
        for c in step.chargers:
            if c.reason != Reason.TARIFF_LIMIT:
                continue
            self.decisions += counted
            self.limited_s += dt_s
            by_charger[c.name] = by_charger.get(c.name, 0.0) + c.denied_kw * dt_s / 3600

    def cost(self) -> TariffCost:
        by_charger = self.by_charger
        return TariffCost(sum(by_charger.values()), by_charger, self.decisions, self.limited_s)
