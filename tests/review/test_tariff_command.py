"""``loadbalancer tariff``: a month's billed peak from a decision log with and without the
limiter, checked against figures worked out by hand (Ellevio, one winter evening)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.cli import main
from tests.review.tariff_logs import STOCKHOLM, decision, local, startup, write

#: 2 A on each phase at 230 V
HOUSE_KW = 3 * 2.0 * 0.230
#: 16 A on three phases
CAR_KW = 3 * 16.0 * 0.230
#: the car's minimum, 6 A on three phases
CAR_MIN_KW = 3 * 6.0 * 0.230


def minutes(first: datetime, count: int) -> list[datetime]:
    """``count`` decision times a minute apart from ``first`` (in real time, across DST)."""
    utc = first.astimezone(UTC)
    return [(utc + timedelta(minutes=m)).astimezone(STOCKHOLM) for m in range(count)]


def evening(path: Path, *, limited: bool = False) -> Path:
    """2026-01-12 (Mon) 17:00-20:00, a decision a minute: the house 2 A a phase throughout; the
    car plugged in 18:00-19:00 at 16 A (``limited``: held at 6 A by the tariff, the fuse would
    have given it 16 A), no car before and after."""
    t0 = local("2026-01-12 17:00")
    records = [startup(t0)]
    for when in minutes(t0, 180):
        charging = 18 <= when.hour < 19
        if not charging:
            records.append(decision(when, setpoint_a=6.0, reason="no_car", drawing_a=0.0))
        elif limited:
            records.append(decision(when, setpoint_a=6.0, reason="tariff_limit"))
        else:
            records.append(decision(when, setpoint_a=16.0, reason="at_max"))
    end = local("2026-01-12 20:00")
    records.append(decision(end, setpoint_a=6.0, reason="no_car", drawing_a=0.0))
    return write(path, records)


def tariff_json(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    argv = ["tariff", "--profile", "ellevio", "--budget-kw", "5", "--margin-kw", "0", str(path)]
    assert main([*argv, "--json", *args]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_the_billed_peak_without_and_with_the_limiter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tariff_json(evening(tmp_path / "d.jsonl"), capsys)
    assert (out["month"], out["intervals"], out["incomplete_intervals"]) == ("2026-01", 3, 0)
    without, limited = out["without_limiter"], out["with_limiter"]
    # without: 18:00-19:00 imports house + car = 1.38 + 11.04 kWh, the day's (one) billed peak
    assert without["billed_kw"] == pytest.approx(HOUSE_KW + CAR_KW, abs=1e-3)
    assert without["cost_kr"] == pytest.approx((HOUSE_KW + CAR_KW) * 81, abs=0.01)
    assert without["cars_kwh"] == pytest.approx(CAR_KW, abs=1e-3)
    assert [p["hour"] for p in without["billed"]["all hours"]] == ["18:00"]
    # with: P = (5 - 1.38 t) / (1 - t) - 1.38 = 3.62 / (1 - t) kW after t hours: below the car's
    # 4.14 kW minimum until t = 0.1256 h, so the car starts at the 9th minute (t = 8/60) at
    # 3.62 / (52/60) kW and, taking P, keeps the interval exactly at its 5 kWh
    assert limited["billed_kw"] == pytest.approx(5.0, abs=1e-6)
    assert limited["cost_kr"] == pytest.approx(405.0, abs=1e-4)
    assert limited["cars_kwh"] == pytest.approx(5.0 - HOUSE_KW, abs=1e-6)
    # the rest of the car's wish it never got: it left at 19:00
    assert out["not_delivered_kwh"] == pytest.approx(CAR_KW - (5.0 - HOUSE_KW), abs=1e-3)
    assert out["log_had_limiter"] is False
    assert out["as_logged"]["billed_kw"] == without["billed_kw"]


def test_a_log_with_the_limiter_on_adds_what_the_cars_were_denied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tariff_json(evening(tmp_path / "d.jsonl", limited=True), capsys)
    assert out["log_had_limiter"] is True
    # as logged: the house and the car at 6 A; without: + the 10 A the fuse would have given
    assert out["as_logged"]["billed_kw"] == pytest.approx(HOUSE_KW + CAR_MIN_KW, abs=1e-3)
    assert out["without_limiter"]["billed_kw"] == pytest.approx(HOUSE_KW + CAR_KW, abs=1e-3)
    assert out["without_limiter"]["cars_kwh"] == pytest.approx(CAR_KW, abs=1e-3)
    assert out["with_limiter"]["billed_kw"] == pytest.approx(5.0, abs=1e-6)


def test_the_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = evening(tmp_path / "d.jsonl")
    argv = ["tariff", "--profile", "ellevio", "--budget-kw", "5", "--margin-kw", "0", str(path)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith(
        "ellevio: mean of the 3 highest hour peaks, on different days (all hours); budget 5 kW"
    )
    assert "Month 2026-01 in the log: 2026-01-12 17:00 to 2026-01-12 20:00, 3 intervals" in text
    assert "  without the limiter     12.42 kW     1006 kr      11.0 kWh" in text
    assert "  with the limiter         5.00 kW      405 kr       3.6 kWh (7.4 kWh not" in text
    assert "Billed intervals with the limiter (all hours):\n    2026-01-12 Mon 18:00: 5.00 kWh" in (
        text
    )


def test_night_hours_at_half_weight_may_take_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """22:00-23:00 counts at half in Ellevio's tariff: 5 kW billed is 10 kWh imported."""
    t0 = local("2026-01-12 22:00")
    records = [startup(t0)]
    records += [decision(w, setpoint_a=16.0, reason="at_max") for w in minutes(t0, 60)]
    records.append(decision(local("2026-01-12 23:00"), setpoint_a=6.0, reason="no_car"))
    out = tariff_json(write(tmp_path / "d.jsonl", records), capsys)
    assert out["without_limiter"]["billed_kw"] == pytest.approx((HOUSE_KW + CAR_KW) / 2, abs=1e-3)
    # the car takes all it wants the whole hour: 12.42 kWh is above 10 kWh, so the limiter holds
    # the interval at 10 kWh: 5 kW billed
    assert out["with_limiter"]["billed_kw"] == pytest.approx(5.0, abs=1e-6)
    assert out["with_limiter"]["billed"]["all hours"][0]["weight"] == 0.5


