"""Tariff profiles (issue 15 item 1): every bundled one loads, names its source and the day
its rules were read, and bills as its operator says; a bad profile is one line naming the file
and the key path."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from loadbalancer.errors import ConfigError
from loadbalancer.resources import bundled_profile_names, profiles_dir
from loadbalancer.tariff.calendar import counted_in, holiday_check
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks
from loadbalancer.tariff.profile import TariffProfile, load_tariff_profile
from tests.tariff.helpers import local_s

BUNDLED = [
    "ellevio",
    "falkenberg",
    "generic-15min",
    "generic-hourly",
    "goteborg-energi",
    "malarenergi",
    "seom",
]


def test_the_issue_s_profiles_are_bundled() -> None:
    assert bundled_profile_names("tariffs") == BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_each_bundled_profile_names_its_source_and_the_day_it_was_read(name: str) -> None:
    profile = load_tariff_profile(name)
    header = profiles_dir("tariffs").joinpath(f"{name}.yaml").read_text().split("\nname:")[0]
    assert header.startswith(f"# {name}: ")
    assert profile.read_on.isoformat() in header  # the header says the same day as read_on
    assert profile.source and profile.interval_s in (3600, 900)
    assert all(line.startswith("#") for line in header.splitlines())


def month_of(profile: TariffProfile, hours: list[tuple[int, int, int, int, float]]) -> MonthPeaks:
    """A month from (year, month, day, hour, kWh) hourly intervals."""
    check = holiday_check(profile.holidays)
    month = MonthPeaks("2000-01")
    for year, mon, day, hour, kwh in hours:
        month = month.add(profile, IntervalEnergy(local_s(year, mon, day, hour), kwh), check)
    return month


def test_ellevio_mean_of_three_days_and_night_hours_at_half() -> None:
    """Ellevio: the three highest hours on different days; 22-06 counts at half."""
    p = load_tariff_profile("ellevio")
    month = month_of(
        p,
        [
            (2026, 1, 5, 18, 6.0),
            (2026, 1, 5, 19, 7.0),  # same day: only the 7 kWh hour competes
            (2026, 1, 6, 23, 9.0),  # night: 4.5 kW
            (2026, 1, 7, 12, 5.0),
            (2026, 1, 8, 3, 8.0),  # night: 4 kW
        ],
    )
    billed = month.billed(p, "all hours")
    assert [(b.day.day, b.power_kw) for b in billed] == [(5, 7.0), (7, 5.0), (6, 4.5)]
    assert month.billed_kw(p, "all hours") == pytest.approx((7 + 5 + 4.5) / 3)


def test_goteborg_energi_counts_every_hour_alike_on_three_different_days() -> None:
    p = load_tariff_profile("goteborg-energi")
    month = month_of(p, [(2026, 2, 1, 3, 6.0), (2026, 2, 1, 4, 6.5), (2026, 2, 2, 23, 3.0)])
    assert [b.power_kw for b in month.billed(p, "all hours")] == [6.5, 3.0]


def test_malarenergi_bills_high_and_low_load_time_apart() -> None:
    """High load: November-March weekdays 07-19 (holidays low load); everything else low."""
    p = load_tariff_profile("malarenergi")
    check = holiday_check(p.holidays)

    def parts(*when: int) -> list[str]:
        return [c.component for c in counted_in(p, local_s(*when), check)]

    assert parts(2026, 1, 7, 10) == ["high load"]  # a Wednesday in January
    assert parts(2026, 1, 7, 19) == ["low load"]
    assert parts(2026, 1, 10, 10) == ["low load"]  # Saturday
    assert parts(2026, 1, 6, 10) == ["low load"]  # Epiphany, a public holiday
    assert parts(2026, 4, 8, 10) == ["low load"]  # April
    month = month_of(p, [(2026, 1, 7, 10, 4.0), (2026, 1, 7, 20, 9.0), (2026, 1, 7, 11, 5.0)])
    assert [b.power_kw for b in month.billed(p, "high load")] == [5.0, 4.0]
    assert [b.power_kw for b in month.billed(p, "low load")] == [9.0]  # not on different days


def test_seom_counts_only_weekdays_07_to_19_with_a_winter_and_a_summer_price() -> None:
    p = load_tariff_profile("seom")
    check = holiday_check(p.holidays)
    assert counted_in(p, local_s(2026, 11, 30, 7), check)[0].component == "weekdays winter"
    assert counted_in(p, local_s(2026, 6, 1, 18), check)[0].component == "weekdays summer"
    assert counted_in(p, local_s(2026, 11, 30, 19), check) == ()
    assert counted_in(p, local_s(2026, 11, 29, 12), check) == ()  # a Sunday
    prices = {c.name: c.price_per_kw for c in p.components}
    assert prices == {"weekdays winter": 111.5, "weekdays summer": 55.75}


def test_falkenberg_counts_winter_working_days_06_to_20_only() -> None:
    """Not weekends, public holidays, Christmas Eve, New Year's Eve, nor April-October."""
    p = load_tariff_profile("falkenberg")
    check = holiday_check(p.holidays)

    def counts(*when: int) -> bool:
        return bool(counted_in(p, local_s(*when), check))

    assert counts(2026, 12, 23, 6) and counts(2026, 12, 23, 19)
    assert not counts(2026, 12, 23, 20) and not counts(2026, 12, 23, 5)
    assert not counts(2026, 12, 24, 12)  # Christmas Eve, a Thursday
    assert not counts(2026, 12, 31, 12)  # New Year's Eve
    assert not counts(2026, 12, 25, 12)  # Christmas Day: a public holiday
    assert not counts(2027, 1, 6, 12)  # Epiphany, a Wednesday
    assert counts(2027, 1, 7, 12)
    assert not counts(2026, 10, 14, 12)  # October: no capacity fee


