"""The raise rule: a raise only after the headroom has lasted ``ramp_up_delay_s``, to the lowest
allowance seen in that window, and only by at least ``min_raise_a``."""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control.allocate import EPSILON_A
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ChargerMemory


def ramp_up(
    charger: Online, previous_a: float, target_a: float, config: ControlConfig, now_s: float
) -> tuple[float, Reason, ChargerMemory]:
    """A running charger whose share ``target_a`` is above its set-point ``previous_a``: raised
    once the window has lasted, else kept with the window (its start and floor) remembered."""
    memory = charger.memory
    if memory.headroom_since_s is None:
        since_s, floor_a = now_s, target_a
    else:
        since_s, floor_a = memory.headroom_since_s, min(memory.headroom_floor_a, target_a)
    if now_s - since_s >= config.ramp_up_delay_s:
        if floor_a >= min(previous_a + config.min_raise_a, charger.claim.max_a) - EPSILON_A:
            return (
                floor_a,
                Reason.RAMP_UP,
                replace(memory, headroom_since_s=None, headroom_floor_a=0.0),
            )
        # too small a step to be worth a write: a new window from the headroom there is now
        since_s, floor_a = now_s, target_a
    waiting = replace(memory, headroom_since_s=since_s, headroom_floor_a=floor_a)
    return previous_a, Reason.HOLD_RAMP_DELAY, waiting
