"""The month of issue 15 item 6 at reduced size, and the parts it is reckoned with."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbalancer.config import SiteConfig, load_site
from loadbalancer.sim.month import (
    ImportRegister,
    MonthFigures,
    MonthReport,
    billed_peak_kw,
    month,
    night_report,
    perfect_kwh,
    ready_by_night,
    run_evening,
    run_month,
)

SITE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return load_site(SITE)


def test_three_days_keep_the_billed_peak_within_the_budget(site: SiteConfig) -> None:
    budget_kw = 5.0
    days = month(7, 3, charger="carport", house_within_kw=budget_kw)
    assert sum(1 for day in days if day.evening.cars) >= 2
    report = run_month(days, site.control, budget_kw, 3600.0, margin_kw=0.05)
    assert report.limited.billed_peak_kw <= budget_kw * 1.02
    assert report.limited.worst_interval_kw <= budget_kw * 1.02
    # without the limiter the car takes the evening hours far above the budget
    assert report.unlimited.billed_peak_kw > budget_kw * 1.5
    assert report.limited.overload_s == report.unlimited.overload_s == 0
    # the bound is an upper bound, and the limiter comes close to it (the bar of 95 % is the
    # month's, benchmarks/tariff_month.py; three days have few intervals to average over)
    assert 0.9 * report.perfect_kwh <= report.limited.energy_kwh <= report.perfect_kwh


def test_the_billed_peak_is_the_mean_of_the_highest_hours_on_different_days() -> None:
    peaks = [(0, 9.0), (0, 8.0), (1, 4.0), (2, 5.0), (3, 2.0)]
    # day 0 counts once (9), then days 2 and 1: (9 + 5 + 4) / 3, not (9 + 8 + 5) / 3
    assert billed_peak_kw(peaks) == pytest.approx(6.0)
    assert billed_peak_kw([(0, 3.0)]) == 3.0


def test_the_register_tells_the_core_the_energy_up_to_now() -> None:
    register = ImportRegister(5.0, 3600.0, 0.1)
    register.observe(3598.0, (10.0, 10.0, 10.0))  # 6.9 kW for a second
    register.observe(3599.0, (10.0, 10.0, 10.0))
    at = register.tariff_at(3599.0)
    assert (at.interval_start_s, at.interval_end_s) == (0.0, 3600.0)
    assert at.energy_kwh_so_far == pytest.approx(6.9 / 3600)
    register.observe(3600.0, (-5.0, 0.0, 0.0))  # export counts as no import
    assert register.tariff_at(3600.0).energy_kwh_so_far == 0.0
    assert register.tariff_at(3599.0).energy_kwh_so_far == pytest.approx(2 * 6.9 / 3600)


def test_the_perfect_knowledge_bound_is_what_the_budget_leaves_the_car() -> None:
    day = month(3, 1, charger="carport")[0]
    evening = day.evening
    assert evening.cars
    plenty = perfect_kwh(evening, 100.0, 3600.0)
    car = evening.cars[0]
    # with an unlimited budget: the car at its maximum while plugged in
    assert plenty == pytest.approx(
        3 * 15.7 * 230 / 1000 * (evening.duration_s - car.plug_in_s) / 3600
    )
    assert perfect_kwh(evening, 0.5, 3600.0) == 0.0


def test_a_heat_pump_evening_pauses_a_handful_of_times_not_every_cycle(site: SiteConfig) -> None:
    """Day 26 of the bundled month: a heat pump short-cycling beside the car at a 5 kW budget.
    Pausing whenever the share dipped below the minimum opened the contactor 49 times in the
    evening; planned runs (start late, hold at the minimum while the hour's energy lasts)
    open it a handful of times, within the budget."""
    (day,) = month(1, 26, charger="carport", house_within_kw=5.0, from_day=25)
    evening = run_evening(day.evening, site.control, 5.0, 3600.0, margin_kw=0.05)
    assert evening.pauses <= 12
    assert max(evening.interval_kw) <= 5.0 * 1.02
    assert evening.energy_kwh >= 12.5


def test_a_ready_by_night_takes_what_it_needs_above_the_budget(site: SiteConfig) -> None:
    budget_kw = 5.0
    night = ready_by_night(1, house_within_kw=budget_kw)  # 60 kWh by 07:00
    empty = MonthReport(*(MonthFigures(0, 0, 0, 0, 0),) * 2, 0.0, 0.0)
    report = night_report(empty, night, site.control, budget_kw, 3600.0, 0.05)
    override, budget_only = report.override, report.budget_only
    # with its override the car has what it asked for by 07:00, above the budget
    assert override.ready_kwh >= 0.98 * 60.0
    assert override.worst_interval_kw > budget_kw * 1.02 and override.over_budget > 0
    # on the budget alone it gets less, and the night stays within the budget
    assert budget_only.ready_kwh < 0.6 * 60.0
    assert budget_only.worst_interval_kw <= budget_kw * 1.02 and budget_only.over_budget == 0
    assert override.overload_s == budget_only.overload_s == 0
