"""A month-long decision log with a realistic cadence, for the review's and the replay's
benchmarks (``benchmarks/log_summary.py``, ``benchmarks/replay.py``).

A decision every 10 s telegram: a Swedish winter pattern (a low base load, cooking on L1 and a
water heater on L3 in the evening, a sauna on L2 on Fridays and Saturdays), one three-phase
charger with the car plugged in from the evening to the morning, cuts when the house load leaves
less room, a pause when not even 6 A fits, a few meter fallbacks, rejected telegrams and a
charger outage. The decisions come from a small stand-in for the control rules (cut at once,
raise after 60 s, resume after 300 s), written in the service's record format, after a
``startup`` record as the service writes it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASES

PERIOD_S = 10
CET = timezone(timedelta(hours=1))
START = datetime(2026, 1, 1, 0, 0, 0, tzinfo=CET)
TARGET_A = 19.0  # 3x20A-gG, 1 A margin
MIN_A, MAX_A = 6.0, 16.0
RAMP_UP_DELAY_S, RESUME_DELAY_S = 60, 300


def _house(rng: random.Random, t: datetime, loads: dict[str, int]) -> list[float]:
    """Per phase house current: base load plus the appliances running now."""
    hour = t.hour + t.minute / 60
    evening = 17 <= hour < 21
    base = 0.8 + (0.7 if 6 <= hour < 23 else 0.0)
    house = [base + rng.uniform(-0.2, 0.2) for _ in PHASES]
    # appliances: (phase, current, chance per record to switch on, run length in records)
    appliances = (
        ("oven", 0, 9.5, 0.002 if evening else 0.0, 120),
        ("kettle", 0, 8.7, 0.0005 if 6 <= hour < 22 else 0.0, 12),
        ("heater", 2, 8.0, 0.001 if evening else 0.0002, 180),
        ("sauna", 1, 15.0, 0.004 if evening and t.weekday() in (4, 5) else 0.0, 360),
    )
    for name, phase, current, chance, length in appliances:
        if loads.get(name, 0) == 0 and rng.random() < chance:
            loads[name] = length
        if loads.get(name, 0) > 0:
            loads[name] -= 1
            house[phase] += current
    return [round(x, 1) for x in house]


def _decision(
    trigger: str,
    figures: tuple[list[float], list[float], list[float]] | None,
    measured: list[float],
    previous: float | None,
    setpoint: float | None,
    reason: str,
    age_s: float = 25.0,
) -> dict[str, Any]:
    """A decision record's fields as the service writes them (figures None: meter stale)."""
    meter, house, allowed = figures if figures is not None else ([], [], [])

    def by_phase(values: list[float]) -> dict[str, float | None]:
        return dict(zip(PHASES, values, strict=True)) if values else dict.fromkeys(PHASES)

    return {
        "trigger": trigger,
        "meter_a": by_phase(meter),
        "meter_age_s": round(age_s, 3),
        "house_a": by_phase(house),
        "allowed_a": by_phase(allowed),
        "budget_used_s": dict.fromkeys(PHASES, 0.0),
        "chargers": [
            {
                "name": "carport",
                "measured_a": measured,
                "previous_a": previous,
                "setpoint_a": setpoint,
                "reason": reason,
                "phases": list(PHASES),
            }
        ],
    }


def generate(path: Path, days: int, seed: int = 6) -> int:
    """Write the log; returns the number of decision records."""
    rng = random.Random(seed)
    steps = days * 86400 // PERIOD_S
    fallbacks = {rng.randrange(steps) for _ in range(4)}
    outage_at = rng.randrange(steps)
    with path.open("w") as out:

        def write(t: datetime, event: str, **fields: Any) -> None:
            out.write(json.dumps({"ts": _ts(t), "event": event, **fields}) + "\n")

        write(
            START,
            "startup",
            version="0.1.0",
            **FUSE_AND_METER,
            chargers=[carport("127.0.0.1:502")],
            control={
                "safe_current_a": 6.0,
                "ramp_up_delay_s": RAMP_UP_DELAY_S,
                "resume_delay_s": RESUME_DELAY_S,
                "stale_after_s": 25.0,
                "resume_margin_a": 0.0,
                "resume_delay_max_s": RESUME_DELAY_S,
                "telegram_period_s": PERIOD_S,
                "poll_interval_s": 2.0,
                "failsafe_timeout_s": 60.0,
            },
        )
        stand = _StandIn(rng, write, fallbacks, outage_at)
        for step in range(steps):
            stand.step(step)
        end = START + timedelta(seconds=steps * PERIOD_S)
        write(end, "shutdown", reason="signal", safe_current_a=6.0)
    return stand.decisions


#: the site's fuse and meter as the ``startup`` record gives them (also in the review's tariff
#: logs)
FUSE_AND_METER: dict[str, Any] = {
    "fuse": "3x20A-gG",
    "fuse_rating_a": 20.0,
    "fuse_margin_a": 1.0,
    "fuse_phases": 3,
    "meter": "tcp://127.0.0.1:2000",
}


