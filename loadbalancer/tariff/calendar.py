"""Billing intervals on the Europe/Stockholm clock, and which components an interval counts in.

Intervals are named by their start, in seconds since the epoch (UTC). They are aligned to the
local wall clock: a 60-minute interval starts on a local full hour, also on the days of 23 and
25 hours. The day, weekday, month and hour of an interval are those of its start, locally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from loadbalancer.errors import ConfigError
from loadbalancer.tariff.profile import TariffProfile

#: the billing clock of every Swedish grid operator
STOCKHOLM = ZoneInfo("Europe/Stockholm")

#: whether a local day is a public holiday
HolidayCheck = Callable[[date], bool]


def interval_start(t_s: float, interval_s: int, zone: ZoneInfo = STOCKHOLM) -> int:
    """The start of the interval that holds ``t_s``: the last local boundary at or before it."""
    whole = int(t_s // 1)
    offset = datetime.fromtimestamp(whole, zone).utcoffset()
    offset_s = int(offset.total_seconds()) if offset is not None else 0
    return whole - (whole + offset_s) % interval_s


def local_time(start_s: int, zone: ZoneInfo = STOCKHOLM) -> datetime:
    return datetime.fromtimestamp(start_s, zone)


def local_day(start_s: int, zone: ZoneInfo = STOCKHOLM) -> date:
    """The local day an interval belongs to (that of its start)."""
    return local_time(start_s, zone).date()


def month_of(start_s: int, zone: ZoneInfo = STOCKHOLM) -> str:
    """The billing month of an interval, ``YYYY-MM`` locally."""
    return local_time(start_s, zone).strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Counted:
    """An interval counts in ``component`` at ``weight``."""

    component: str
    weight: float


def counted_in(
    profile: TariffProfile, start_s: int, is_holiday: HolidayCheck, zone: ZoneInfo = STOCKHOLM
) -> tuple[Counted, ...]:
    """The components an interval counts in, with its weight in each (none: it is free)."""
    when = local_time(start_s, zone)
    day = when.date()
    holiday = profile.holidays is not None and is_holiday(day)
    found = [
        Counted(c.name, c.weight_at(when.hour))
        for c in profile.components
        if not c.rest and c.counts_on(day, holiday) and when.hour in c.hours
    ]
    if not found:
        found = [
            Counted(c.name, c.weight_at(when.hour))
            for c in profile.components
            if c.rest and c.counts_on(day, holiday) and when.hour in c.hours
        ]
    return tuple(found)


def holiday_check(country: str | None) -> HolidayCheck:
    """A public-holiday lookup for ``country``; the ``holidays`` library is imported only here,
    so a site without a tariff (or with a profile needing no calendar) never loads it."""
    if country is None:
        return _no_holidays
    try:
        import holidays
    except ImportError:
        raise ConfigError(
            "tariff",
            "holidays",
            f"the tariff needs the public holidays of {country}: install the 'holidays' library "
            "(pip install 'loadbalancer[tariff]')",
        ) from None
    try:
        calendar = holidays.country_holidays(country)
    except NotImplementedError:
        raise ConfigError("tariff", "holidays", f"no holiday calendar for {country!r}") from None

    @lru_cache(maxsize=64)
    def check(day: date) -> bool:
        return day in calendar

    return check


def _no_holidays(day: date) -> bool:
    return False