def test_the_generic_profiles_bill_the_single_highest_interval() -> None:
    hourly, quarter = load_tariff_profile("generic-hourly"), load_tariff_profile("generic-15min")
    assert (hourly.interval_s, hourly.peaks_n) == (3600, 1)
    assert (quarter.interval_s, quarter.peaks_n) == (900, 1)
    month = month_of(quarter, [(2026, 3, 2, 8, 1.0), (2026, 3, 2, 9, 1.5)])
    # a quarter-hour of 1.5 kWh is a 6 kW mean power
    assert [b.power_kw for b in month.billed(quarter, "all quarters")] == [6.0]


def problem(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_tariff_profile(str(path))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


GOOD = """\
source: my contract
read_on: 2026-11-30
interval_min: 60
peaks: 3
components:
  - name: day
    hours: ["07-19"]
"""


def test_a_profile_by_path_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    profile = load_tariff_profile(str(path))
    assert profile.name == "mine" and profile.read_on == date(2026, 11, 30)
    assert profile.components[0].hours == frozenset(range(7, 19))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("07-19", "22-30"), "components[0].hours[0]: '22-30' is not an hour range HH-HH (00-24)"),
        (("interval_min: 60", "interval_min: 30"), "interval_min: 30 is neither 60 nor 15"),
        (("read_on: 2026-11-30", "read_on: soon"), "read_on: expected a date YYYY-MM-DD"),
        (("peaks: 3", "peaks: 0"), "peaks: 0 is out of range (1..10)"),
        (
            ("hours:", "weekdays: [mon-fri, sun-x]\n    hours:"),
            "components[0].weekdays[1]: 'sun-x'",
        ),
        (("hours:", "holidays_excluded: true\n    hours:"), "holidays: missing"),
        (
            ("hours:", "days_excluded: ['02-30']\n    hours:"),
            "components[0].days_excluded[0]: '02-30' is not a day MM-DD",
        ),
        (("hours:", "colour: red\n    hours:"), "components[0].colour: unknown key"),
        (("  - name: day", "  - name: day\n    months: []"), "components[0].months: expected at"),
    ],
)
def test_a_bad_profile_is_one_line_naming_file_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    assert problem(tmp_path, GOOD.replace(*change)).startswith(expected)


def test_two_components_of_one_name_are_refused(tmp_path: Path) -> None:
    text = GOOD + "  - name: day\n"
    assert problem(tmp_path, text) == "components[1].name: 'day' is named twice"


def test_wrapping_ranges_hours_weekdays_months(tmp_path: Path) -> None:
    path = tmp_path / "wrap.yaml"
    path.write_text(
        GOOD.replace('["07-19"]', '["22-06"]') + "    months: [nov-feb]\n    weekdays: [sat-mon]\n"
    )
    component = load_tariff_profile(str(path)).components[0]
    assert component.hours == frozenset({22, 23, 0, 1, 2, 3, 4, 5})
    assert component.months == frozenset({11, 12, 1, 2})
    assert component.weekdays == frozenset({5, 6, 0})


def test_header_dates_agree_with_read_on() -> None:
    for name in BUNDLED:
        text = profiles_dir("tariffs").joinpath(f"{name}.yaml").read_text()
        dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", text.split("\nname:")[0]))
        assert dates == {load_tariff_profile(name).read_on.isoformat()}, name
