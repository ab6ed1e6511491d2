"""Chargers the core cannot steer by their reads, settled first.

A charger that is offline (or whose last read is too old) is set to its failsafe current, which
is reserved on its grid phases; its unknown draw stays in the house load. A charger that answers
but is *unknown* (implausible currents, or a set-point it refuses or ignores) is booked at the
highest limit it may apply: its last limit or its failsafe current, whichever is higher (never 0,
never above its maximum); its draw stays in the house load unless its currents are plausible.
It is never raised; the cut path (:mod:`loadbalancer.control.cut`) and a stale meter
(:mod:`loadbalancer.control.stale`) may lower it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.inputs import ChargerRead
from loadbalancer.control.plausibility import implausible_current
from loadbalancer.control.reasons import Reason
from loadbalancer.control.rounding import ceil_to_step, clamped
from loadbalancer.control.settle import Settled, outcome, remember
from loadbalancer.control.state import ChargerMemory, ControllerState


@dataclass(frozen=True, slots=True)
class Absent:
    """The offline and unknown chargers of this decision, settled; what the unknown ones are
    booked at; what all of them reserve per grid phase; and the plausible currents of the
    unknown ones (they still come off the house load)."""

    settled: dict[int, Settled]
    booked_a: dict[int, float]
    reserved_a: tuple[float, float, float]
    measured: tuple[tuple[ChargerSpec, tuple[float, ...]], ...]


def usable_read(
    read: ChargerRead | None, config: ControlConfig, now_s: float
) -> ChargerRead | None:
    """The read, or None when the charger is offline or its read is too old to trust."""
    if read is None or not read.online or now_s - read.read_s > config.charger_stale_after_s:
        return None
    return read


def is_unknown(read: ChargerRead, spec: ChargerSpec) -> bool:
    """It answers, but its currents cannot be trusted or it does not apply its set-point."""
    return (
        not read.controlled
        or implausible_current(read.measured_a, spec.plausible_max_a) is not None
    )


def book_absent(
    state: ControllerState,
    reads: Sequence[ChargerRead | None],
    config: ControlConfig,
    now_s: float,
) -> Absent:
    """Settle the offline chargers (``reads`` None) and the unknown ones; the rest are online."""
    settled: dict[int, Settled] = {}
    booked: dict[int, float] = {}
    reserved_a = [0.0, 0.0, 0.0]
    measured: list[tuple[ChargerSpec, tuple[float, ...]]] = []
    for index, (spec, read) in enumerate(zip(config.chargers, reads, strict=True)):
        memory = state.chargers[index]
        if read is not None and is_unknown(read, spec):
            booked[index] = setpoint_a = booked_a(spec, memory, read)
            plausible = implausible_current(read.measured_a, spec.plausible_max_a) is None
            currents = read.measured_a if plausible else ()
            if plausible:
                measured.append((spec, currents))
            reason = Reason.CHARGER_UNKNOWN_RESERVED
        elif read is None:
            setpoint_a = clamped(spec.failsafe_current_a, spec)
            currents, reason = (), Reason.CHARGER_OFFLINE_RESERVED
        else:
            continue
        for p in spec.grid_phase_indices:
            reserved_a[p] += setpoint_a
        after = (
            memory
            if read is not None
            else remember(ChargerMemory(fallback=True), memory, setpoint_a, None, now_s)
        )
        record = outcome(
            spec, currents, spec.grid_phase_indices, memory.setpoint_a, setpoint_a, reason
        )
        settled[index] = Settled(after, record)
    return Absent(settled, booked, (reserved_a[0], reserved_a[1], reserved_a[2]), tuple(measured))


def booked_a(spec: ChargerSpec, memory: ChargerMemory, read: ChargerRead) -> float:
    """The most an unknown charger may be applying: its last limit (decided, acknowledged or
    read back) or its failsafe current, whichever is higher; at least its minimum (a paused
    box whose reads are broken may have resumed), at most its maximum (never infinite)."""
    candidates = [spec.failsafe_current_a, spec.min_current_a]
    for value in (memory.setpoint_a, read.limit_a):
        if value is not None and not math.isnan(value):
            candidates.append(value)
    return ceil_to_step(min(max(candidates), spec.max_current_a), spec)
