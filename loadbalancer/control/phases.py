"""1p/3p switching: which phase count each switchable box is to run on (issue 19).

A three-phase car cannot charge below its minimum on each of three phases (6 A × 3 = 4.1 kW);
on one phase it charges from 1.4 kW. The rules (docs/phase-switching.md §The core's rules):

* **In force**: before the other rules run, a box that is (or may be) on one phase is counted
  on its ``one_phase_on`` grid phase only, with its largest phase current there
  (:func:`in_force`). While the box's own read-back and the count last decided differ (a switch
  under way, or refused), it is counted on all its wired phases: the wider booking is the safe one.
* **Down**: a box on three phases that the other rules left paused (0), where three phases do
  not fit its minimum (the fuse's allowance on one of them, or the capacity tariff's power) and
  the one phase does, is switched to one phase.
* **Up**: a box on one phase is switched back when three phases have fitted its minimum, and
  given it more power than the one phase, without a break for ``up_after_s``.
* **Never**: with a stale meter, a charger offline or unknown (its read not controlled), a grid
  phase over what the fuse allows (``target_a``), a switch under way (the box's read-back is
  not yet the count decided), after the shell gave up on the box for the session, or after
  ``max_per_session`` switches since the car was plugged in (status A ends a session).

A switch is a decision of set-point 0 with reason ``phase_switch_down`` or ``phase_switch_up``:
the shell's sequence (:mod:`loadbalancer.phase_switch`) offers 0 A, waits for the car to stop,
switches the box and reads it back; the charger then resumes by the ordinary resume rule on
its new phases. ``fixed`` modes (1p, 3p) hold the box at that count, under the same guards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from loadbalancer.control.config import ChargerSpec, ControlConfig, PhaseSwitchSpec
from loadbalancer.control.decision import ChargerDecision, Decision
from loadbalancer.control.inputs import ChargerRead, Inputs
from loadbalancer.control.reasons import Reason
from loadbalancer.control.settle import remember
from loadbalancer.control.state import ChargerMemory, ControllerState
from loadbalancer.control.tariff import PLANNED_FROM_S, car_power_w
from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASES

#: outcomes after which no switch is decided: the box is not ours to switch now
_NOT_NOW = frozenset(
    {
        Reason.CHARGER_OFFLINE_RESERVED,
        Reason.CHARGER_UNKNOWN_RESERVED,
        Reason.METER_STALE_FALLBACK,
        Reason.SETPOINT_IGNORED_PAUSE,
        Reason.COMMANDED_PAUSE,
    }
)
#: outcomes that book a box the core has no usable read of (already in ``allowed_a``)
_BOOKED = frozenset({Reason.CHARGER_OFFLINE_RESERVED, Reason.CHARGER_UNKNOWN_RESERVED})
#: IEC 61851 status A: no car, the session is over
_UNPLUGGED = "A"
#: statuses with a car plugged in
_PLUGGED = frozenset({"B", "C", "D"})


def phase_count_in_force(spec: ChargerSpec, memory: ChargerMemory, read: ChargerRead | None) -> int:
    """The phase count the box is counted on: its wired count unless it switches; of the count
    last decided and the box's read-back, the larger (a switch not yet done counts as not)."""
    wired = len(spec.phases)
    if spec.phase_switch is None or wired == 1:
        return wired
    known = [
        count
        for count in (memory.phase_count, None if read is None else read.phase_count)
        if count is not None
    ]
    return max(known) if known else wired


def in_force(
    state: ControllerState, inputs: Inputs, config: ControlConfig
) -> tuple[ControlConfig, Inputs]:
    """``config`` and ``inputs`` with each box on one phase narrowed to its ``one_phase_on``
    grid phase (its largest phase current drawn there); unchanged when none is."""
    specs = list(config.chargers)
    reads = dict(inputs.chargers)
    narrowed = False
    for i, spec in enumerate(config.chargers):
        read = reads.get(spec.name)
        switch = spec.phase_switch
        if switch is None or read is None or not read.online or len(spec.phases) == 1:
            continue
        if phase_count_in_force(spec, state.chargers[i], read) != 1:
            if read.phase_count == 1:  # on one phase, counted on all: its current where it is
                narrowed = True
                largest_a = _largest(read.measured_a)
                at = spec.phases.index(switch.one_phase_on)
                on_one = tuple(largest_a if k == at else 0.0 for k in range(len(read.measured_a)))
                reads[spec.name] = replace(read, measured_a=on_one)
            continue
        narrowed = True
        specs[i] = replace(spec, phases=(switch.one_phase_on,))
        reads[spec.name] = replace(read, measured_a=(_largest(read.measured_a),))
    if not narrowed:
        return config, inputs
    return replace(config, chargers=tuple(specs)), replace(inputs, chargers=reads)


