"""Every bundled tariff profile against its operator's published example, where the operator
gives one (issue 15 acceptance; the examples and where they are from: docs/tariffs.md).

Of the bundled profiles only SEOM publishes a worked example with figures: "the mean of the
three highest values on holiday-free weekdays 07-19 in a month; a mean of 5.7 kW costs
55.75 x 5.7 = 317.78 kr April-October and 111.50 x 5.7 = 635.55 kr November-March". The other
operators' rules (no figures given) are checked in tests/tariff/test_profiles.py.
"""

from __future__ import annotations

import pytest

from loadbalancer.tariff.calendar import holiday_check
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks
from loadbalancer.tariff.profile import TariffProfile, load_tariff_profile
from tests.tariff.helpers import local_s


def billed(
    profile: TariffProfile, component: str, hours: list[tuple[int, int, int, int, int]]
) -> float:
    """The component's billed kW over (year, month, day, hour, kWh-in-tenths) hours."""
    check = holiday_check(profile.holidays)
    month = MonthPeaks("2000-01")
    for year, mon, day, hour, tenths in hours:
        interval = IntervalEnergy(local_s(year, mon, day, hour), tenths / 10)
        month = month.add(profile, interval, check)
    return month.billed_kw(profile, component)


def price(profile: TariffProfile, component: str) -> float:
    found = next(c.price_per_kw for c in profile.components if c.name == component)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("component", "year", "month", "kr"),
    [("weekdays summer", 2026, 5, 317.78), ("weekdays winter", 2026, 11, 635.55)],
)
def test_seom_bills_its_published_example(component: str, year: int, month: int, kr: float) -> None:
    seom = load_tariff_profile("seom")
    # three weekday hours 07-19 whose mean is 5.7 kW (5.2, 5.9, 6.0), and higher hours that
    # do not count: 19:00 (outside 07-19), a Saturday, and in May a public holiday
    hours = [
        (year, month, 4, 8, 52),
        (year, month, 5, 18, 59),
        (year, month, 6, 12, 60),
        (year, month, 6, 19, 95),
        (year, month, 9 if month == 5 else 7, 12, 97),  # Saturday
    ]
    if month == 5:
        hours.append((year, month, 14, 12, 99))  # Ascension Day, a Thursday
    kw = billed(seom, component, hours)
    assert kw == pytest.approx(5.7)
    assert round(kw * price(seom, component), 2) == pytest.approx(kr, abs=0.011)


def test_seom_leaves_out_public_holidays() -> None:
    """ "helgfri vardag": a weekday that is a public holiday does not count."""
    seom = load_tariff_profile("seom")
    # Ascension Day (Thursday 2026-05-14) at 9 kW is the highest hour of the month, and is not
    # billed: the three weekday hours are
    hours = [(2026, 5, 14, 10, 90), (2026, 5, 4, 8, 30), (2026, 5, 5, 9, 30), (2026, 5, 6, 9, 30)]
    assert billed(seom, "weekdays summer", hours) == pytest.approx(3.0)
