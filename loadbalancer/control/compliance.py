"""A charger that draws more than its limit: rewrite, then pause, then alarm.

Pure: the service feeds each fresh read of a charger with the set-point in force and gets back
what to do. A car may take ``response_time_s`` to follow a new set-point (IEC 61851-1: 5 s for
the pilot, up to 10 s more for some cars; docs/control.md §The car and the pilot), so only a
draw above the limit that lasts longer than that counts. Each stage gets the same time again
before the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: a car counts as over its limit above limit + this (meter and charger rounding, EV tolerance)
OVER_LIMIT_TOLERANCE_A = 1.0


class Action(Enum):
    NONE = "none"
    REWRITE = "rewrite"  # write the same set-point again: the box may have missed it
    PAUSE = "pause"  # pause the charger: it does not follow its limit
    ALARM = "alarm"  # it ignores the pause too: a person must look


@dataclass(frozen=True, slots=True)
class ComplianceState:
    """``over_since_s``: when the draw first exceeded the limit (None: it does not);
    ``stage``: actions taken so far in this episode (0 none, 1 rewritten, 2 paused, 3 alarmed)."""

    over_since_s: float | None = None
    stage: int = 0
    stage_since_s: float | None = None


def check_compliance(
    state: ComplianceState,
    *,
    setpoint_a: float | None,
    measured_a: tuple[float, ...],
    now_s: float,
    response_time_s: float,
) -> tuple[ComplianceState, Action]:
    """The next state and the action due now (at most one per call)."""
    if setpoint_a is None or not measured_a:
        return ComplianceState(), Action.NONE
    drawing = max(measured_a)
    if drawing <= setpoint_a + OVER_LIMIT_TOLERANCE_A:
        if state.stage >= 2:  # paused for ignoring its limit: stays paused until it complies
            return ComplianceState(None, state.stage, state.stage_since_s), Action.NONE
        return ComplianceState(), Action.NONE
    over_since = state.over_since_s if state.over_since_s is not None else now_s
    since = state.stage_since_s if state.stage_since_s is not None else over_since
    if state.stage >= 3 or now_s - since < response_time_s:
        return ComplianceState(over_since, state.stage, since), Action.NONE
    stage = state.stage + 1
    action = {1: Action.REWRITE, 2: Action.PAUSE, 3: Action.ALARM}[stage]
    return ComplianceState(over_since, stage, now_s), action
