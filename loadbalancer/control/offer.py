"""What may be offered per phase: the allowance plus what the cars leave unused of their offers."""

from __future__ import annotations

from collections.abc import Sequence

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online


def unused_a(charger: Online, config: ControlConfig, now_s: float) -> float:
    """How much of its offer the car leaves unused: measured once it has followed its last
    change (``ev_response_allowance_s``), remembered until it has followed the next one."""
    previous_a, since_s = charger.previous_a, charger.memory.setpoint_since_s
    if previous_a is None or previous_a <= 0 or charger.car_phases is None:
        return 0.0
    if since_s is None or now_s - since_s < config.ev_response_allowance_s:
        return charger.memory.unused_a
    wired = dict(zip(charger.spec.grid_phase_indices, charger.read.measured_a, strict=False))
    drawn_a = max(wired.get(p, previous_a) for p in charger.car_phases)
    return max(0.0, previous_a - drawn_a)


def with_unused(
    allowed_a: Sequence[float], online: Sequence[Online], unused: dict[int, float], margin_a: float
) -> list[float]:
    """What may be offered per phase: the allowance plus what the cars on it leave unused of
    their offers (a car that draws 1.5 A under its limit), at most the fuse's margin per
    phase: whatever the cars then draw, the phase stays within its rating, and while they
    keep drawing less, within the rating minus the margin."""
    credit_a = unused_credit_a(online, unused, margin_a)
    return [allowed + credit for allowed, credit in zip(allowed_a, credit_a, strict=True)]


def unused_credit_a(
    online: Sequence[Online], unused: dict[int, float], margin_a: float
) -> tuple[float, float, float]:
    """Per grid phase what :func:`with_unused` adds to the allowance: what the cars on it leave
    unused, at most the fuse's margin. Offered again, it is drawn as soon as a car takes all of
    its new offer (a car held at its minimum draws all of it): a hold's prediction adds it back."""
    extra_a = [0.0, 0.0, 0.0]
    for charger in online:
        for p in charger.car_phases or ():
            extra_a[p] += unused.get(charger.index, 0.0)
    return (min(extra_a[0], margin_a), min(extra_a[1], margin_a), min(extra_a[2], margin_a))
