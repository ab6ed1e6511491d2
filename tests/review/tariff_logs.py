"""Decision logs with a capacity tariff, built from records the schema validates
(:func:`loadbalancer.records.validated`): a startup with its tariff, decisions with their
``tariff`` object, and ``tariff_interval`` records, at known local times in Europe/Stockholm."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from benchmarks.month_log import FUSE_AND_METER, carport
from loadbalancer.records import validated

STOCKHOLM = ZoneInfo("Europe/Stockholm")
THREE = ["L1", "L2", "L3"]
#: the fuse's allowance for the chargers on each phase in these logs (3x20 A, 1 A margin)
TARGET_A = 19.0


def local(text: str) -> datetime:
    """A local wall-clock time in Stockholm, ``2026-01-05 18:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)


def iso(when: datetime) -> str:
    return when.astimezone(STOCKHOLM).isoformat(timespec="milliseconds")


def record(event: str, when: datetime, **fields: Any) -> dict[str, Any]:
    """A record as the service writes it: validated by the schema, ``ts`` first."""
    typed = validated(event, **fields)
    out: dict[str, Any] = {"ts": iso(when), "event": event}
    out.update({k: v for k, v in msgspec.to_builtins(typed).items() if k not in ("ts", "event")})
    return out


def startup(when: datetime, *, profile: str = "ellevio", budget_kw: float = 5.0) -> dict[str, Any]:
    return record(
        "startup",
        when,
        version="0.1.0",
        site="home",
        shadow=False,
        **FUSE_AND_METER,
        chargers=[carport("127.0.0.1:1502")],
        control={
            "safe_current_a": 6.0,
            "ramp_up_delay_s": 60.0,
            "resume_delay_s": 300.0,
            "stale_after_s": 25.0,
            "resume_margin_a": 1.0,
        },
        tariff={"profile": profile, "budget_kw": budget_kw, "mode": "cap", "margin_kw": 0.2},
    )


def decision(
    when: datetime,
    *,
    setpoint_a: float,
    reason: str,
    house_a: float = 2.0,
    drawing_a: float | None = None,
    previous_a: float | None = None,
    tariff: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One decision, the same house current on each phase; the car draws ``drawing_a``
    (default: its set-point) on each of three phases."""
    drawn = setpoint_a if drawing_a is None else drawing_a
    fields: dict[str, Any] = {
        "trigger": "telegram",
        "meter_a": dict.fromkeys(THREE, house_a + drawn),
        "meter_age_s": 0.1,
        "house_a": dict.fromkeys(THREE, house_a),
        "allowed_a": dict.fromkeys(THREE, TARGET_A - house_a),
        "budget_used_s": dict.fromkeys(THREE, 0.0),
        "chargers": [
            {
                "name": "carport",
                "measured_a": [drawn] * 3,
                "previous_a": setpoint_a if previous_a is None else previous_a,
                "setpoint_a": setpoint_a,
                "reason": reason,
                "phases": THREE,
            }
        ],
    }
    if tariff is not None:
        fields["tariff"] = tariff
    return record("decision", when, **fields)


def interval(
    start: datetime,
    energy_kwh: float,
    *,
    profile: str = "ellevio",
    estimated: bool = False,
    weight: float = 1.0,
    budget_kw: float = 5.0,
    rank: int | None = None,
) -> dict[str, Any]:
    """A ``tariff_interval`` record of the hour from ``start``, written at its end; as the
    service writes it, its ``budget_kw`` is the limit on the hour's mean power: the budget / the
    weight (null where the hour does not count)."""
    end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(STOCKHOLM)  # real time
    return record(
        "tariff_interval",
        end,
        profile=profile,
        start=iso(start),
        end=iso(end),
        interval_s=3600,
        energy_kwh=energy_kwh,
        mean_kw=energy_kwh,
        estimated=estimated,
        component="all hours",
        weight=weight,
        budget_kw=budget_kw / weight if weight > 0 else None,
        peak_rank=rank,
    )


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
