"""A pause a user commanded (issue 17: a Home Assistant switch): ``Inputs.paused``.

The last step of ``decide``: a charger named there is set to 0 (``commanded_pause``) whatever
the rules gave it, unless it is offline (then its failsafe current is what it draws, which no
write can change). Its memory says 0, so its share goes to the others from the next decision,
and a user's pause is not counted as a pause for the contactor's sake. While the rules would
run it, its minimum fits: that time counts towards its resume, so it resumes at once after the
pause is lifted if its minimum has fitted for ``resume_delay_s``.
"""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ChargerMemory


def pause_commanded(
    before: ChargerMemory, memory: ChargerMemory, outcome: ChargerDecision, now_s: float
) -> tuple[ChargerMemory, ChargerDecision]:
    """One charger's memory and outcome after the other rules (``before``: its memory before
    this decision), paused."""
    if outcome.reason is Reason.CHARGER_OFFLINE_RESERVED:
        return memory, outcome
    room_since_s = memory.room_since_s
    if outcome.setpoint_a > 0:  # the rules would run it: its minimum fits
        room_since_s = before.room_since_s if before.room_since_s is not None else now_s
    since_s = memory.setpoint_since_s if before.setpoint_a == 0 else now_s
    paused = replace(
        memory,
        setpoint_a=0.0,
        setpoint_since_s=since_s,
        headroom_since_s=None,
        room_since_s=room_since_s,
    )
    return paused, replace(outcome, setpoint_a=0.0, reason=Reason.COMMANDED_PAUSE)
