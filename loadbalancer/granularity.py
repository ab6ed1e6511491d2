"""The controller's current steps: which a box's step maps to, and whether a current is on one."""

from __future__ import annotations

from loadbalancer.control.config import GRANULARITIES_A


def multiple_of(value: float, step: float) -> bool:
    steps = value / step
    return abs(steps - round(steps)) <= 1e-6


def granularity(step_a: float) -> float | None:
    """The controller's step for a box's step: the box's own, or None if it has none we use."""
    for candidate in GRANULARITIES_A:
        if abs(step_a - candidate) < 1e-9:
            return candidate
    return None