def _largest(measured_a: Sequence[float]) -> float:
    """The largest phase current; NaN if any is (the plausibility gate then refuses it)."""
    if any(math.isnan(value) for value in measured_a):
        return math.nan
    return max(measured_a, default=0.0)


@dataclass(frozen=True, slots=True)
class _Room:
    """For one charger, what the others leave it: per grid phase the fuse's allowance (inf on
    a phase the fuse does not protect), and the capacity tariff's power (inf without one)."""

    phase_a: tuple[float, float, float]
    power_w: float

    def fits(self, phases: Sequence[int], current_a: float) -> bool:
        power_w = current_a * NOMINAL_VOLTAGE_V * len(phases)
        return self.power_w >= power_w and all(self.phase_a[p] >= current_a for p in phases)

    def offered_w(self, phases: Sequence[int], max_a: float) -> float:
        """The power the car could take on ``phases`` at most ``max_a`` each."""
        per_phase_a = min(max_a, *(self.phase_a[p] for p in phases))
        per_phase_a = min(per_phase_a, self.power_w / (NOMINAL_VOLTAGE_V * len(phases)))
        return per_phase_a * NOMINAL_VOLTAGE_V * len(phases)


def switch_phases(
    state: ControllerState,
    after: ControllerState,
    decision: Decision,
    inputs: Inputs,
    config: ControlConfig,
    now_s: float,
) -> tuple[ControllerState, Decision]:
    """The switching rules after every other rule: each charger's ``phase_count`` and memory;
    a switch overrides its outcome with a pause and reason ``phase_switch_down``/``_up``."""
    memories, outcomes = list(after.chargers), list(decision.chargers)
    stale = any(value is None for value in decision.allowed_a.values())
    over = _phase_over(decision, config)
    for i, spec in enumerate(config.chargers):
        switch = spec.phase_switch
        if switch is None or len(spec.phases) == 1:
            if outcomes[i].phase_count != len(spec.phases):
                outcomes[i] = replace(outcomes[i], phase_count=len(spec.phases))
            continue
        before = state.chargers[i]
        read = inputs.chargers.get(spec.name)
        memory = _carried(memories[i], before, read)
        count = memory.phase_count or phase_count_in_force(spec, before, read)
        blocked = stale or over or _blocked(memory, read, outcomes[i], switch, count)
        target, fit_since_s = (
            (count, None)
            if blocked
            else _target(switch, spec, count, i, memory, decision, inputs, config, now_s)
        )
        if target == count:
            memories[i] = replace(memory, phase_count=count, phase_fit_since_s=fit_since_s)
            outcomes[i] = replace(outcomes[i], phase_count=count)
        else:
            memories[i], outcomes[i] = _switched(memory, outcomes[i], spec, target, now_s)
    return replace(after, chargers=tuple(memories)), replace(decision, chargers=tuple(outcomes))


def _carried(
    memory: ChargerMemory, before: ChargerMemory, read: ChargerRead | None
) -> ChargerMemory:
    """The switching memory of the decision before (another rule may have started afresh); a
    session ends with the car unplugged; a switch the shell gave up takes the box's count."""
    count, switches, fit_since_s = (
        before.phase_count,
        before.phase_switches,
        before.phase_fit_since_s,
    )
    if read is not None and read.status == _UNPLUGGED:
        switches, fit_since_s = 0, None
    if read is not None and read.phase_switch_failed:
        count = read.phase_count
    return replace(
        memory, phase_count=count, phase_switches=switches, phase_fit_since_s=fit_since_s
    )


