"""``loadbalancer log`` with a capacity tariff: the month's billed peaks (checked by hand against
Ellevio's and Göteborg Energi's rules), DST days, what the tariff limit cost, ``--explain``
naming the tariff's ceiling, and the ``--plot`` panel's series."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.cli import main
from loadbalancer.review.plot import plot_data
from loadbalancer.review.read import read_logs
from tests.review.tariff_logs import (
    STOCKHOLM,
    decision,
    interval,
    iso,
    local,
    startup,
    write,
)

#: a January week; Ellevio: the 3 highest hours on different days, 22-06 at half weight
JANUARY = [
    ("2026-01-05 18:00", 6.0),  # Mon: 6.0 kW, the lower of the day
    ("2026-01-05 19:00", 7.0),  # Mon: 7.0 kW, the day's highest
    ("2026-01-06 23:00", 10.0),  # Tue night: 10 kWh x 0.5 = 5.0 kW
    ("2026-01-07 12:00", 4.0),  # Wed: 4.0 kW
    ("2026-01-08 03:00", 9.0),  # Thu night: 9 x 0.5 = 4.5 kW
    ("2026-01-09 08:00", 3.0),  # Fri: 3.0 kW
]


def month_log(
    path: Path, hours: list[tuple[str, float]], *, profile: str = "ellevio", estimated: int = -1
) -> Path:
    first = local(hours[0][0])
    records = [startup(first - timedelta(hours=1), profile=profile)]
    records.append(decision(first - timedelta(hours=1), setpoint_a=16.0, reason="at_max"))
    records += [
        interval(local(start), kwh, profile=profile, estimated=i == estimated)
        for i, (start, kwh) in enumerate(hours)
    ]
    return write(path, sorted(records, key=lambda r: local_s(r["ts"])))


def local_s(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp()


def log_json(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["log", str(path), "--json", *args]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def billed_of(out: dict[str, Any], month: int = 0) -> dict[str, Any]:
    billed: dict[str, Any] = out["tariff"]["months"][month]["billed"][0]
    return billed


def test_ellevio_bills_the_three_highest_on_different_days_night_at_half(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = month_log(tmp_path / "d.jsonl", JANUARY, estimated=3)
    out = log_json(path, capsys)
    month = out["tariff"]["months"][0]
    assert (month["month"], month["profile"], month["problem"]) == ("2026-01", "ellevio", None)
    assert (month["intervals"], month["estimated_intervals"]) == (6, 1)
    billed = billed_of(out)
    # by hand: Mon 7.0 (not its 6.0: same day), Tue 10 x 0.5, Thu 9 x 0.5; mean 5.5 kW x 81 kr
    assert billed["billed_kw"] == 5.5
    assert billed["cost_kr"] == 445.5
    peaks = [(p["day"], p["hour"], p["weight"], p["peak_kw"]) for p in billed["peaks"]]
    assert peaks == [
        ("2026-01-05", "19:00", 1.0, 7.0),
        ("2026-01-06", "23:00", 0.5, 5.0),
        ("2026-01-08", "03:00", 0.5, 4.5),
    ]
    assert [e["energy_kwh"] for e in month["interval_energies"]] == [kwh for _, kwh in JANUARY]
    assert main(["log", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Capacity tariff ellevio, 2026-01: 6 intervals, 1 estimated" in text
    assert "billed all hours: 5.50 kW, the mean of 3 peak(s) x 81 kr/kW = 446 kr" in text
    assert "2026-01-06 Tue 23:00: 10.00 kWh x weight 0.5 = 5.00 kW" in text
    assert "highest intervals: 01-06 23:00 10.00 kWh, 01-08 03:00 9.00 kWh" in text


def test_goteborg_energi_counts_every_hour_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = log_json(month_log(tmp_path / "d.jsonl", JANUARY, profile="goteborg-energi"), capsys)
    billed = billed_of(out)
    # by hand: Tue 10, Thu 9, Mon 7 (the highest of each day): mean 26/3; no price in the profile
    assert billed["billed_kw"] == pytest.approx(26 / 3, abs=1e-3)
    assert billed["cost_kr"] is None
    assert [p["day"] for p in billed["peaks"]] == ["2026-01-06", "2026-01-08", "2026-01-05"]


def test_march_dst_day_takes_local_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2026-03-29: 02:00 does not exist; 06:00 CEST is a day hour (05:00 in winter time)."""
    hours = [("2026-03-29 01:00", 6.0), ("2026-03-29 03:00", 7.0), ("2026-03-29 06:00", 8.0)]
    out = log_json(month_log(tmp_path / "d.jsonl", hours), capsys)
    month = out["tariff"]["months"][0]
    assert [e["start"] for e in month["interval_energies"]] == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T06:00:00+02:00",
    ]
    (peak,) = billed_of(out)["peaks"]  # one day: one peak
    assert (peak["hour"], peak["weight"], peak["peak_kw"]) == ("06:00", 1.0, 8.0)


