"""Hand-written decision logs with known answers (10 s telegrams, one three-phase charger)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

#: the log's wall clock: a Swedish winter evening (UTC+01:00)
CET = timezone(timedelta(hours=1))
T0 = datetime(2026, 1, 14, 18, 0, 0, tzinfo=CET)
THREE = ["L1", "L2", "L3"]
PERIOD_S = 10
TARGET_A = 19.0  # 3x20A-gG with a 1 A margin


def ts(at_s: float) -> str:
    return (T0 + timedelta(seconds=at_s)).isoformat(timespec="milliseconds")


def at(at_s: float) -> float:
    """POSIX seconds of ``at_s`` seconds into the log."""
    return (T0 + timedelta(seconds=at_s)).timestamp()


def event(at_s: float, name: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts(at_s), "event": name, **fields}


def startup(at_s: float = 0.0, *, full: bool = True) -> dict[str, Any]:
    if not full:  # what the first service version wrote
        return event(at_s, "startup", fuse="3x20A-gG", chargers=[{"name": "carport"}])
    return event(
        at_s,
        "startup",
        version="0.1.0",
        fuse="3x20A-gG",
        fuse_rating_a=20.0,
        fuse_margin_a=1.0,
        fuse_phases=3,
        chargers=[{"name": "carport", "phases": THREE, "max_current_a": 16.0}],
        control={"safe_current_a": 6.0, "ramp_up_delay_s": 60.0, "resume_delay_s": 300.0},
    )


def decision(
    at_s: float,
    setpoint_a: float,
    reason: str,
    *,
    previous_a: float | None,
    house: tuple[float, float, float] = (2.0, 2.0, 2.0),
    drawing_a: float | None = None,
    online: bool = True,
    stale: bool = False,
    name: str = "carport",
) -> dict[str, Any]:
    """One decision; the car draws ``drawing_a`` (default: its previous set-point − 0.2 A)."""
    if drawing_a is None:
        drawing_a = max((previous_a or 0.0) - 0.2, 0.0)
    measured = [drawing_a] * 3 if online else []
    meter = [round(h + (drawing_a if online else 0.0), 3) for h in house]
    by_phase = dict(zip(THREE, meter, strict=True))
    return event(
        at_s,
        "decision",
        trigger="event" if stale else "telegram",
        meter_a=by_phase,
        meter_age_s=26.0 if stale else 0.1,
        house_a=dict.fromkeys(THREE) if stale else dict(zip(THREE, house, strict=True)),
        allowed_a=dict.fromkeys(THREE)
        if stale
        else {p: round(TARGET_A - h, 3) for p, h in zip(THREE, house, strict=True)},
        budget_used_s=dict.fromkeys(THREE, 0.0),
        chargers=[
            {
                "name": name,
                "measured_a": measured,
                "previous_a": previous_a,
                "setpoint_a": setpoint_a,
                "reason": reason,
                "phases": THREE,
            }
        ],
    )


def segment(
    start_s: int,
    end_s: int,
    setpoint_a: float,
    first: str,
    rest: str,
    previous_a: float | None,
    **kw: Any,
) -> list[dict[str, Any]]:
    """Decisions every 10 s from ``start_s`` up to (not including) ``end_s``."""
    out = [decision(start_s, setpoint_a, first, previous_a=previous_a, **kw)]
    kw.pop("house", None)
    kw.pop("drawing_a", None)
    out += [
        decision(t, setpoint_a, rest, previous_a=setpoint_a, **kw)
        for t in range(start_s + PERIOD_S, end_s, PERIOD_S)
    ]
    return out


#: the evening log's known answers (seconds at each limit, counts)
EVENING_AT_LIMIT_S = {"16": 1350.0, "7": 70.0, "6": 280.0, "0": 300.0}
EVENING_END_S = 2000


def evening() -> list[dict[str, Any]]:
    """2000 s: one overload cut (L1), one pause (L2), one meter fallback (60 s + until the
    raise), one charger outage of 40 s, two rejected telegrams and an alarm."""
    oven = (12.0, 2.0, 2.0)
    sauna = (2.0, 30.0, 2.0)
    records = [startup(0)]
    records += segment(0, 600, 16.0, "start", "at_max", None, drawing_a=0.0)
    records += segment(600, 670, 7.0, "overload_cut", "hold_ramp_delay", 16.0, house=oven)
    records += segment(670, 900, 16.0, "ramp_up", "at_max", 7.0)
    records += segment(900, 1200, 0.0, "min_current_pause", "paused_wait_resume", 16.0, house=sauna)
    records += segment(1200, 1260, 6.0, "resume", "hold_ramp_delay", 0.0)
    records += segment(1260, 1500, 16.0, "ramp_up", "at_max", 6.0)
    records.append(event(1500, "meter_stale", meter_age_s=25.0, rejected_telegrams=0))
    records.append(decision(1500, 6.0, "meter_stale_fallback", previous_a=16.0, stale=True))
    records.append(event(1560, "meter_recovered", meter_time=ts(1560)))
    records += segment(1560, 1620, 6.0, "hold_ramp_delay", "hold_ramp_delay", 6.0)
    records += segment(1620, 1800, 16.0, "ramp_up", "at_max", 6.0)
    records.append(event(1800, "charger_offline", charger="carport", error="connection refused"))
    records += segment(
        1800, 1840, 6.0, "charger_offline_reserved", "charger_offline_reserved", 16.0, online=False
    )
    records.append(event(1840, "charger_online", charger="carport", status="C", measured_a=[6.0]))
    records += segment(1840, 1900, 6.0, "hold_ramp_delay", "hold_ramp_delay", 6.0)
    records += segment(1900, 2000, 16.0, "ramp_up", "at_max", 6.0)
    records.append(event(1950, "meter_rejected", reason="bad CRC: got 1A2B", size_bytes=600))
    records.append(event(1955, "meter_rejected", reason="truncated", size_bytes=12))
    records.append(event(1960, "alarm", charger="carport", problem="charger ignores its limit"))
    records.append(event(EVENING_END_S, "shutdown", reason="signal", safe_current_a=6.0))
    return sorted(records, key=lambda r: r["ts"])


def write(path: Path, records: list[dict[str, Any]], *, tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path
