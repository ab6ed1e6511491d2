"""Billing intervals on the Stockholm clock across DST, the local day of an interval, and the
windows and weights it counts in (issue 15 items 1 and 3)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadbalancer.tariff.calendar import (
    STOCKHOLM,
    counted_in,
    holiday_check,
    interval_start,
    local_day,
    local_time,
    month_of,
)
from loadbalancer.tariff.profile import load_tariff_profile
from tests.tariff.helpers import local_s


def starts_of_local_day(day: date, interval_s: int) -> list[int]:
    """Every interval start from the day's local midnight to the next one."""
    begin = local_s(day.year, day.month, day.day)
    nxt = day + timedelta(days=1)
    end = local_s(nxt.year, nxt.month, nxt.day)
    starts = []
    t = begin
    while t < end:
        starts.append(interval_start(t, interval_s))
        t = starts[-1] + interval_s
    return starts


def test_march_change_has_23_hours_and_no_local_two_o_clock() -> None:
    starts = starts_of_local_day(date(2026, 3, 29), 3600)
    hours = [local_time(s).hour for s in starts]
    assert len(starts) == 23 and 2 not in hours and hours[:3] == [0, 1, 3]
    assert all(local_day(s) == date(2026, 3, 29) for s in starts)
    assert len(starts_of_local_day(date(2026, 3, 29), 900)) == 92


def test_october_change_has_25_hours_two_of_them_at_two_o_clock_the_same_day() -> None:
    starts = starts_of_local_day(date(2026, 10, 25), 3600)
    hours = [local_time(s).hour for s in starts]
    assert len(starts) == 25 and hours[:5] == [0, 1, 2, 2, 3]
    assert starts[3] - starts[2] == 3600  # two distinct intervals, an hour apart
    assert {local_day(s) for s in starts} == {date(2026, 10, 25)}
    assert len(starts_of_local_day(date(2026, 10, 25), 900)) == 100


@pytest.mark.parametrize("when", [(2026, 1, 31, 23), (2026, 6, 30, 23), (2026, 6, 30, 0)])
def test_the_day_and_month_are_local_not_utc(when: tuple[int, int, int, int]) -> None:
    """23:00 on 31 January is 22:00 UTC, still January; 00:00 on 30 June is 22:00 UTC on the
    29th, yet the 30th locally."""
    start = local_s(*when)
    assert local_day(start) == date(*when[:3])
    assert month_of(start) == f"{when[0]}-{when[1]:02d}"
    assert datetime.fromtimestamp(start, STOCKHOLM).hour == when[3]


@given(
    t=st.floats(min_value=1.7e9, max_value=1.9e9, allow_nan=False),
    interval_s=st.sampled_from([3600, 900]),
)
def test_an_interval_holds_its_instant_and_starts_on_a_local_boundary(
    t: float, interval_s: int
) -> None:
    start = interval_start(t, interval_s)
    assert start <= t < start + interval_s
    local = local_time(start)
    assert local.second == 0 and (local.minute * 60) % interval_s == 0


def test_ellevio_night_hours_weigh_half() -> None:
    p = load_tariff_profile("ellevio")
    check = holiday_check(p.holidays)
    weights = {h: counted_in(p, local_s(2026, 1, 7, h), check)[0].weight for h in range(24)}
    assert {h for h, w in weights.items() if w == 0.5} == {22, 23, 0, 1, 2, 3, 4, 5}
    assert {w for w in weights.values()} == {0.5, 1.0}


def test_holidays_come_from_the_library_and_only_when_asked() -> None:
    se = holiday_check("SE")
    assert se(date(2026, 6, 6)) and se(date(2026, 12, 25)) and not se(date(2026, 12, 23))
    assert not holiday_check(None)(date(2026, 12, 25))


def test_an_unknown_holiday_country_is_a_config_error() -> None:
    from loadbalancer.errors import ConfigError

    with pytest.raises(ConfigError, match="no holiday calendar for 'XQ'"):
        holiday_check("XQ")
