"""Set-points at a charger's granularity: rounded down (a limit), up (a booking), or clamped."""

from __future__ import annotations

import math

from loadbalancer.control.config import ChargerSpec


def floor_to_step(current_a: float, granularity_a: float) -> float:
    """Rounded down to the granularity (a hair of float noise is forgiven, never rounded up)."""
    steps = math.floor(current_a / granularity_a + 1e-6)
    return round(steps * granularity_a, 3)


def ceil_to_step(current_a: float, spec: ChargerSpec) -> float:
    """Rounded UP to the charger's granularity (a booking errs high), at most its maximum."""
    steps = math.ceil(current_a / spec.granularity_a - 1e-6)
    return min(round(steps * spec.granularity_a, 3), spec.max_current_a)


def clamped(current_a: float, spec: ChargerSpec) -> float:
    """A fixed current (safe, failsafe) made valid for a charger: at most its maximum, at its
    granularity, and 0 when below its minimum."""
    value_a = floor_to_step(min(current_a, spec.max_current_a), spec.granularity_a)
    return value_a if value_a >= spec.min_current_a else 0.0
