"""The month's billed peaks (issue 15 items 2 and 3): the N highest, on different local days
when the profile says so, weighted, per component; follow_peak's paid peak; the rollover."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.tariff.calendar import holiday_check
from loadbalancer.tariff.peaks import (
    IntervalEnergy,
    MonthPeaks,
    allowed_kwh,
    follow_peak_kw,
    peak_of,
)
from loadbalancer.tariff.profile import Component, TariffProfile, load_tariff_profile
from tests.tariff.helpers import local_s

ALL = Component("all", frozenset(range(1, 13)), frozenset(range(7)), frozenset(range(24)))


def flat(peaks_n: int, different_days: bool, interval_s: int = 3600) -> TariffProfile:
    return replace(
        load_tariff_profile("generic-hourly"),
        peaks_n=peaks_n,
        different_days=different_days,
        interval_s=interval_s,
        components=(ALL,),
    )


def fill(profile: TariffProfile, intervals: list[IntervalEnergy]) -> MonthPeaks:
    check = holiday_check(profile.holidays)
    month = MonthPeaks("2000-01")
    for interval in intervals:
        month = month.add(profile, interval, check)
    return month


def hour(day: int, h: int, kwh: float, month: int = 1) -> IntervalEnergy:
    return IntervalEnergy(local_s(2026, month, day, h), kwh)


def test_different_days_takes_each_day_s_highest_only() -> None:
    same_day = [hour(3, 17, 9.0), hour(3, 18, 8.0), hour(3, 19, 7.0), hour(4, 8, 2.0)]
    profile = flat(3, different_days=True)
    billed = fill(profile, same_day).billed(profile, "all")
    assert [(b.day.day, b.power_kw) for b in billed] == [(3, 9.0), (4, 2.0)]
    plain = flat(3, different_days=False)
    assert [b.power_kw for b in fill(plain, same_day).billed(plain, "all")] == [9.0, 8.0, 7.0]


def test_a_local_day_not_a_utc_day_decides() -> None:
    """00:30 local on the 4th is 23:30 UTC on the 3rd: it is another day than 22:00 on the 3rd."""
    profile = flat(2, different_days=True)
    month = fill(profile, [hour(3, 22, 5.0), hour(4, 0, 6.0)])
    assert [b.day.day for b in month.billed(profile, "all")] == [4, 3]


def test_a_quarter_hour_peak_is_its_energy_times_four() -> None:
    profile = flat(1, False, interval_s=900)
    (peak,) = peak_of(
        profile, IntervalEnergy(local_s(2026, 1, 5, 8, 15), 2.0, True), lambda d: False
    )
    assert peak.power_kw == 8.0 and peak.estimated


def test_follow_peak_pays_for_the_n_th_highest_only_once_there_are_n() -> None:
    profile = flat(3, different_days=True)
    month = fill(profile, [hour(5, 18, 7.0), hour(6, 18, 6.0)])
    assert month.paid_kw(profile, "all") == 0.0
    assert follow_peak_kw(profile, month, "all", 5.0) == 5.0
    month = fill(profile, [hour(5, 18, 7.0), hour(6, 18, 6.0), hour(7, 18, 5.5), hour(8, 1, 1.0)])
    assert month.paid_kw(profile, "all") == 5.5
    assert follow_peak_kw(profile, month, "all", 5.0) == 5.5
    assert follow_peak_kw(profile, month, "all", 6.0) == 6.0


def test_a_new_month_starts_afresh_and_an_old_interval_is_ignored() -> None:
    profile = flat(3, different_days=True)
    january = fill(profile, [hour(30, 18, 9.0), hour(31, 23, 8.0)])
    assert january.month == "2026-01" and january.intervals == 2
    february = january.add(profile, hour(1, 0, 1.0, month=2), holiday_check(None))
    assert february.month == "2026-02" and february.intervals == 1
    assert [b.power_kw for b in february.billed(profile, "all")] == [1.0]
    assert february.add(profile, hour(31, 22, 9.9), holiday_check(None)) == february
    assert january.rolled(local_s(2026, 2, 1, 0)) == MonthPeaks("2026-02")
    assert january.rolled(local_s(2026, 1, 31, 23, 59)) is january


def test_estimated_intervals_are_counted() -> None:
    profile = flat(1, False)
    month = fill(profile, [hour(2, 1, 1.0), replace(hour(2, 2, 3.0), estimated=True)])
    assert (month.intervals, month.estimated) == (2, 1)
    assert month.billed(profile, "all")[0].estimated


def brute_force(profile: TariffProfile, intervals: list[IntervalEnergy]) -> dict[str, list[float]]:
    """The billed peaks the slow way: every peak, the day's best when days must differ."""
    check = holiday_check(profile.holidays)
    by_component: dict[str, list[tuple[float, int, object]]] = defaultdict(list)
    for interval in intervals:
        for peak in peak_of(profile, interval, check):
            by_component[peak.component].append((peak.power_kw, peak.start_s, peak.day))
    billed = {}
    for name, peaks in by_component.items():
        if profile.different_days:
            best: dict[object, tuple[float, int]] = {}
            for power, start, day in peaks:
                if day not in best or (-power, start) < (-best[day][0], best[day][1]):
                    best[day] = (power, start)
            ranked = sorted(best.values(), key=lambda p: (-p[0], p[1]))
        else:
            ranked = sorted(((p, s) for p, s, _ in peaks), key=lambda p: (-p[0], p[1]))
        billed[name] = [p for p, _ in ranked[: profile.peaks_n]]
    return billed


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["ellevio", "malarenergi", "falkenberg", "seom", "goteborg-energi"]),
    different_days=st.booleans(),
    peaks_n=st.integers(1, 5),
    hours=st.lists(
        st.tuples(st.integers(0, 30 * 24 - 1), st.floats(0, 12, allow_nan=False)),
        min_size=1,
        max_size=80,
        unique_by=lambda x: x[0],
    ),
)
def test_the_tracker_bills_what_the_brute_force_bills(
    name: str, different_days: bool, peaks_n: int, hours: list[tuple[int, float]]
) -> None:
    """Random months over the bundled windows and weights, in any order (a rebuilt month may
    come in another order than it happened): the kept candidates give the same bill."""
    profile = replace(load_tariff_profile(name), different_days=different_days, peaks_n=peaks_n)
    base = local_s(2026, 1, 1)  # no DST change in January: offsets are whole hours
    intervals = [IntervalEnergy(base + h * 3600, kwh) for h, kwh in hours]
    month = fill(profile, intervals)
    expected = brute_force(profile, intervals)
    for component in profile.components:
        got = [p.power_kw for p in month.billed(profile, component.name)]
        assert got == pytest.approx(expected.get(component.name, []))


