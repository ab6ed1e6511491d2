"""The capacity tariff in ``loadbalancer log``: the month's billed peaks from the log.

The service writes a ``tariff_interval`` record when a billing interval closes (its energy from
the meter's import register). The review ranks them again by the profile's rules
(:class:`loadbalancer.tariff.peaks.MonthPeaks`, the same code the service keeps the month
with): per component the N intervals that count, their local days and hours, their weights,
the billed mean kW and, where the profile has a price, kr. A record's own ``peak_rank`` is the
rank when it was written; later intervals may have pushed it out, so it is not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadbalancer.errors import LoadBalancerError
from loadbalancer.review.facts import num
from loadbalancer.review.lines import TimedRecord, posix_s
from loadbalancer.tariff.calendar import HolidayCheck, holiday_check, local_time, month_of
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks, Peak
from loadbalancer.tariff.profile import TariffProfile, load_tariff_profile


@dataclass(frozen=True, slots=True)
class IntervalRow:
    """One ``tariff_interval`` record as read."""

    start_s: int
    #: its end (start + ``interval_s``; an hour where the record does not say)
    end_s: int
    energy_kwh: float
    mean_kw: float
    estimated: bool
    #: the budget in force then (None where the record does not say)
    budget_kw: float | None


@dataclass(frozen=True, slots=True)
class Billed:
    """One component's bill for the month."""

    component: str
    #: the N (fewer so far) peaks that count, highest first
    peaks: tuple[Peak, ...]
    billed_kw: float
    #: kr per kW and month, None when the profile has no price
    price_per_kw: float | None

    @property
    def cost_kr(self) -> float | None:
        return None if self.price_per_kw is None else self.billed_kw * self.price_per_kw


@dataclass(frozen=True, slots=True)
class TariffMonth:
    """One billing month of the log."""

    month: str
    profile: str
    intervals: tuple[IntervalRow, ...]
    estimated: int
    #: per component; empty when the profile could not be loaded (``problem`` says why)
    billed: tuple[Billed, ...]
    problem: str | None = None

    @property
    def cost_kr(self) -> float | None:
        costs = [b.cost_kr for b in self.billed]
        return None if not costs or None in costs else sum(c for c in costs if c is not None)


def read_interval(record: dict[str, Any]) -> tuple[str, IntervalRow] | None:
    """``(profile, row)`` of a ``tariff_interval`` record, None when it lacks what is needed."""
    profile, start = record.get("profile"), record.get("start")
    energy = num(record.get("energy_kwh"))
    start_s = posix_s(start) if isinstance(start, str) else None
    if not isinstance(profile, str) or start_s is None or energy is None or energy < 0:
        return None
    mean = num(record.get("mean_kw"))
    # the record's budget_kw is the limit on the interval's mean power (the budget / its
    # weight: a night hour at half weight may take twice); the budget in force is x weight
    limit, weight = num(record.get("budget_kw")), num(record.get("weight"))
    budget = limit * weight if limit is not None and weight is not None and weight > 0 else None
    length = num(record.get("interval_s"))
    length = length if length is not None and 0 < length <= 86400 else 3600.0
    return profile, IntervalRow(
        round(start_s),
        round(start_s + length),
        energy,
        mean if mean is not None else 0.0,
        record.get("estimated") is True,
        budget,
    )


def overlaps(row: IntervalRow, window: tuple[float, float]) -> bool:
    """Whether the interval overlaps ``window`` (its record, written at its end, may be the
    log's first; an interval from 17:00 counts in a review from 17:30)."""
    return row.start_s <= window[1] and row.end_s >= window[0]


def billed_month(
    profile: TariffProfile,
    month: str,
    intervals: Sequence[IntervalEnergy],
    is_holiday: HolidayCheck,
) -> tuple[Billed, ...]:
    """Each component's billed peaks over ``intervals`` (of ``month``), by peaks.py."""
    state = MonthPeaks(month)
    for energy in sorted(intervals, key=lambda e: e.start_s):
        state = state.add(profile, energy, is_holiday)
    return tuple(
        Billed(
            c.name,
            state.billed(profile, c.name),
            state.billed_kw(profile, c.name),
            c.price_per_kw if c.price_per_kw is not None else profile.price_per_kw,
        )
        for c in profile.components
    )


def tariff_months(
    records: Sequence[TimedRecord], window: tuple[float, float] | None = None
) -> tuple[TariffMonth, ...]:
    """The billing months of the ``tariff_interval`` records whose interval overlaps
    ``window``."""
    by_month: dict[tuple[str, str], dict[int, IntervalRow]] = {}
    for _, record in records:
        if record["event"] != "tariff_interval":
            continue
        found = read_interval(record)
        if found is None:
            continue
        name, row = found
        if window is not None and not overlaps(row, window):
            continue
        # an interval written twice (a restart at its edge): the later record counts
        by_month.setdefault((month_of(row.start_s), name), {})[row.start_s] = row
    return tuple(
        _month(name, month, sorted(rows.values(), key=lambda r: r.start_s))
        for (month, name), rows in sorted(by_month.items())
    )


def _month(name: str, month: str, rows: list[IntervalRow]) -> TariffMonth:
    estimated = sum(r.estimated for r in rows)
    try:
        profile = load_tariff_profile(name)
        energies = [IntervalEnergy(r.start_s, r.energy_kwh, r.estimated) for r in rows]
        billed = billed_month(profile, month, energies, holiday_check(profile.holidays))
    except LoadBalancerError as exc:
        return TariffMonth(month, name, tuple(rows), estimated, (), str(exc))
    return TariffMonth(month, name, tuple(rows), estimated, billed)


def peak_json(peak: Peak) -> dict[str, Any]:
    when = local_time(peak.start_s)
    return {
        "start": when.isoformat(),
        "day": peak.day.isoformat(),
        "hour": when.strftime("%H:%M"),
        "energy_kwh": round(peak.energy_kwh, 3),
        "weight": peak.weight,
        "peak_kw": round(peak.power_kw, 3),
        "estimated": peak.estimated,
    }


def month_json(month: TariffMonth) -> dict[str, Any]:
    """One month for ``log --json``."""
    return {
        "month": month.month,
        "profile": month.profile,
        "problem": month.problem,
        "intervals": len(month.intervals),
        "estimated_intervals": month.estimated,
        "billed": [
            {
                "component": b.component,
                "billed_kw": round(b.billed_kw, 3),
                "price_per_kw": b.price_per_kw,
                "cost_kr": None if b.cost_kr is None else round(b.cost_kr, 2),
                "peaks": [peak_json(p) for p in b.peaks],
            }
            for b in month.billed
        ],
        "interval_energies": [
            {
                "start": local_time(r.start_s).isoformat(),
                "energy_kwh": round(r.energy_kwh, 3),
                "mean_kw": round(r.mean_kw, 3),
                "estimated": r.estimated,
                "budget_kw": r.budget_kw,
            }
            for r in month.intervals
        ],
    }
