"""The month's billed peaks, from closed intervals' energies (pure: no clock, no I/O).

A peak is an interval's mean power times the weight of the window it falls in. Each component
bills the mean of its N highest peaks; with the "different days" rule only the highest peak of
each local day competes, so the N come from N different days. :class:`MonthPeaks` keeps, per
component, just what can still be billed: the highest peak of each day (different days), or
the N highest peaks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from loadbalancer.tariff.calendar import HolidayCheck, counted_in, local_day, month_of
from loadbalancer.tariff.profile import TariffProfile


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """What was imported in one closed interval."""

    start_s: int
    energy_kwh: float
    #: part of it came from integrating active power (a gap in the import register)
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Peak:
    component: str
    start_s: int
    #: the local day of the interval
    day: date
    #: the interval's mean power times its weight: what the bill counts
    power_kw: float
    energy_kwh: float
    weight: float
    estimated: bool = False


def peak_of(
    profile: TariffProfile, interval: IntervalEnergy, is_holiday: HolidayCheck
) -> list[Peak]:
    """The peak an interval makes in each component it counts in (none in a free hour)."""
    mean_kw = interval.energy_kwh / profile.interval_h
    day = local_day(interval.start_s)
    return [
        Peak(
            c.component,
            interval.start_s,
            day,
            mean_kw * c.weight,
            interval.energy_kwh,
            c.weight,
            interval.estimated,
        )
        for c in counted_in(profile, interval.start_s, is_holiday)
    ]


def _order(peak: Peak) -> tuple[float, int]:
    """Highest first; of equal peaks the earlier one (it was billed first)."""
    return (-peak.power_kw, peak.start_s)


@dataclass(frozen=True, slots=True)
class MonthPeaks:
    """The candidates for the month's bill, per component (see the module doc)."""

    #: the local billing month, ``YYYY-MM``
    month: str
    candidates: tuple[Peak, ...] = ()
    #: how many intervals were added, and how many of them estimated
    intervals: int = 0
    estimated: int = 0

    def add(
        self, profile: TariffProfile, interval: IntervalEnergy, is_holiday: HolidayCheck
    ) -> MonthPeaks:
        """This month with one more closed interval; an interval of a later month starts that
        month afresh (the rollover), one of an earlier month is ignored."""
        month = month_of(interval.start_s)
        state = self
        if month > self.month:
            state = MonthPeaks(month)
        elif month < self.month:
            return self
        kept = list(state.candidates)
        for peak in peak_of(profile, interval, is_holiday):
            kept = _keep(profile, kept, peak)
        return replace(
            state,
            candidates=tuple(sorted(kept, key=_order)),
            intervals=state.intervals + 1,
            estimated=state.estimated + interval.estimated,
        )

    def rolled(self, now_s: float) -> MonthPeaks:
        """A fresh month when ``now_s`` is in a later month than this one."""
        month = month_of(int(now_s))
        return MonthPeaks(month) if month > self.month else self

    def billed(self, profile: TariffProfile, component: str) -> tuple[Peak, ...]:
        """The (up to) N peaks that count in the bill of ``component``, highest first."""
        return tuple(p for p in self.candidates if p.component == component)[: profile.peaks_n]

    def billed_kw(self, profile: TariffProfile, component: str) -> float:
        """The billed figure so far: the mean of the N highest (fewer so far: of those, as the
        bill would be if the month ended now; 0 before any)."""
        peaks = self.billed(profile, component)
        return sum(p.power_kw for p in peaks) / len(peaks) if peaks else 0.0

    def paid_kw(self, profile: TariffProfile, component: str) -> float:
        """The N-th highest peak so far (0 while fewer than N): a new peak up to it does not
        change the bill, it only replaces the lowest of the N."""
        peaks = self.billed(profile, component)
        return peaks[-1].power_kw if len(peaks) == profile.peaks_n else 0.0


def follow_peak_kw(
    profile: TariffProfile,
    month: MonthPeaks,
    component: str,
    budget_kw: float,
    day: date | None = None,
) -> float:
    """``follow_peak``'s budget for a component: the configured one, raised to the month's N-th
    highest peak once that is above it (charging up to it costs nothing more). With the
    different-days rule and ``day`` given, also to that day's own billed peak: a higher hour the
    same day only replaces it."""
    today = 0.0
    if profile.different_days and day is not None:
        today = max(
            (p.power_kw for p in month.billed(profile, component) if p.day == day), default=0
        )
    return max(budget_kw, month.paid_kw(profile, component), today)


def allowed_kwh(
    profile: TariffProfile,
    month: MonthPeaks,
    start_s: int,
    budget_kw: float,
    follow_peak: bool,
    is_holiday: HolidayCheck,
) -> float | None:
    """The most energy the interval starting at ``start_s`` may import without a billed peak
    above the budget: in each component it counts in, the budget (``follow_peak``: raised as
    :func:`follow_peak_kw` says) times the interval's length, divided by the weight (a night
    hour at half weight may take twice as much); the least of them. None: the interval counts in
    no component, the tariff does not limit it."""
    day = local_day(start_s)
    month = month.rolled(start_s)  # last month's peaks raise nothing in this one
    limits = []
    for counted in counted_in(profile, start_s, is_holiday):
        kw = budget_kw
        if follow_peak:
            kw = follow_peak_kw(profile, month, counted.component, budget_kw, day)
        limits.append(kw * profile.interval_h / counted.weight)
    return min(limits, default=None)


def _keep(profile: TariffProfile, kept: list[Peak], peak: Peak) -> list[Peak]:
    """The candidates after ``peak``: per day only the highest (different days), and never more
    than N per component, since a lower one can never be billed."""
    mine = [p for p in kept if p.component == peak.component]
    others = [p for p in kept if p.component != peak.component]
    if profile.different_days:
        same_day = [p for p in mine if p.day == peak.day]
        if any(_order(p) <= _order(peak) for p in same_day):
            return kept
        mine = [p for p in mine if p.day != peak.day]
    mine = sorted([*mine, peak], key=_order)[: profile.peaks_n]
    return others + mine