def test_march_dst_day_cuts_local_hours_and_weighs_them_by_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2026-03-29 00:00-07:00 is six hours (02:00 does not exist); 06:00 CEST is a day hour
    (a winter-time clock would call it 05:00, a night hour at half weight)."""
    times = minutes(local("2026-03-29 00:00"), 6 * 60 + 1)
    records = [startup(times[0])]
    records += [
        decision(
            w, setpoint_a=6.0, reason="no_car", drawing_a=0.0, house_a=4.0 if w.hour == 6 else 2.0
        )
        for w in times
    ]
    out = tariff_json(write(tmp_path / "d.jsonl", records), capsys)
    assert (out["intervals"], out["incomplete_intervals"]) == (6, 0)
    (peak,) = out["without_limiter"]["billed"]["all hours"]
    assert (peak["start"], peak["weight"]) == ("2026-03-29T06:00:00+02:00", 1.0)
    assert out["without_limiter"]["billed_kw"] == pytest.approx(2 * HOUSE_KW, abs=1e-3)


def test_october_dst_day_has_the_repeated_hour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2026-10-25 00:00-04:00 is five hours: 02:00 CEST and 02:00 CET are two intervals; the
    second is the highest here and is billed as 02:00+01:00."""
    times = minutes(local("2026-10-25 00:00"), 5 * 60 + 1)
    records = [startup(times[0])]
    records += [
        decision(
            w, setpoint_a=6.0, reason="no_car", drawing_a=0.0, house_a=4.0 if i // 60 == 3 else 2.0
        )
        for i, w in enumerate(times)
    ]
    out = tariff_json(write(tmp_path / "d.jsonl", records), capsys)
    assert (out["intervals"], out["incomplete_intervals"]) == (5, 0)
    (peak,) = out["without_limiter"]["billed"]["all hours"]
    assert (peak["start"], peak["weight"]) == ("2026-10-25T02:00:00+01:00", 0.5)
    assert out["without_limiter"]["billed_kw"] == pytest.approx(HOUSE_KW, abs=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "elnat-x"], "'elnat-x' is neither a bundled tariff profile nor a file"),
        (["--budget-kw", "0"], "--budget-kw 0: expected 0 < kW <= 100"),
        (["--budget-kw", "nan"], "--budget-kw nan: expected 0 < kW <= 100"),
        (["--margin-kw", "5"], "--margin-kw 5: expected 0 <= kW < the budget"),
        (["--month", "2026-13"], "--month '2026-13': expected YYYY-MM"),
        (["--month", "2026-02"], "--month 2026-02: not in the log (it has 2026-01)"),
    ],
)
def test_bad_usage_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = evening(tmp_path / "d.jsonl")
    argv = ["tariff", "--profile", "ellevio", "--budget-kw", "5", str(path), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("loadbalancer tariff: ")
    assert message in err


def test_a_log_without_meter_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = local("2026-01-12 17:00")
    stale = decision(t0, setpoint_a=6.0, reason="meter_stale_fallback")
    stale["house_a"] = dict.fromkeys(stale["house_a"])
    path = write(tmp_path / "d.jsonl", [startup(t0), stale])
    assert main(["tariff", "--profile", "ellevio", "--budget-kw", "5", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"loadbalancer tariff: {path}: no decision with meter figures (house_a): nothing to "
        "estimate from\n"
    )
    assert main(["tariff", "--profile", "ellevio", "--budget-kw", "5", "nope.jsonl"]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err
