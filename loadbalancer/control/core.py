"""``decide``: the pure control core (SPEC §5). No I/O, no clock: time comes in as ``now_s``.

One decision, in order:

1. A charger that is offline (or whose last read is too old) is set to its failsafe current,
   which is reserved on its grid phases; its unknown draw stays in the house load. A charger
   that answers but is *unknown* (implausible currents, or a set-point it refuses or ignores)
   is booked at the highest limit it may apply: its last limit or its failsafe current,
   whichever is higher (never 0, never above its maximum); its draw stays in the house load
   unless its currents are plausible. It is never raised, but it is cut (``overload_cut``) by
   as much as one of its phases would stay over what the fuse allows with every known charger
   paused, and set to ``safe_current_a`` (if that is lower) when the meter is stale.
2. A stale meter sets every online charger to ``safe_current_a``.
3. Per grid phase: house = signed meter current − the online chargers' *measured* currents on
   that phase; allowed = rating − margin − house − reserved. The overload budget is integrated.
4. Shares (``allocate.share``) of the allowance plus what the cars leave unused of their offers
   (at most the fuse's margin per phase); a charger with no car only gets what the cars leave.
   A charger whose share is below its minimum is dropped (no car first, then lowest priority,
   a paused one before a running one). A running charger whose minimum does not fit next to
   the minimums of the others (of at least its priority) is held at its minimum when the fuse
   allows (``fuse.may_hold_at_minimum``): within the rating while the budget lasts, above it for
   ``spike_hold_s`` and then only on less than ``long_hold_budget_ratio`` of the budget, above
   the hard limit (gG, up to the spike limit) for the one telegram that first shows it; any
   other one is paused.
5. Per charger: a cut is applied at once; a raise only after the headroom has lasted
   ``ramp_up_delay_s``, to the lowest allowance seen, and only by at least ``min_raise_a``; a
   paused charger resumes once its minimum has fitted for ``resume_delay_s`` (doubled for each
   pause within ``pause_memory_s``, at most ``resume_delay_max_s``), in one step to the lowest
   share seen while it waited. Every set-point is 0 or in [minimum, maximum], at the charger's
   granularity, rounded down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from loadbalancer.control.allocate import EPSILON_A, Claim, share
from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.decision import ChargerDecision, Decision
from loadbalancer.control.fuse import GRID_PHASES, may_hold_at_minimum, update_budget
from loadbalancer.control.ignored import pause_if_ignored
from loadbalancer.control.inputs import NO_CAR_STATUSES, ChargerRead, Inputs, MeterInput
from loadbalancer.control.plausibility import implausible_current
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ChargerMemory, ControllerState

#: a car draws on a phase above this current (evcc minActiveCurrent = 1.0 A, control.md §2.4)
ACTIVE_PHASE_A = 1.0


@dataclass(frozen=True, slots=True)
class _Online:
    """Working values for one online charger in this decision."""

    index: int
    spec: ChargerSpec
    read: ChargerRead
    memory: ChargerMemory
    phases: tuple[int, ...]
    car_phases: tuple[int, ...] | None
    no_car: bool
    claim: Claim

    @property
    def previous_a(self) -> float | None:
        return self.memory.setpoint_a

    @property
    def running(self) -> bool:
        return self.previous_a is not None and self.previous_a > 0


@dataclass(frozen=True, slots=True)
class _Fit:
    """Shares after the minimum rule: who is held at the minimum, who was dropped."""

    shares: dict[int, float]
    held: frozenset[int]
    dropped: frozenset[int]


def decide(
    state: ControllerState, inputs: Inputs, config: ControlConfig, now_s: float
) -> tuple[ControllerState, Decision]:
    """One control decision: a new state and per charger a set-point (0 = pause) and a reason."""
    after, decision = _decide_by_the_rules(state, inputs, config, now_s)
    memories, outcomes = list(after.chargers), list(decision.chargers)
    for i, spec in enumerate(config.chargers):  # last: the pause of a car ignoring its limit
        since_s = state.chargers[i].ignored_since_s
        read = inputs.chargers.get(spec.name)
        memories[i], outcomes[i] = pause_if_ignored(
            read, since_s, memories[i], outcomes[i], config, now_s
        )
    return replace(after, chargers=tuple(memories)), replace(decision, chargers=tuple(outcomes))


def _decide_by_the_rules(
    state: ControllerState, inputs: Inputs, config: ControlConfig, now_s: float
) -> tuple[ControllerState, Decision]:
    fuse = config.fuse
    reads = [
        _usable_read(inputs.chargers.get(spec.name), config, now_s) for spec in config.chargers
    ]
    meter = inputs.meter
    meter_age_s = None if meter is None else now_s - meter.received_s
    meter_a = {
        name: None if meter is None else meter.current_a[p]
        for p, name in enumerate(GRID_PHASES)
        if name in fuse.phase_names
    }
    memories = list(state.chargers)
    outcomes: dict[int, ChargerDecision] = {}
    #: the unknown chargers and what each is booked at: never raised, but cut when its phases
    #: are over (a write that lowers a limit is safe whatever the box reports)
    unknown_booked: dict[int, float] = {}
    reserved_a = [0.0, 0.0, 0.0]
    #: plausible currents of the unknown chargers: they still come off the house load
    unknown_measured: list[tuple[ChargerSpec, tuple[float, ...]]] = []
    for index, (spec, read) in enumerate(zip(config.chargers, reads, strict=True)):
        if read is not None and _unknown(read, spec):
            booked_a = _booked_a(spec, memories[index], read)
            unknown_booked[index] = booked_a
            for p in spec.grid_phase_indices:
                reserved_a[p] += booked_a
            plausible = implausible_current(read.measured_a, spec.plausible_max_a) is None
            measured = read.measured_a if plausible else ()
            if plausible:
                unknown_measured.append((spec, measured))
            outcomes[index] = _outcome(
                spec,
                measured,
                spec.grid_phase_indices,
                memories[index].setpoint_a,
                booked_a,
                Reason.CHARGER_UNKNOWN_RESERVED,
            )
        elif read is None:
            setpoint_a = _clamped(spec.failsafe_current_a, spec)
            for p in spec.grid_phase_indices:
                reserved_a[p] += setpoint_a
            previous_a = memories[index].setpoint_a
            memories[index] = _remember(ChargerMemory(), memories[index], setpoint_a, None, now_s)
            outcomes[index] = _outcome(
                spec,
                (),
                spec.grid_phase_indices,
                previous_a,
                setpoint_a,
                Reason.CHARGER_OFFLINE_RESERVED,
            )

    online = [
        _working(index, spec, read, state.chargers[index], config, now_s)
        for index, (spec, read) in enumerate(zip(config.chargers, reads, strict=True))
        if read is not None and index not in outcomes
    ]
    if meter is None or _meter_stale(meter, meter_age_s, config):
        for index in unknown_booked:  # its booking stands for nothing now: the safe current
            spec = config.chargers[index]
            setpoint_a = min(_clamped(config.safe_current_a, spec), unknown_booked[index])
            memories[index] = _remember(memories[index], memories[index], setpoint_a, None, now_s)
            outcomes[index] = replace(
                outcomes[index], setpoint_a=setpoint_a, reason=Reason.METER_STALE_FALLBACK
            )
        for charger in online:
            setpoint_a = _clamped(config.safe_current_a, charger.spec)
            memories[charger.index] = _remember(
                ChargerMemory(), charger.memory, setpoint_a, charger.car_phases, now_s
            )
            outcomes[charger.index] = _outcome(
                charger.spec,
                charger.read.measured_a,
                charger.phases,
                charger.previous_a,
                setpoint_a,
                Reason.METER_STALE_FALLBACK,
            )
        unknown = {name: None for name in fuse.phase_names}
        decision = Decision(
            meter_a=meter_a,
            meter_age_s=meter_age_s,
            house_a=unknown,
            allowed_a=unknown,
            budget_used_s=_by_phase(state.budget.used_s, config),
            chargers=tuple(outcomes[i] for i in range(len(config.chargers))),
        )
        return ControllerState(tuple(memories), state.budget), decision

    current_a = tuple(float(meter.current_a[p] or 0.0) for p in range(len(GRID_PHASES)))
    house_a = list(current_a)
    drawn = [(c.spec, c.read.measured_a) for c in online] + unknown_measured
    for spec, phase_currents_a in drawn:
        for p, drawn_a in zip(spec.grid_phase_indices, phase_currents_a, strict=False):
            house_a[p] -= drawn_a
    allowed_a = [
        fuse.target_a - house_a[p] - reserved_a[p] if name in fuse.phase_names else math.inf
        for p, name in enumerate(GRID_PHASES)
    ]
    budget = update_budget(
        state.budget,
        fuse,
        (current_a[0], current_a[1], current_a[2]),
        meter.received_s,
        config.stale_after_s,
    )

    # what the known chargers draw per phase: at worst they are all paused in this decision
    known_a = [0.0, 0.0, 0.0]
    for charger in online:
        for p, drawn_a in zip(
            charger.spec.grid_phase_indices, charger.read.measured_a, strict=False
        ):
            known_a[p] += max(drawn_a, 0.0)
    for index, booked_a in unknown_booked.items():
        spec = config.chargers[index]
        over_a = max(current_a[p] - known_a[p] - fuse.target_a for p in spec.grid_phase_indices)
        if over_a > EPSILON_A:
            # its phase stays over what the fuse allows even with every known charger paused:
            # cut it by that much, whatever its reads say
            setpoint_a = _floor(booked_a - over_a, spec.granularity_a)
            setpoint_a = setpoint_a if setpoint_a >= spec.min_current_a else 0.0
            memories[index] = _remember(memories[index], memories[index], setpoint_a, None, now_s)
            outcomes[index] = replace(
                outcomes[index], setpoint_a=setpoint_a, reason=Reason.OVERLOAD_CUT
            )

    #: chargers held above the hard limit on this telegram (a spike: one telegram only), and
    #: those held with a phase above its rating (a load, not noise: for ``spike_hold_s``)
    spike_held: set[int] = set()
    over_rating_held: set[int] = set()

    def may_hold(charger: _Online, room_a: Sequence[float]) -> bool:
        """Running, its minimum does not fit next to the others' minimums, and the fuse allows:
        within the rating (noise around the cut point, the margin is the cushion) while the
        budget lasts; above it for at most ``spike_hold_s``, within the budget and the hard
        limit, or the spike limit for the one telegram that first showed the hard limit passed.
        """
        minimum = charger.spec.min_current_a
        does_not_fit = any(room_a[p] < minimum - EPSILON_A for p in charger.phases)
        if not charger.running or charger.no_car or not does_not_fit:
            return False
        predicted = {p: fuse.target_a - room_a[p] + minimum for p in charger.phases}

        def fuse_allows(spike: bool) -> bool:
            return all(
                may_hold_at_minimum(
                    budget, fuse, p, predicted_a, config.hold_horizon_s, spike=spike
                )
                for p, predicted_a in predicted.items()
            )

        over_rating = any(
            GRID_PHASES[p] in fuse.phase_names and predicted_a > fuse.rating_a + EPSILON_A
            for p, predicted_a in predicted.items()
        )
        if over_rating:
            since_s = charger.memory.over_rating_since_s
            lasting = since_s is not None and now_s - since_s >= config.spike_hold_s
            share_s = config.long_hold_budget_ratio * fuse.overload_budget_s
            if lasting and any(budget.used_s[p] >= share_s for p in charger.phases):
                return False
        if fuse_allows(spike=False):
            held = True
        else:
            first = charger.memory.spike_telegram_s
            held = (first is None or first == meter.received_s) and fuse_allows(spike=True)
            if held:
                spike_held.add(charger.index)
        if held and over_rating:
            over_rating_held.add(charger.index)
        return held

    # Room for the paused ones: shares with everyone taking part (paused ones are dropped first).
    unused = {charger.index: _unused_a(charger, config, now_s) for charger in online}
    offer_a = _with_unused(allowed_a, online, unused, fuse.margin_a)
    room = _fit(online, offer_a, may_hold)
    room_since: dict[int, float | None] = {}
    #: per paused charger with room, the lowest share seen since the room began
    room_floor: dict[int, float] = {}
    for charger in online:
        if charger.previous_a == 0:
            needed_a = charger.spec.min_current_a + config.resume_margin_a - EPSILON_A
            share_a = room.shares.get(charger.index, 0.0)
            has_room = share_a >= needed_a
            waiting_since = charger.memory.room_since_s
            since = waiting_since if waiting_since is not None else now_s
            room_since[charger.index] = since if has_room else None
            if has_room:
                floor_a = charger.memory.headroom_floor_a if waiting_since is not None else share_a
                room_floor[charger.index] = min(floor_a, share_a)
    resuming = {
        index
        for index, since in room_since.items()
        if since is not None
        and now_s - since >= resume_delay_s(state.chargers[index], config, now_s) - EPSILON_A
    }
    spike_held.clear()  # only the final fit's holds count
    over_rating_held.clear()
    fit = _fit([c for c in online if c.previous_a != 0 or c.index in resuming], offer_a, may_hold)
    overloaded = _overloaded_phases(online, house_a, reserved_a, config)

    for charger in online:
        if charger.index in room_since and charger.index not in resuming:
            setpoint_a, reason = 0.0, Reason.PAUSED_WAIT_RESUME
            floor_a = room_floor.get(charger.index, 0.0)
            memory = replace(charger.memory, headroom_since_s=None, headroom_floor_a=floor_a)
        else:
            setpoint_a, reason, memory = _rule(
                charger, fit, overloaded, config, now_s, room_floor.get(charger.index, 0.0)
            )
        keep_room = setpoint_a == 0 and charger.index in room_since
        memory = replace(
            memory,
            room_since_s=room_since[charger.index] if keep_room else None,
            spike_telegram_s=meter.received_s if charger.index in spike_held else None,
            unused_a=unused[charger.index] if setpoint_a > 0 else 0.0,
            over_rating_since_s=(
                (charger.memory.over_rating_since_s or now_s)
                if charger.index in over_rating_held
                else None
            ),
        )
        memories[charger.index] = _remember(
            memory, charger.memory, setpoint_a, charger.car_phases, now_s
        )
        outcomes[charger.index] = _outcome(
            charger.spec,
            charger.read.measured_a,
            charger.phases,
            charger.previous_a,
            setpoint_a,
            reason,
        )

    decision = Decision(
        meter_a=meter_a,
        meter_age_s=meter_age_s,
        house_a=_by_phase(house_a, config),
        allowed_a=_by_phase(allowed_a, config),
        budget_used_s=_by_phase(budget.used_s, config),
        chargers=tuple(outcomes[i] for i in range(len(config.chargers))),
    )
    return ControllerState(tuple(memories), budget), decision


def _usable_read(
    read: ChargerRead | None, config: ControlConfig, now_s: float
) -> ChargerRead | None:
    """The read, or None when the charger is offline or its read is too old to trust."""
    if read is None or not read.online or now_s - read.read_s > config.charger_stale_after_s:
        return None
    return read


def _unknown(read: ChargerRead, spec: ChargerSpec) -> bool:
    """It answers, but its currents cannot be trusted or it does not apply its set-point."""
    return (
        not read.controlled
        or implausible_current(read.measured_a, spec.plausible_max_a) is not None
    )


def _booked_a(spec: ChargerSpec, memory: ChargerMemory, read: ChargerRead) -> float:
    """The most an unknown charger may be applying: its last limit (decided, acknowledged or
    read back) or its failsafe current, whichever is higher; at least its minimum (a paused
    box whose reads are broken may have resumed), at most its maximum (never infinite)."""
    candidates = [spec.failsafe_current_a, spec.min_current_a]
    for value in (memory.setpoint_a, read.limit_a):
        if value is not None and not math.isnan(value):
            candidates.append(value)
    return _floor_up(min(max(candidates), spec.max_current_a), spec.granularity_a, spec)


def _meter_stale(meter: MeterInput, meter_age_s: float | None, config: ControlConfig) -> bool:
    """Too old, or a phase the fuse protects has no current."""
    too_old = meter_age_s is None or meter_age_s > config.stale_after_s
    missing = any(
        meter.current_a[p] is None
        for p, name in enumerate(GRID_PHASES)
        if name in config.fuse.phase_names
    )
    return too_old or missing


def _working(
    index: int,
    spec: ChargerSpec,
    read: ChargerRead,
    memory: ChargerMemory,
    config: ControlConfig,
    now_s: float,
) -> _Online:
    """Which phases the car loads, and how much it wants (its demand)."""
    wired = spec.grid_phase_indices
    measured = list(zip(wired, read.measured_a, strict=False))
    drawing = tuple(p for p, current in measured if current >= ACTIVE_PHASE_A)
    no_car = read.status in NO_CAR_STATUSES
    car_phases = drawing or (None if no_car else memory.car_phases)
    max_a = spec.min_current_a if no_car else spec.max_current_a
    previous_a = memory.setpoint_a
    drawn_a = max((current for _, current in measured), default=0.0)
    settled = (
        memory.setpoint_since_s is not None
        and now_s - memory.setpoint_since_s >= config.ev_response_allowance_s
    )
    if previous_a is None or previous_a == 0:
        demand_a = max_a
    elif not settled:
        # still following its last change: it wants what it was offered, not more yet
        demand_a = max(previous_a, drawn_a + config.demand_headroom_a)
    elif drawn_a < previous_a - config.follow_tolerance_a:
        # draws less than offered: its draw plus a step, the rest is for the others
        demand_a = drawn_a + config.demand_headroom_a
    else:
        demand_a = max_a
    demand_a = min(max(demand_a, spec.min_current_a), max_a)
    phases = car_phases or wired
    claim = Claim(index, phases, spec.priority, demand_a, max_a, spare=no_car)
    return _Online(index, spec, read, memory, phases, car_phases, no_car, claim)


def _fit(
    chargers: Sequence[_Online],
    allowed_a: Sequence[float],
    may_hold: Callable[[_Online, Sequence[float]], bool],
) -> _Fit:
    """Shares such that everyone taking part gets at least its minimum.

    While someone's share is below its minimum, the least entitled of those (lowest priority,
    then a paused one before a running one, then the last configured) is dropped: held at its
    minimum if ``may_hold`` allows (its minimum then comes off the phases), otherwise paused.
    ``may_hold`` is given the room per phase left for it after the minimums of those still
    taking part (who all have at least its priority).
    """
    remaining_a = list(allowed_a)
    taking_part = list(chargers)
    held: set[int] = set()
    dropped: set[int] = set()
    while True:
        shares = share([charger.claim for charger in taking_part], remaining_a)
        short = [
            charger
            for charger in taking_part
            if shares[charger.index] < charger.spec.min_current_a - EPSILON_A
        ]
        if not short:
            return _Fit(shares, frozenset(held), frozenset(dropped))
        victim = min(short, key=lambda c: (not c.no_car, c.spec.priority, c.running, -c.index))
        taking_part.remove(victim)
        dropped.add(victim.index)
        room_a = list(remaining_a)
        for other in taking_part:
            for p in other.phases:
                room_a[p] -= other.spec.min_current_a
        if may_hold(victim, room_a):
            held.add(victim.index)
            for p in victim.phases:
                remaining_a[p] -= victim.spec.min_current_a


def _unused_a(charger: _Online, config: ControlConfig, now_s: float) -> float:
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


def _with_unused(
    allowed_a: Sequence[float], online: Sequence[_Online], unused: dict[int, float], margin_a: float
) -> list[float]:
    """What may be offered per phase: the allowance plus what the cars on it leave unused of
    their offers (a car that draws 1.5 A under its limit), at most the fuse's margin per
    phase: whatever the cars then draw, the phase stays within its rating, and while they
    keep drawing less, within the rating minus the margin."""
    unused_a = [0.0, 0.0, 0.0]
    for charger in online:
        for p in charger.car_phases or ():
            unused_a[p] += unused.get(charger.index, 0.0)
    return [
        allowed + min(extra, margin_a) for allowed, extra in zip(allowed_a, unused_a, strict=True)
    ]


def _overloaded_phases(
    online: Sequence[_Online],
    house_a: Sequence[float],
    reserved_a: Sequence[float],
    config: ControlConfig,
) -> set[int]:
    """Grid phases on which the previous set-points no longer fit what the phase allows."""
    load_a = [house + reserved for house, reserved in zip(house_a, reserved_a, strict=True)]
    for charger in online:
        for p in charger.phases:
            load_a[p] += charger.previous_a or 0.0
    return {
        p
        for p, name in enumerate(GRID_PHASES)
        if name in config.fuse.phase_names and load_a[p] > config.fuse.target_a + EPSILON_A
    }


def _rule(
    charger: _Online,
    fit: _Fit,
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
    no_window = replace(memory, headroom_since_s=None, headroom_floor_a=0.0)
    if charger.index in fit.held:
        return spec.min_current_a, Reason.MIN_CURRENT_HOLD, no_window
    if charger.index in fit.dropped:
        reason = Reason.PAUSED_WAIT_RESUME if previous_a == 0 else Reason.MIN_CURRENT_PAUSE
        return 0.0, Reason.NO_CAR if charger.no_car else reason, no_window
    target_a = min(_floor(fit.shares[charger.index], spec.granularity_a), charger.claim.max_a)
    if previous_a is None:
        return spec.min_current_a, Reason.START, no_window
    if previous_a == 0:
        resume_a = _floor(min(target_a, room_floor_a), spec.granularity_a)
        return max(spec.min_current_a, resume_a), Reason.RESUME, no_window
    if target_a < previous_a:
        cut = Reason.OVERLOAD_CUT if overloaded & set(charger.phases) else Reason.SHARE_CUT
        return target_a, cut, no_window
    if target_a == previous_a:
        reason = Reason.AT_MAX if previous_a >= charger.claim.max_a else Reason.STEADY
        return previous_a, Reason.NO_CAR if charger.no_car else reason, no_window
    if memory.headroom_since_s is None:
        since_s, floor_a = now_s, target_a
    else:
        since_s, floor_a = memory.headroom_since_s, min(memory.headroom_floor_a, target_a)
    if now_s - since_s >= config.ramp_up_delay_s:
        if floor_a >= min(previous_a + config.min_raise_a, charger.claim.max_a) - EPSILON_A:
            return floor_a, Reason.RAMP_UP, no_window
        # too small a step to be worth a write: a new window from the headroom there is now
        since_s, floor_a = now_s, target_a
    waiting = replace(memory, headroom_since_s=since_s, headroom_floor_a=floor_a)
    return previous_a, Reason.HOLD_RAMP_DELAY, waiting


def resume_delay_s(memory: ChargerMemory, config: ControlConfig, now_s: float) -> float:
    """How long a paused charger's minimum must fit before it resumes: ``resume_delay_s``,
    doubled for every further pause within ``pause_memory_s``, at most ``resume_delay_max_s``
    (so a load that keeps cutting it off cannot wear the contactor out)."""
    recent = sum(1 for t in memory.pauses_s if now_s - t < config.pause_memory_s)
    doubled = config.resume_delay_s * 2.0 ** max(0, min(recent - 1, 30))
    return min(doubled, max(config.resume_delay_max_s, config.resume_delay_s))


def _remember(
    memory: ChargerMemory,
    before: ChargerMemory,
    setpoint_a: float,
    car_phases: tuple[int, ...] | None,
    now_s: float,
) -> ChargerMemory:
    """``memory`` with the new set-point (and since when it holds), the car's phases, and
    the time of a pause (a running charger set to 0)."""
    changed = before.setpoint_a != setpoint_a
    since_s = now_s if changed or before.setpoint_since_s is None else before.setpoint_since_s
    paused = before.setpoint_a is not None and before.setpoint_a > 0 and setpoint_a == 0
    pauses_s = (*before.pauses_s, now_s) if paused else before.pauses_s
    # keep only the last few: more than 30 doublings reach any maximum anyway
    pauses_s = pauses_s[-32:]
    return replace(
        memory,
        setpoint_a=setpoint_a,
        setpoint_since_s=since_s,
        car_phases=car_phases,
        pauses_s=pauses_s,
    )


def _outcome(
    spec: ChargerSpec,
    measured_a: tuple[float, ...],
    phases: tuple[int, ...],
    previous_a: float | None,
    setpoint_a: float,
    reason: Reason,
) -> ChargerDecision:
    return ChargerDecision(
        name=spec.name,
        setpoint_a=setpoint_a,
        reason=reason,
        previous_a=previous_a,
        measured_a=measured_a,
        phases=tuple(GRID_PHASES[p] for p in phases),
    )


def _floor(current_a: float, granularity_a: float) -> float:
    """Rounded down to the granularity (a hair of float noise is forgiven, never rounded up)."""
    steps = math.floor(current_a / granularity_a + 1e-6)
    return round(steps * granularity_a, 3)


def _floor_up(current_a: float, granularity_a: float, spec: ChargerSpec) -> float:
    """Rounded UP to the granularity (a booking errs high), at most the maximum."""
    steps = math.ceil(current_a / granularity_a - 1e-6)
    return min(round(steps * granularity_a, 3), spec.max_current_a)


def _clamped(current_a: float, spec: ChargerSpec) -> float:
    """A fixed current (safe, failsafe) made valid for a charger: at most its maximum, at its
    granularity, and 0 when below its minimum."""
    value_a = _floor(min(current_a, spec.max_current_a), spec.granularity_a)
    return value_a if value_a >= spec.min_current_a else 0.0


def _by_phase(values: Sequence[float], config: ControlConfig) -> dict[str, float]:
    return {
        name: values[p] for p, name in enumerate(GRID_PHASES) if name in config.fuse.phase_names
    }