def test_october_dst_day_keeps_the_repeated_hour_and_local_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2026-10-25 has two 02:00 hours; 00:00 on the 26th (23:00 UTC on the 25th) is its own
    local day, so its peak counts beside the 25th's."""
    first = local("2026-10-25 00:00")
    utc = first.astimezone(UTC)
    # 02:00 CEST and 02:00 CET: the 3rd and 4th real hour of the day (wall-clock arithmetic
    # of aware datetimes would give 02:00 and 03:00)
    repeated = [(utc + timedelta(hours=h)).astimezone(STOCKHOLM) for h in (2, 3)]
    assert [iso(t)[11:29] for t in repeated] == ["02:00:00.000+02:00", "02:00:00.000+01:00"]
    records = [startup(first), decision(first, setpoint_a=16.0, reason="at_max")]
    records += [interval(t, 9.0) for t in repeated]
    records += [interval(local("2026-10-25 18:00"), 7.0), interval(local("2026-10-26 00:00"), 12.0)]
    path = write(tmp_path / "d.jsonl", sorted(records, key=lambda r: local_s(r["ts"])))
    out = log_json(path, capsys)
    month = out["tariff"]["months"][0]
    starts = [e["start"] for e in month["interval_energies"]]
    assert starts[:2] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    billed = billed_of(out)
    # by hand: the 25th's highest 7.0 (its nights 9 x 0.5 = 4.5), the 26th's 12 x 0.5 = 6.0
    assert [(p["day"], p["peak_kw"]) for p in billed["peaks"]] == [
        ("2026-10-25", 7.0),
        ("2026-10-26", 6.0),
    ]
    assert billed["billed_kw"] == 6.5


def test_an_unknown_profile_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = log_json(month_log(tmp_path / "d.jsonl", JANUARY, profile="elnat-x"), capsys)
    month = out["tariff"]["months"][0]
    assert (
        month["billed"] == []
        and "'elnat-x' is neither a bundled tariff profile" in (month["problem"])
    )
    assert len(month["interval_energies"]) == 6


def limited_evening(tmp_path: Path) -> Path:
    """17:00-17:20: 10 min at 16 A, 10 min held at 8 A by the tariff, then 10 s of a car that
    draws 3 A under an 8 A limit it already had (it takes all it wants)."""
    t0 = local("2026-01-12 17:00")
    tariff = {
        "budget_kw": 5.0,
        "interval_start": iso(t0),
        "energy_kwh_so_far": 3.2,
        "cars_kw": 5.5,
        "needed_kw": {},
    }
    records = [startup(t0)]
    records += [
        decision(t0 + timedelta(seconds=s), setpoint_a=16.0, reason="at_max", tariff=tariff)
        for s in range(0, 600, 10)
    ]
    records += [
        decision(t0 + timedelta(seconds=s), setpoint_a=8.0, reason="tariff_limit", tariff=tariff)
        for s in range(600, 1200, 10)
    ]
    records.append(
        decision(
            t0 + timedelta(seconds=1200),
            setpoint_a=8.0,
            reason="tariff_limit",
            drawing_a=3.0,
            tariff=tariff,
        )
    )
    records.append(decision(t0 + timedelta(seconds=1210), setpoint_a=8.0, reason="at_max"))
    return write(tmp_path / "d.jsonl", records)


