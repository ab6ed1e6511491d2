"""What a charger takes from one decision: its memory and its outcome (set-point and reason)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.demand import Online
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ChargerMemory
from loadbalancer.electric import PHASES


@dataclass(frozen=True, slots=True)
class Settled:
    """One charger after a decision: what it remembers, and its set-point and reason."""

    memory: ChargerMemory
    outcome: ChargerDecision


def remember(
    memory: ChargerMemory,
    before: ChargerMemory,
    setpoint_a: float,
    car_phases: tuple[int, ...] | None,
    now_s: float,
    **more: Any,
) -> ChargerMemory:
    """``memory`` with the new set-point (and since when it holds), the car's phases, and
    the time of a pause (a running charger set to 0); and ``more`` fields, in the same copy."""
    changed = before.setpoint_a != setpoint_a
    since_s = now_s if changed or before.setpoint_since_s is None else before.setpoint_since_s
    # a pause counts (for the resume delay) only if a car was drawing: with no car, or a car
    # that had not started, no contactor opens
    paused = (
        before.setpoint_a is not None
        and before.setpoint_a > 0
        and setpoint_a == 0
        and car_phases is not None
    )
    pauses_s = (*before.pauses_s, now_s) if paused else before.pauses_s
    # keep only the last few: more than 30 doublings reach any maximum anyway
    pauses_s = pauses_s[-32:]
    # a run of a car: from 0 above 0 with a car connected (a box offering its minimum to no
    # car begins none; the car plugged in later draws within no run)
    was_running = before.setpoint_a is not None and before.setpoint_a > 0
    started = setpoint_a > 0 and not was_running and car_phases is not None
    run_since_s = None if setpoint_a == 0 else (now_s if started else before.run_since_s)
    return replace(
        memory,
        setpoint_a=setpoint_a,
        setpoint_since_s=since_s,
        car_phases=car_phases,
        pauses_s=pauses_s,
        run_since_s=run_since_s,
        **more,
    )


def outcome(
    spec: ChargerSpec,
    measured_a: tuple[float, ...],
    phases: tuple[int, ...],
    previous_a: float | None,
    setpoint_a: float,
    reason: Reason,
) -> ChargerDecision:
    """The decision record of one charger: ``phases`` are grid phase indices (0 = L1)."""
    return ChargerDecision(
        name=spec.name,
        setpoint_a=setpoint_a,
        reason=reason,
        previous_a=previous_a,
        measured_a=measured_a,
        phases=tuple(PHASES[p] for p in phases),
    )


def settled_online(
    charger: Online,
    memory: ChargerMemory,
    setpoint_a: float,
    reason: Reason,
    now_s: float,
    **more: Any,
) -> Settled:
    """An online charger settled at ``setpoint_a``: ``memory`` (what it keeps of this
    decision's rules, and ``more`` fields) with the set-point remembered, and its record."""
    return Settled(
        remember(memory, charger.memory, setpoint_a, charger.car_phases, now_s, **more),
        outcome(
            charger.spec,
            charger.read.measured_a,
            charger.phases,
            charger.previous_a,
            setpoint_a,
            reason,
        ),
    )


def resettled(settled: Settled, setpoint_a: float, reason: Reason, now_s: float) -> Settled:
    """A charger already settled in this decision, set anew (a later rule overrides it): the
    set-point and reason change, the rest of its record stays."""
    memory = remember(settled.memory, settled.memory, setpoint_a, None, now_s)
    return Settled(memory, replace(settled.outcome, setpoint_a=setpoint_a, reason=reason))


def by_phase(values: Sequence[float], config: ControlConfig) -> dict[str, float]:
    """Per grid phase the fuse protects (by name), one value."""
    return {name: values[p] for p, name in enumerate(PHASES) if name in config.fuse.phase_names}
