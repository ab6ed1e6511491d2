"""The pause of a car that ignores its limit (the compliance rule's pause).

The shell watches each charger's draw against its limit (:mod:`loadbalancer.control.compliance`)
and, once a rewrite did not help, says so in the read (``ChargerRead.ignores_limit``). From the
first such read the core pauses the charger (set-point 0, ``setpoint_ignored_pause``) for at
least ``resume_delay_s`` and until the car stops drawing above its limit; then the other rules
decide again. The start of the pause is kept in the charger's memory.
"""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.inputs import ChargerRead
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ChargerMemory


def pause_if_ignored(
    read: ChargerRead | None,
    since_s: float | None,
    memory: ChargerMemory,
    outcome: ChargerDecision,
    config: ControlConfig,
    now_s: float,
) -> tuple[ChargerMemory, ChargerDecision]:
    """One charger's memory and outcome after the other rules, with the pause applied.

    ``since_s``: when its pause began (the memory before this decision); an offline charger
    has no pause to keep."""
    if read is None or outcome.reason is Reason.CHARGER_OFFLINE_RESERVED:
        return _not_ignoring(memory), outcome
    if since_s is None and not read.ignores_limit:
        return _not_ignoring(memory), outcome
    since_s = now_s if since_s is None else since_s
    if not read.ignores_limit and now_s - since_s >= config.resume_delay_s:
        return _not_ignoring(memory), outcome
    paused = replace(outcome, setpoint_a=0.0, reason=Reason.SETPOINT_IGNORED_PAUSE)
    return replace(memory, ignored_since_s=since_s), paused


def _not_ignoring(memory: ChargerMemory) -> ChargerMemory:
    """``memory`` with no pause for an ignored limit (the same one if it has none: most
    chargers on every decision)."""
    if memory.ignored_since_s is None:
        return memory
    return replace(memory, ignored_since_s=None)
