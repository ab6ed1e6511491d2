"""``tariff.ready_by`` (issue 15 item 4): validated like every key; the next deadline on the
Stockholm clock; the energy a charger delivered and the power it still needs."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadbalancer.config import load_site
from loadbalancer.control.inputs import ChargerRead
from loadbalancer.errors import ConfigError
from loadbalancer.tariff.calendar import STOCKHOLM
from loadbalancer.tariff.ready_by import ReadyBy, next_deadline_s
from loadbalancer.tariff_ready import ReadyTracker

REPO = Path(__file__).resolve().parents[2]


def site_with(tmp_path: Path, ready_by: object) -> Path:
    raw: dict[str, Any] = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
    raw["tariff"] = {"profile": "ellevio", "budget_kw": 5, "ready_by": ready_by}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def charger_name() -> str:
    raw = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
    name: str = raw["chargers"][0]["name"]
    return name


def test_ready_by_is_read_per_charger(tmp_path: Path) -> None:
    name = charger_name()
    site = load_site(site_with(tmp_path, {name: {"time": "07:00", "energy_kwh": 20}}))
    assert site.tariff is not None
    assert site.tariff.ready_by == {name: ReadyBy(time(7, 0), 20.0)}
    assert site.tariff.summary().endswith(f"; {name} ready with 20 kWh by 07:00")


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        ({"nosuch": {"time": "07:00", "energy_kwh": 20}}, "tariff.ready_by", "nosuch"),
        ({"@": {"time": "7", "energy_kwh": 20}}, "tariff.ready_by.@.time", "not a local time"),
        ({"@": {"time": 420, "energy_kwh": 20}}, "tariff.ready_by.@.time", "quoted"),
        ({"@": {"time": "24:00", "energy_kwh": 20}}, "tariff.ready_by.@.time", "HH:MM"),
        ({"@": {"time": "07:00", "energy_kwh": 0}}, "tariff.ready_by.@.energy_kwh", "range"),
        ({"@": {"time": "07:00"}}, "tariff.ready_by.@.energy_kwh", "missing"),
        ({"@": {"time": "07:00", "energy_kwh": 20, "x": 1}}, "tariff.ready_by.@", "x"),
    ],
)
def test_a_bad_ready_by_is_one_line_naming_the_key(
    tmp_path: Path, entry: dict[str, Any], key: str, problem: str
) -> None:
    name = charger_name()
    entry = {name if k == "@" else k: v for k, v in entry.items()}
    with pytest.raises(ConfigError) as caught:
        load_site(site_with(tmp_path, entry))
    message = str(caught.value)
    assert key.replace("@", name) in message and problem in message
    assert "\n" not in message


def stockholm(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM).timestamp()


@pytest.mark.parametrize(
    ("now", "at", "deadline"),
    [
        (stockholm(2026, 1, 14, 18, 0), time(7, 0), stockholm(2026, 1, 15, 7, 0)),
        (stockholm(2026, 1, 15, 6, 59), time(7, 0), stockholm(2026, 1, 15, 7, 0)),
        (stockholm(2026, 1, 15, 7, 0), time(7, 0), stockholm(2026, 1, 16, 7, 0)),
        # March: 02:30 is skipped, the deadline is the hour after (03:30 summer time)
        (stockholm(2026, 3, 28, 22, 0), time(2, 30), stockholm(2026, 3, 29, 3, 30)),
        # October: 02:30 comes twice, the deadline is the first
        (stockholm(2026, 10, 24, 22, 0), time(2, 30), stockholm(2026, 10, 25, 2, 30)),
    ],
)
def test_the_next_deadline_is_on_the_stockholm_clock(now: float, at: time, deadline: float) -> None:
    assert next_deadline_s(now, at) == deadline


def read(at_s: float, amps: float, status: str = "C") -> ChargerRead:
    return ChargerRead((amps, amps, amps), status, True, at_s)


def test_delivered_energy_counts_from_plug_in_and_gives_the_power_still_needed() -> None:
    wall0 = stockholm(2026, 1, 14, 22, 0)  # 9 h before 07:00
    tracker = ReadyTracker({"carport": ReadyBy(time(7, 0), 20.0)}, wall0)
    assert tracker.update(0.0, wall0, {"carport": read(0.0, 0.0, "A")}) == {}  # no car
    needed = tracker.update(10.0, wall0 + 10, {"carport": read(10.0, 16.0)})
    assert needed["carport"] == pytest.approx(20.0 / ((9 * 3600 - 10) / 3600))
    # an hour at 16 A on three phases, read every 30 s: 11.04 kWh
    for t in range(40, 3611, 30):
        needed = tracker.update(t, wall0 + t, {"carport": read(t, 16.0)})
    assert tracker.delivered_kwh("carport") == pytest.approx(11.04)
    assert needed["carport"] == pytest.approx((20.0 - 11.04) / ((8 * 3600 - 10) / 3600))
    # unplugged and plugged again: counted afresh
    tracker.update(3620.0, wall0 + 3620, {"carport": read(3620.0, 0.0, "A")})
    tracker.update(3630.0, wall0 + 3630, {"carport": read(3630.0, 16.0)})
    assert tracker.delivered_kwh("carport") == 0.0


def test_the_count_starts_again_after_the_deadline_and_a_gap_adds_nothing() -> None:
    wall0 = stockholm(2026, 1, 15, 6, 0)
    tracker = ReadyTracker({"carport": ReadyBy(time(7, 0), 5.0)}, wall0)
    tracker.update(0.0, wall0, {"carport": read(0.0, 10.0)})
    tracker.update(1800.0, wall0 + 1800, {"carport": read(1800.0, 10.0)})  # a 30 min gap
    assert tracker.delivered_kwh("carport") == 0.0
    tracker.update(1830.0, wall0 + 1830, {"carport": read(1830.0, 10.0)})
    assert tracker.delivered_kwh("carport") == pytest.approx(6.9 * 30 / 3600)
    # 07:00 passed: the next deadline is tomorrow's, the count starts again
    needed = tracker.update(3700.0, wall0 + 3700, {"carport": read(3700.0, 10.0)})
    assert tracker.delivered_kwh("carport") == 0.0
    assert needed["carport"] == pytest.approx(5.0 / ((24 * 3600 - 100) / 3600))
