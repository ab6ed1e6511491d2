"""Reason codes of the decision log: one code, one rule, one line each."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a charger's set-point is what it is; the value is what the decision log writes."""

    #: lowered in this decision because the offers no longer fit what one of its phases allows
    OVERLOAD_CUT = "overload_cut"
    #: lowered in this decision (no phase over) to make room for another charger's share
    SHARE_CUT = "share_cut"
    #: raised, because the headroom has lasted ``ramp_up_delay_s`` (raised to the lowest level seen)
    RAMP_UP = "ramp_up"
    #: there is headroom, but it has not yet lasted ``ramp_up_delay_s``: the set-point is kept
    HOLD_RAMP_DELAY = "hold_ramp_delay"
    #: even its minimum does not fit, but the fuse allows it: within the rating while the budget
    #: lasts, above it for a spike (``spike_hold_s``) or on little budget, above the hard limit
    #: for one telegram (gG): kept at its minimum
    MIN_CURRENT_HOLD = "min_current_hold"
    #: paused (0) because even its minimum does not fit and the overload budget cannot hold it
    MIN_CURRENT_PAUSE = "min_current_pause"
    #: paused (0) after keeping its share for ``min_share_hold_s``, so that a car of its
    #: priority that has waited longer gets its turn (not every minimum fits: share rotation)
    SHARE_ROTATION_PAUSE = "share_rotation_pause"
    #: stays paused until its minimum has fitted for ``resume_delay_s`` (doubled per recent pause)
    PAUSED_WAIT_RESUME = "paused_wait_resume"
    #: resumed after the wait, in one step to the lowest share seen while it waited
    RESUME = "resume"
    #: first decision for it since start: offered its minimum, which fits
    START = "start"
    #: the meter is stale (none yet, too old, or a phase missing): set to ``safe_current_a``
    METER_STALE_FALLBACK = "meter_stale_fallback"
    #: charger offline: its failsafe current is what it draws, reserved on its phases
    CHARGER_OFFLINE_RESERVED = "charger_offline_reserved"
    #: charger answers, but its currents are implausible or it refuses or ignores its limit:
    #: booked at the highest limit it may apply
    CHARGER_UNKNOWN_RESERVED = "charger_unknown_reserved"
    #: at its maximum (charger or installation) and the allowance would give it that or more
    AT_MAX = "at_max"
    #: kept: the allowance gives it exactly its current set-point
    STEADY = "steady"
    #: no car able to charge (IEC 61851 status A, E or F): its minimum from what the cars leave
    #: (else 0), no higher
    NO_CAR = "no_car"
    #: paused by the service because the car drew more than its limit after a rewrite
    #: (setpoint_ignored); it resumes after ``resume_delay_s`` once the car stops
    SETPOINT_IGNORED_PAUSE = "setpoint_ignored_pause"
    #: limited by the capacity tariff (issue 15), not the fuse: what the interval's budget leaves
    #: after the energy used so far and the house's draw is its ceiling; paused below its minimum
    TARIFF_LIMIT = "tariff_limit"
    #: above what the capacity tariff's budget allows, because its user asked it to be ready by a
    #: time (``ready_by``): the budget may be exceeded, the fuse still holds
    TARIFF_OVERRIDE = "tariff_override"
    #: paused (0) because a user commanded it (issue 17: mqtt.commands pause); an offline
    #: charger keeps its failsafe current
    COMMANDED_PAUSE = "commanded_pause"
    #: paused (0) to switch the box to one phase (issue 19): three phases do not fit its minimum
    #: (the fuse on one of them, or the capacity tariff), its one_phase_on phase does
    PHASE_SWITCH_DOWN = "phase_switch_down"
    #: paused (0) to switch the box back to three phases: they have fitted its minimum, and given
    #: it more than one phase, for ``phase_switch_up_after_s``
    PHASE_SWITCH_UP = "phase_switch_up"