def carport(endpoint: str) -> dict[str, Any]:
    """The one charger as the ``startup`` record lists it (also in the review's tariff logs)."""
    return {
        "name": "carport",
        "profile": "alfen-eve",
        "endpoint": endpoint,
        "phases": list(PHASES),
        "min_current_a": MIN_A,
        "max_current_a": MAX_A,
        "priority": 1,
    }


def _ts(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


@dataclass
class _StandIn:
    """The house, the car, the faults and a stand-in for the control rules, one telegram
    period per :meth:`step`, writing what the service would write."""

    rng: random.Random
    write: Callable[..., None]
    fallbacks: set[int]
    outage_at: int
    loads: dict[str, int] = field(default_factory=dict)
    setpoint: float | None = None
    headroom_since: float | None = None
    paused_since: float | None = None
    stale_left: int = 0
    offline_left: int = 0
    decisions: int = 0
    energy_left_kwh: float = 0.0

    def step(self, step: int) -> None:
        rng = self.rng
        now_s = step * PERIOD_S
        t = START + timedelta(seconds=now_s, milliseconds=rng.randrange(0, 40))
        hour = t.hour + t.minute / 60
        if now_s % 86400 == 17.5 * 3600:
            self.energy_left_kwh = rng.uniform(10, 40)  # the car comes home
        plugged = self.energy_left_kwh > 0 and (hour >= 17.5 or hour < 7)
        house = _house(rng, t, self.loads)
        setpoint = self.setpoint or 0.0
        drawing = setpoint - 0.3 if plugged and setpoint >= MIN_A else 0.0
        used_kwh = drawing * 3 * NOMINAL_VOLTAGE_V * PERIOD_S / 3.6e6
        self.energy_left_kwh = max(0.0, self.energy_left_kwh - used_kwh)
        if step in self.fallbacks:
            self._fallback(t, drawing)
            return
        if self.stale_left:
            self.stale_left -= 1
            if self.stale_left:
                return
            self.write(t, "meter_recovered", meter_time=_ts(t))
        online = self._faults(t, step)
        measured = [round(drawing, 1)] * 3 if online else []
        meter = [round(h + drawing, 1) for h in house]
        allowed = [round(TARGET_A - h - (0 if online else 6.0), 1) for h in house]
        previous = self.setpoint
        self.setpoint, reason = self._control(now_s, math.floor(min(allowed)), online)
        self.decisions += 1
        figures = (meter, house, allowed)
        age_s = rng.uniform(0.05, 0.4)
        fields = _decision("telegram", figures, measured, previous, self.setpoint, reason, age_s)
        self.write(t, "decision", **fields)

    def _fallback(self, t: datetime, drawing: float) -> None:
        self.stale_left = 9
        self.write(t, "meter_stale", meter_age_s=25.0, rejected_telegrams=0)
        self.decisions += 1
        self.write(t, "decision", **_decision("event", None, [drawing] * 3, self.setpoint, 6.0,
                                              "meter_stale_fallback"))  # fmt: skip
        self.setpoint = 6.0

    def _faults(self, t: datetime, step: int) -> bool:
        """A rare rejected telegram, the charger's outage; whether the charger is online."""
        if self.rng.random() < 0.0005:
            self.write(t, "meter_rejected", reason="bad CRC: got 1A2B, computed 3C4D",
                       size_bytes=640, header="/ELL5")  # fmt: skip
        if step == self.outage_at:
            self.offline_left = 30
            self.write(t, "charger_offline", charger="carport", error="connection timed out")
        online = self.offline_left == 0
        if self.offline_left:
            self.offline_left -= 1
            if self.offline_left == 0:
                self.write(t, "charger_online", charger="carport", status="C", measured_a=[0.0] * 3)
        return online

    def _control(self, now_s: float, room: int, online: bool) -> tuple[float, str]:
        """The next set-point and its reason: cut at once, raise after 60 s, resume after 300 s."""
        previous = self.setpoint
        if not online:
            return 6.0, "charger_offline_reserved"
        if previous is None:
            return MIN_A, "start"
        if previous == 0:
            return self._paused(now_s, room)
        if room < MIN_A:
            self.headroom_since = None
            return 0.0, "min_current_pause"
        if room < previous:
            self.headroom_since = None
            return float(room), "overload_cut"
        if min(room, MAX_A) > previous:
            if self.headroom_since is None:
                self.headroom_since = now_s
            if now_s - self.headroom_since >= RAMP_UP_DELAY_S:
                self.headroom_since = None
                return float(min(room, MAX_A)), "ramp_up"
            return previous, "hold_ramp_delay"
        return previous, "at_max" if previous >= MAX_A else "steady"

    def _paused(self, now_s: float, room: int) -> tuple[float, str]:
        if room >= MIN_A + 1:
            if self.paused_since is None:
                self.paused_since = now_s
        else:
            self.paused_since = None
        if self.paused_since is not None and now_s - self.paused_since >= RESUME_DELAY_S:
            self.paused_since = None
            return MIN_A, "resume"
        return 0.0, "paused_wait_resume"
