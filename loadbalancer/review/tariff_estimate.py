"""``loadbalancer tariff``: a month's billed peak from a decision log, with and without the limiter.

Pure: records in, figures out. The log is cut into decision intervals (each decision in force
until the next one, :mod:`.tariff_cost`), split at the billing intervals' edges (local time,
:func:`loadbalancer.tariff.calendar.interval_start`). In each piece:

- the house draws ``house_a`` (meter − chargers) of its decision, each phase at 230 V;
- each car wants what it drew (its measured currents at 230 V) plus what the tariff's limit
  denied it (:mod:`.tariff_cost`; 0 in a log without the limiter);
- **without the limiter** every interval imports the house plus what the cars wanted;
- **with the limiter** a discrete model of the core's tariff rule runs on that house load: at the
  start of each piece the cars may take P = (what the interval may import − the energy imported
  so far) / time left − the house's draw − the margin (what the interval may import: the budget
  × its length, divided by its weight, as :func:`loadbalancer.tariff.peaks.allowed_kwh` says;
  unlimited in an interval that counts nowhere). Each car in the log's order takes what it wants
  up to what is left of P, or pauses when that is below its minimum. What a car is denied it
  wants later, while it stays plugged in (its decisions do not say ``no_car``), up to what the
  fuse alone would let it draw; what it has not had when it leaves is reported as not delivered.
  The model has no ramp or resume delays and sees the house's draw of each decision exactly.

Both go through the profile's billing rules (:func:`.tariff_month.billed_month`, which ranks with
:class:`loadbalancer.tariff.peaks.MonthPeaks`). A piece without meter figures (the meter was
stale) adds nothing: its interval is marked estimated, as is one the log covers only in part.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from loadbalancer.errors import UsageError
from loadbalancer.review.lines import TimedRecord
from loadbalancer.review.tariff_cost import Step, steps
from loadbalancer.review.tariff_month import Billed, billed_month
from loadbalancer.tariff.calendar import HolidayCheck, interval_start, month_of
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks, allowed_kwh
from loadbalancer.tariff.profile import TariffProfile

#: an interval the log covers for less than its length minus this is only partly in the log
COVERAGE_SLACK_S = 60.0
#: the shortest time left counted at the end of an interval (as the core does)
MIN_TIME_LEFT_S = 1.0


@dataclass
class _Interval:
    """Running totals of one billing interval (private, mutable)."""

    without_kwh: float = 0.0
    with_kwh: float = 0.0
    logged_kwh: float = 0.0
    covered_s: float = 0.0
    unknown_s: float = 0.0
    #: what the cars took in it: wanted (without), given by the model (with), drawn (logged)
    cars_without_kwh: float = 0.0
    cars_with_kwh: float = 0.0
    cars_logged_kwh: float = 0.0
    #: what the model had not given a car when it left, booked where it left
    short_kwh: float = 0.0


@dataclass(frozen=True, slots=True)
class Case:
    """One way the month went: its billed components and what the cars got."""

    billed: tuple[Billed, ...]
    cars_kwh: float

    @property
    def billed_kw(self) -> float:
        """The highest component's billed figure (one component: its figure)."""
        return max((b.billed_kw for b in self.billed), default=0.0)

    @property
    def cost_kr(self) -> float | None:
        costs = [b.cost_kr for b in self.billed]
        return None if not costs or None in costs else sum(c for c in costs if c is not None)


@dataclass(frozen=True, slots=True)
class Estimate:
    profile: TariffProfile
    budget_kw: float
    margin_kw: float
    month: str
    first_s: float
    last_s: float
    intervals: int
    #: intervals only partly in the log, or with time without meter figures
    incomplete: int
    without: Case
    limited: Case
    #: the intervals as the log has them (differs from ``without`` when the log had the limiter)
    logged: Case
    #: the log's own decisions held cars at the tariff's limit
    log_had_limiter: bool
    #: what the modelled limiter did not deliver before the cars left, kWh
    short_kwh: float


