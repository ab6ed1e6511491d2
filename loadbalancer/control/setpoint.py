"""The set-point of an online charger from its share: held at its minimum or paused (the minimum
rule), started, resumed, cut, kept, or raised. Every set-point is 0 or in [minimum, maximum], at
the charger's granularity, rounded down."""

from __future__ import annotations

import math
from dataclasses import replace

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.hold import Fit
from loadbalancer.control.ramp import ramp_up
from loadbalancer.control.reasons import Reason
from loadbalancer.control.rounding import floor_to_step
from loadbalancer.control.state import ChargerMemory


def setpoint_rule(
    charger: Online,
    fit: Fit,
    overloaded: set[int],
    config: ControlConfig,
    now_s: float,
    room_floor_a: float,
) -> tuple[float, Reason, ChargerMemory]:
    """The set-point of a charger taking part, its reason, and its raise-window memory.

    A resume goes in one step to the lowest share seen while it waited (``room_floor_a``),
    if that is still there: the wait was its raise window.
    """
    spec, previous_a, memory = charger.spec, charger.previous_a, charger.memory
    no_window = _no_window(memory)
    if charger.index in fit.held:
        return spec.min_current_a, Reason.MIN_CURRENT_HOLD, no_window
    if charger.index in fit.dropped:
        reason = Reason.PAUSED_WAIT_RESUME if previous_a == 0 else Reason.MIN_CURRENT_PAUSE
        if charger.index in fit.turned:
            reason = Reason.SHARE_ROTATION_PAUSE
        return 0.0, Reason.NO_CAR if charger.no_car else reason, no_window
    target_a = min(
        floor_to_step(fit.shares[charger.index], spec.granularity_a), charger.claim.max_a
    )
    if previous_a is None or (memory.fallback and previous_a > 0):
        # a start (or the first share after a fallback that left it running) goes straight to
        # what fits: what the raise delay guards against, a raise into headroom that does not
        # last, costs at most a cut, and the peers' controller starts at what fits too
        return max(spec.min_current_a, target_a), Reason.START, no_window
    if previous_a == 0:
        resume_a = floor_to_step(min(target_a, room_floor_a), spec.granularity_a)
        return max(spec.min_current_a, resume_a), Reason.RESUME, no_window
    if target_a < previous_a:
        cut = Reason.OVERLOAD_CUT if overloaded & set(charger.phases) else Reason.SHARE_CUT
        return target_a, cut, no_window
    if target_a == previous_a:
        reason = Reason.AT_MAX if previous_a >= charger.claim.max_a else Reason.STEADY
        return previous_a, Reason.NO_CAR if charger.no_car else reason, no_window
    return ramp_up(charger, previous_a, target_a, config, now_s)


def _no_window(memory: ChargerMemory) -> ChargerMemory:
    """``memory`` with no raise window open and no fallback (the same one if it has none)."""
    floor_a = memory.headroom_floor_a
    no_floor = floor_a == 0.0 and math.copysign(1.0, floor_a) > 0
    if memory.headroom_since_s is None and no_floor and not memory.fallback:
        return memory
    return replace(memory, headroom_since_s=None, headroom_floor_a=0.0, fallback=False)