def test_a_follow_peak_day_may_rise_to_its_own_billed_peak() -> None:
    """Different days: a second hour of a day already billed at 7 kW only replaces it."""
    profile = flat(3, different_days=True)
    month = fill(profile, [hour(5, 18, 7.0)])
    assert follow_peak_kw(profile, month, "all", 5.0) == 5.0
    day5 = month.billed(profile, "all")[0].day
    assert follow_peak_kw(profile, month, "all", 5.0, day5) == 7.0
    plain = flat(3, different_days=False)
    assert follow_peak_kw(plain, fill(plain, [hour(5, 18, 7.0)]), "all", 5.0, day5) == 5.0


def test_the_allowed_energy_of_an_interval_follows_its_windows_and_weight() -> None:
    ellevio = load_tariff_profile("ellevio")
    none = MonthPeaks("2026-01")
    check = holiday_check(None)
    assert allowed_kwh(ellevio, none, local_s(2026, 1, 7, 18), 5.0, False, check) == 5.0
    assert allowed_kwh(ellevio, none, local_s(2026, 1, 7, 23), 5.0, False, check) == 10.0
    quarter = load_tariff_profile("generic-15min")
    assert allowed_kwh(quarter, none, local_s(2026, 1, 7, 18), 5.0, False, check) == 1.25
    seom = load_tariff_profile("seom")
    assert allowed_kwh(seom, none, local_s(2026, 1, 10, 12), 5.0, False, check) is None
    paid = fill(ellevio, [hour(5, 18, 7.0), hour(6, 18, 6.0), hour(7, 8, 6.5)])
    at_18 = local_s(2026, 1, 8, 18)
    assert allowed_kwh(ellevio, paid, at_18, 5.0, True, check) == 6.0
    assert allowed_kwh(ellevio, paid, at_18, 5.0, False, check) == 5.0
    # a new month: January's peaks raise nothing in February
    assert allowed_kwh(ellevio, paid, local_s(2026, 2, 2, 18), 5.0, True, check) == 5.0


def test_the_october_change_s_two_2_o_clock_hours_are_one_day() -> None:
    profile = flat(2, different_days=True)
    first, second = local_s(2026, 10, 25, 2), local_s(2026, 10, 25, 2, fold=1)
    assert second - first == 3600
    month = fill(profile, [IntervalEnergy(first, 4.0), IntervalEnergy(second, 5.0)])
    assert [(p.start_s, p.power_kw) for p in month.billed(profile, "all")] == [(second, 5.0)]