def test_what_the_tariff_limit_cost_in_energy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = limited_evening(tmp_path)
    out = log_json(path, capsys)
    cost = out["tariff"]["tariff_limit"]
    # by hand: the fuse alone: min(19 - 2 A house, 16 A max) = 16 A; held at 8: 8 A x 3 x 230 V
    # = 5.52 kW for 600 s = 0.92 kWh; the car drawing 3 A under its 8 A took all it wanted
    assert cost["decisions"] == 61
    assert cost["limited_s"] == 610.0
    assert cost["denied_kwh"] == pytest.approx(0.92, abs=1e-9)
    assert cost["denied_kwh_by_charger"] == {"carport": pytest.approx(0.92, abs=1e-9)}
    assert out["tariff"]["months"] == []
    assert main(["log", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Tariff limit: 61 charger decisions, in force 10 min 10 s; energy denied about " in text
    assert "0.92 kWh (carport 0.92 kWh)" in text


def test_the_cost_in_a_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = limited_evening(tmp_path)
    out = log_json(path, capsys, "--since", "2026-01-12T17:15:00")
    # 17:15-17:20 of the 8 A hold: 300 s x 5.52 kW
    assert out["tariff"]["tariff_limit"]["denied_kwh"] == pytest.approx(0.46, abs=1e-9)


def explain_json(path: Path, at: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["log", str(path), "--explain", at, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_explain_names_the_tariff_ceiling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = local("2026-01-12 17:00")
    at = t0 + timedelta(minutes=36)
    tariff = {
        "budget_kw": 5.0,
        "interval_start": iso(t0),
        "energy_kwh_so_far": 3.2,
        "cars_kw": 1.4,
        "needed_kw": {},
    }
    records = [startup(t0), decision(at, setpoint_a=0.0, reason="tariff_limit", tariff=tariff)]
    out = explain_json(write(tmp_path / "d.jsonl", records), "17:36:30", capsys)
    facts = out["chargers"]["carport"]["tariff"]
    assert facts["budget_kwh"] == 5.0 and facts["left_s"] == 24 * 60
    assert facts["interval_s"] == 3600 and facts["cars_kw"] == 1.4
    text = "\n".join(out["text"])
    assert (
        "Tariff ceiling: the interval 17:00:00-18:00:00 may import 5 kW x 60 min = 5.00 kWh; "
        "3.20 kWh had been imported by 17:36:00, 24 min left (1.80 kWh left for 24 min: "
        "4.5 kW on average for house and cars)." in text
    )
    assert "The cars could still take 1.4 kW" in text
    assert "carport paused: its share is below its minimum on 3 phase(s)" in text


def test_explain_an_override_on_a_quarter_hour_tariff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = local("2026-01-12 17:15")
    tariff = {
        "budget_kw": 4.0,
        "interval_start": iso(t0),
        "energy_kwh_so_far": 0.9,
        "cars_kw": 0.0,
        "needed_kw": {"carport": 7.4},
    }
    records = [
        startup(t0, profile="generic-15min", budget_kw=4.0),
        decision(
            t0 + timedelta(minutes=10), setpoint_a=16.0, reason="tariff_override", tariff=tariff
        ),
    ]
    out = explain_json(write(tmp_path / "d.jsonl", records), "17:26", capsys)
    facts = out["chargers"]["carport"]["tariff"]
    # by hand: 4 kW x 15 min = 1 kWh; the decision at 17:25: 5 min left
    assert (facts["interval_s"], facts["budget_kwh"], facts["left_s"]) == (900, 1.0, 300)
    text = "\n".join(out["text"])
    assert "the interval 17:15:00-17:30:00 may import 4 kW x 15 min = 1.00 kWh" in text
    assert "carport must be ready by its time and needs 7.4 kW from now" in text


def test_plot_series_of_the_intervals_and_the_budget(tmp_path: Path) -> None:
    first = local("2026-01-06 22:00")
    records = [startup(first), decision(first, setpoint_a=16.0, reason="at_max")]
    records += [
        interval(first, 8.0, weight=0.5),
        interval(first + timedelta(hours=1), 4.0, weight=0.5),
        interval(first + timedelta(hours=8), 6.0),
    ]
    path = write(tmp_path / "d.jsonl", sorted(records, key=lambda r: local_s(r["ts"])))
    data = plot_data(read_logs([path]).records)
    assert data.tariff is not None
    assert data.tariff.mean_kw == (8.0, 4.0, 6.0)
    assert data.tariff.budget_kw == (5.0, 5.0, 5.0)
    assert data.tariff.may_take_kw == (10.0, 10.0, 5.0)  # a night hour at half weight: twice
    assert data.tariff.ends_s[0] - data.tariff.starts_s[0] == 3600
    # billed (ellevio): the 6th's 22:00 (4.0 kW), the 7th's 06:00 (6.0 kW)
    assert data.tariff.billed_s == (first.timestamp(), (first + timedelta(hours=8)).timestamp())
    pytest.importorskip("matplotlib")
    assert main(["log", str(path), "--plot", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_no_tariff_no_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = local("2026-01-12 17:00")
    path = write(tmp_path / "d.jsonl", [decision(t0, setpoint_a=16.0, reason="at_max")])
    assert "tariff" not in log_json(path, capsys)
    assert plot_data(read_logs([path]).records).tariff is None