@dataclass
class _Model:
    """The limiter's model over the log (private, mutable): see the module."""

    profile: TariffProfile
    budget_kw: float
    margin_kw: float
    is_holiday: HolidayCheck
    intervals: dict[int, _Interval] = field(default_factory=dict)
    backlog_kwh: dict[str, float] = field(default_factory=dict)
    limited: bool = False

    def piece(self, step: Step, start_s: float, end_s: float, edge_s: int) -> None:
        """One piece of ``step`` from ``start_s`` to ``end_s`` inside the interval ``edge_s``."""
        totals = self.intervals.setdefault(edge_s, _Interval())
        dt_h = (end_s - start_s) / 3600.0
        if step.house_kw is None:
            totals.unknown_s += end_s - start_s
            return
        totals.covered_s += end_s - start_s
        room_kw = self._room_kw(totals, step.house_kw, start_s, edge_s)
        want_sum = given_sum = drawn_sum = 0.0
        for car in step.chargers:
            backlog = self.backlog_kwh.get(car.name, 0.0)
            if not car.car:
                totals.short_kwh += backlog
                backlog = 0.0
            self.limited |= car.denied_kw > 0
            want = car.drawn_kw + car.denied_kw
            target = min(max(car.fuse_kw, want), want + backlog / dt_h) if dt_h > 0 else want
            given = target if target <= room_kw else room_kw if room_kw >= car.min_kw else 0.0
            room_kw -= given
            self.backlog_kwh[car.name] = max(0.0, backlog + (want - given) * dt_h)
            want_sum += want
            given_sum += given
            drawn_sum += car.drawn_kw
        totals.cars_without_kwh += want_sum * dt_h
        totals.cars_with_kwh += given_sum * dt_h
        totals.cars_logged_kwh += drawn_sum * dt_h
        totals.without_kwh += (step.house_kw + want_sum) * dt_h
        totals.with_kwh += (step.house_kw + given_sum) * dt_h
        totals.logged_kwh += (step.house_kw + drawn_sum) * dt_h

    def _room_kw(self, totals: _Interval, house_kw: float, now_s: float, edge_s: int) -> float:
        """What the cars may take from ``now_s``: the core's P (inf in a free interval)."""
        month = MonthPeaks(month_of(edge_s))
        may_kwh = allowed_kwh(self.profile, month, edge_s, self.budget_kw, False, self.is_holiday)
        if may_kwh is None:
            return math.inf
        left_h = max(edge_s + self.profile.interval_s - now_s, MIN_TIME_LEFT_S) / 3600.0
        return (may_kwh - totals.with_kwh) / left_h - house_kw - self.margin_kw


def pieces(step: Step, interval_s: int) -> Iterator[tuple[float, float, int]]:
    """``(from, to, interval start)`` of ``step`` cut at the billing intervals' edges."""
    t_s = step.start_s
    while t_s < step.end_s:
        edge_s = interval_start(t_s, interval_s)
        end_s = min(step.end_s, edge_s + interval_s)
        yield t_s, end_s, edge_s
        t_s = end_s


def estimate(
    records: Sequence[TimedRecord],
    profile: TariffProfile,
    budget_kw: float,
    margin_kw: float,
    is_holiday: HolidayCheck,
    month: str | None = None,
) -> Estimate:
    """The month's billed peak with and without the limiter (see the module). ``month``
    (``YYYY-MM``, local): default the month of the log's last decision with meter figures."""
    model = _Model(profile, budget_kw, margin_kw, is_holiday)
    for step in steps(records):
        for start_s, end_s, edge_s in pieces(step, profile.interval_s):
            model.piece(step, start_s, end_s, edge_s)
    metered = sorted(k for k, v in model.intervals.items() if v.covered_s > 0)
    if not metered:
        raise UsageError("no decision with meter figures (house_a): nothing to estimate from")
    chosen = month if month is not None else month_of(metered[-1])
    edges = [k for k in metered if month_of(k) == chosen]
    if not edges:
        months = sorted({month_of(k) for k in metered})
        raise UsageError(f"--month {chosen}: not in the log (it has {', '.join(months)})")
    incomplete = {
        k
        for k in edges
        if model.intervals[k].unknown_s > 0
        or model.intervals[k].covered_s < profile.interval_s - COVERAGE_SLACK_S
    }

    if edges[-1] == metered[-1]:  # the log ends in this month: the cars leave with the log
        model.intervals[edges[-1]].short_kwh += sum(model.backlog_kwh.values())
    totals = [model.intervals[k] for k in edges]

    def case(kwh_of: str) -> Case:
        energies = [
            IntervalEnergy(k, getattr(t, f"{kwh_of}_kwh"), k in incomplete)
            for k, t in zip(edges, totals, strict=True)
        ]
        cars = sum(getattr(t, f"cars_{kwh_of}_kwh") for t in totals)
        return Case(billed_month(profile, chosen, energies, is_holiday), cars)

    return Estimate(
        profile=profile,
        budget_kw=budget_kw,
        margin_kw=margin_kw,
        month=chosen,
        first_s=edges[0],
        last_s=edges[-1] + profile.interval_s,
        intervals=len(edges),
        incomplete=len(incomplete),
        without=case("without"),
        limited=case("with"),
        logged=case("logged"),
        log_had_limiter=model.limited,
        short_kwh=sum(t.short_kwh for t in totals),
    )