def _blocked(
    memory: ChargerMemory,
    read: ChargerRead | None,
    outcome: ChargerDecision,
    switch: PhaseSwitchSpec,
    count: int,
) -> bool:
    """Whether no switch may be decided now (besides a stale meter or a phase over)."""
    if read is None or not read.online or not read.controlled or read.phase_switch_failed:
        return True
    if read.phase_count is not None and read.phase_count != count:
        return True  # a switch under way, or a box that does not say what it is
    if read.phase_count is None:
        return True  # the box's count is not known yet: nothing to switch from
    return outcome.reason in _NOT_NOW or memory.phase_switches >= switch.max_per_session


def _phase_over(decision: Decision, config: ControlConfig) -> bool:
    """A grid phase the fuse protects carries more than the fuse allows (rating − margin)."""
    target_a = config.fuse.target_a
    return any(value is not None and abs(value) > target_a for value in decision.meter_a.values())


def _target(
    switch: PhaseSwitchSpec,
    spec: ChargerSpec,
    count: int,
    index: int,
    memory: ChargerMemory,
    decision: Decision,
    inputs: Inputs,
    config: ControlConfig,
    now_s: float,
) -> tuple[int, float | None]:
    """The count to set the box to (``count``: stay) and since when three phases have fitted
    a box on one phase (None: they do not now)."""
    if switch.mode != "auto":
        return (1 if switch.mode == "1p" else 3), None
    read = inputs.chargers[spec.name]
    if read.status not in _PLUGGED:
        return count, None
    room = _room(index, decision, inputs, config, now_s)
    wired = spec.grid_phase_indices
    one = (PHASES.index(switch.one_phase_on),)
    minimum = spec.min_current_a
    if count == 3:
        paused = decision.chargers[index].setpoint_a == 0
        down = paused and not room.fits(wired, minimum) and room.fits(one, minimum)
        return (1 if down else 3), None
    better = room.offered_w(wired, spec.max_current_a) > room.offered_w(one, spec.max_current_a)
    if not (room.fits(wired, minimum) and better):
        return count, None
    since_s = memory.phase_fit_since_s if memory.phase_fit_since_s is not None else now_s
    return (3 if now_s - since_s >= switch.up_after_s else count), since_s


def _room(
    index: int, decision: Decision, inputs: Inputs, config: ControlConfig, now_s: float
) -> _Room:
    """What the other chargers' set-points of this decision leave charger ``index``."""
    allowed = decision.allowed_a
    phase_a = [
        math.inf if allowed.get(name) is None else float(allowed[name] or 0.0) for name in PHASES
    ]
    others_w = 0.0
    for j, other in enumerate(decision.chargers):
        if j == index or other.reason in _BOOKED:
            continue
        for name in other.phases:
            phase_a[PHASES.index(name)] -= other.setpoint_a
        others_w += other.setpoint_a * NOMINAL_VOLTAGE_V * len(other.phases)
    power_w = math.inf
    tariff = inputs.tariff
    # in an interval long enough for the tariff to plan runs at the minimum, three phases lose
    # nothing to one: only a shorter one pauses a car below its minimum (measured: README)
    if tariff is not None and tariff.interval_end_s - tariff.interval_start_s < PLANNED_FROM_S:
        house_a = [float(decision.house_a.get(name) or 0.0) for name in PHASES]
        power_w = car_power_w(tariff, house_a, config.fuse.phases, now_s) - others_w
    return _Room((phase_a[0], phase_a[1], phase_a[2]), power_w)


def _switched(
    memory: ChargerMemory, outcome: ChargerDecision, spec: ChargerSpec, target: int, now_s: float
) -> tuple[ChargerMemory, ChargerDecision]:
    """A switch to ``target`` phases: the charger paused (0) for the shell's sequence, counted,
    the car's phases forgotten (it draws on others next). It stays counted on the phases it was
    counted on: its car may still draw there until the box reads back the new count."""
    memory = remember(memory, memory, 0.0, None, now_s)
    memory = replace(
        memory,
        phase_count=target,
        phase_switches=memory.phase_switches + 1,
        phase_fit_since_s=None,
        headroom_since_s=None,
        room_since_s=None,
    )
    reason = Reason.PHASE_SWITCH_DOWN if target == 1 else Reason.PHASE_SWITCH_UP
    return memory, replace(outcome, setpoint_a=0.0, reason=reason, phase_count=target)
