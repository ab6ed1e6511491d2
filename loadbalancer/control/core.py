"""``decide``: the pure control core. No I/O, no clock: time comes in as ``now_s``.

One decision, in order; each rule lives in the module named beside it:

1. Offline and unknown chargers are settled first (:mod:`.unknown`): an offline one at its
   failsafe current, an unknown one booked at the highest limit it may apply; both are
   reserved on their grid phases.
2. A stale meter sets every online charger to ``safe_current_a`` (:mod:`.stale`).
3. Per grid phase the house load, what is allowed, and the overload budget (:mod:`.loads`).
   An unknown charger whose phase stays over even with every known charger paused is cut
   (:mod:`.cut`).
4. Each online car's phases and demand (:mod:`.demand`); shares (:mod:`.allocate`) of the
   allowance plus what the cars leave unused of their offers (:mod:`.offer`); the minimum rule,
   which holds a running charger at its minimum while the fuse allows or pauses it
   (:mod:`.hold`); the wait of a paused charger before it resumes (:mod:`.resume`).
5. Per online charger its set-point (:mod:`.setpoint`): a cut at once (:mod:`.cut`), a raise
   after ``ramp_up_delay_s`` (:mod:`.ramp`), a resume in one step to the lowest share seen
   while it waited. Every set-point is 0 or in [minimum, maximum], at the charger's
   granularity, rounded down.
6. With a capacity tariff (``Inputs.tariff``), before 4's shares: each car's claim is capped by
   its share of the power the tariff's interval still allows (:mod:`.tariff`), a softer ceiling
   beside the fuse's; the reason says ``tariff_limit`` when it bound.

Every charger ends as one :class:`.settle.Settled` (its memory and its set-point and reason);
``decide`` puts them in configuration order (``_in_order``) into the new state and decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from loadbalancer.control.commanded import pause_commanded
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.cut import cut_unknown, overloaded_phases
from loadbalancer.control.decision import ChargerDecision, Decision
from loadbalancer.control.demand import Online, working
from loadbalancer.control.hold import Fit, FuseHold, HoldRule, fit_minimums
from loadbalancer.control.ignored import pause_if_ignored
from loadbalancer.control.inputs import Inputs, TariffInput
from loadbalancer.control.loads import PhaseLoads, phase_loads
from loadbalancer.control.offer import unused_a, unused_credit_a, with_unused
from loadbalancer.control.phases import in_force, switch_phases
from loadbalancer.control.reasons import Reason
from loadbalancer.control.resume import Waiting, waiting
from loadbalancer.control.rotate import NOT_WAITING, turn_of, without_waits
from loadbalancer.control.setpoint import setpoint_rule
from loadbalancer.control.settle import Settled, by_phase, settled_online
from loadbalancer.control.stale import meter_stale, stale_fallback
from loadbalancer.control.state import ChargerMemory, ControllerState, TariffMemory
from loadbalancer.control.tariff import TariffCeilings, TariffHold, cars_taken, tariff_ceilings
from loadbalancer.control.unknown import book_absent, usable_read
from loadbalancer.electric import PHASES


def decide(
    state: ControllerState, inputs: Inputs, config: ControlConfig, now_s: float
) -> tuple[ControllerState, Decision]:
    """One control decision: a new state and per charger a set-point (0 = pause) and a reason;
    a box on one phase is decided on that phase, and 1p/3p switching comes last (:mod:`.phases`)."""
    if inputs.paused:  # a user's pause takes no turn from a running car (share rotation)
        state = without_waits(state, config, inputs.paused)
    narrowed, narrowed_inputs = in_force(state, inputs, config)
    after, decision = _decide_in_force(state, narrowed_inputs, narrowed, now_s)
    return switch_phases(state, after, decision, inputs, config, now_s)


def _decide_in_force(
    state: ControllerState, inputs: Inputs, config: ControlConfig, now_s: float
) -> tuple[ControllerState, Decision]:
    after, decision = _decide_by_the_rules(state, inputs, config, now_s)
    memories, outcomes = list(after.chargers), list(decision.chargers)
    for i, spec in enumerate(config.chargers):  # last: the pause of a car ignoring its limit
        since_s = state.chargers[i].ignored_since_s
        read = inputs.chargers.get(spec.name)
        memories[i], outcomes[i] = pause_if_ignored(
            read, since_s, memories[i], outcomes[i], config, now_s
        )
        if spec.name in inputs.paused:  # a user's pause (issue 17)
            before = state.chargers[i]
            memories[i], outcomes[i] = pause_commanded(before, memories[i], outcomes[i], now_s)
        waits = memories[i].waiting_since_s is not None
        if waits and outcomes[i].reason in NOT_WAITING:  # no turn to take (share rotation)
            memories[i] = replace(memories[i], waiting_since_s=None)
    return replace(after, chargers=tuple(memories)), replace(decision, chargers=tuple(outcomes))


def _decide_by_the_rules(
    state: ControllerState, inputs: Inputs, config: ControlConfig, now_s: float
) -> tuple[ControllerState, Decision]:
    reads = [usable_read(inputs.chargers.get(spec.name), config, now_s) for spec in config.chargers]
    meter = inputs.meter
    meter_age_s = None if meter is None else now_s - meter.received_s
    meter_a = {
        name: None if meter is None else meter.current_a[p]
        for p, name in enumerate(PHASES)
        if name in config.fuse.phase_names
    }
    absent = book_absent(state, reads, config, now_s)
    online = [
        working(index, spec, read, state.chargers[index], config, now_s)
        for index, (spec, read) in enumerate(zip(config.chargers, reads, strict=True))
        if read is not None and index not in absent.settled
    ]
    taken = cars_taken(state.tariff, inputs.tariff, online, meter, config.fuse.phases, now_s)
    if meter is None or meter_stale(meter, meter_age_s, config):
        memories, outcomes = _in_order(stale_fallback(online, absent, config, now_s), config)
        none = {name: None for name in config.fuse.phase_names}
        budget_used_s = by_phase(state.budget.used_s, config)
        decision = Decision(meter_a, meter_age_s, none, none, budget_used_s, outcomes)
        return ControllerState(memories, state.budget, taken), decision
    loads = phase_loads(meter, online, absent, state.budget, config)
    settled = {
        **absent.settled,
        **cut_unknown(online, absent, loads.current_a, config, now_s),
        **_settle_online(
            online, loads, config, meter.received_s, now_s, _Tariff(inputs.tariff, taken)
        ),
    }
    memories, outcomes = _in_order(settled, config)
    decision = Decision(
        meter_a=meter_a,
        meter_age_s=meter_age_s,
        house_a=by_phase(loads.house_a, config),
        allowed_a=by_phase(loads.allowed_a, config),
        budget_used_s=by_phase(loads.budget.used_s, config),
        chargers=outcomes,
    )
    return ControllerState(memories, loads.budget, taken), decision


def _in_order(
    settled: Mapping[int, Settled], config: ControlConfig
) -> tuple[tuple[ChargerMemory, ...], tuple[ChargerDecision, ...]]:
    """Every charger's memory and outcome, in configuration order."""
    order = range(len(config.chargers))
    return tuple(settled[i].memory for i in order), tuple(settled[i].outcome for i in order)


@dataclass(frozen=True, slots=True)
class _Tariff:
    """The capacity tariff's running interval (None: no tariff) and what the cars drew in it."""

    input: TariffInput | None
    taken: TariffMemory


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the online chargers' set-points are chosen from: the shares after the minimum
    rule, the paused ones' wait, the phases over, and per charger what its car leaves unused."""

    fit: Fit
    waiting: Waiting
    overloaded: set[int]
    unused_a: dict[int, float]
    #: the capacity tariff's ceilings (None: no tariff)
    tariff: TariffCeilings | None = None


def _settle_online(
    online: Sequence[Online],
    loads: PhaseLoads,
    config: ControlConfig,
    received_s: float,
    now_s: float,
    tariff: _Tariff | None = None,
) -> dict[int, Settled]:
    """Shares of what may be offered, the minimum rule and the resume wait, then each online
    charger's set-point. A capacity tariff caps the cars' claims first (:mod:`.tariff`)."""
    unused = {charger.index: unused_a(charger, config, now_s) for charger in online}
    offer_a = with_unused(loads.allowed_a, online, unused, config.fuse.margin_a)
    credit_a = unused_credit_a(online, unused, config.fuse.margin_a)
    may_hold: HoldRule = FuseHold(loads.budget, config, received_s, now_s, credit_a)
    ceilings = None
    if tariff is not None and tariff.input is not None:
        ceilings = tariff_ceilings(
            tariff.input,
            online,
            loads.current_a,
            config.fuse.phases,
            now_s,
            tariff.taken,
            config.hold_horizon_s,
        )
        online = [ceilings.capped(charger) for charger in online]
        may_hold = TariffHold(ceilings, may_hold)
    # room for the paused ones: shares with everyone taking part (paused ones are dropped first)
    room = fit_minimums(online, offer_a, may_hold, config, now_s)
    wait = waiting(online, room, offer_a, config, now_s)
    taking_part = [c for c in online if c.previous_a != 0 or c.index in wait.resuming]
    plan = _Plan(
        fit_minimums(taking_part, offer_a, may_hold, config, now_s),
        wait,
        overloaded_phases(online, loads.house_a, loads.reserved_a, config),
        unused,
        ceilings,
    )
    return {charger.index: _settle(charger, plan, config, received_s, now_s) for charger in online}


def _settle(
    charger: Online, plan: _Plan, config: ControlConfig, received_s: float, now_s: float
) -> Settled:
    """The one place where an online charger's set-point, reason and memory are chosen."""
    index, wait = charger.index, plan.waiting
    if index in wait.room_since_s and index not in wait.resuming:
        setpoint_a, reason = 0.0, Reason.PAUSED_WAIT_RESUME
        floor_a = wait.room_floor_a.get(index, 0.0)
        memory = replace(charger.memory, headroom_since_s=None, headroom_floor_a=floor_a)
    else:
        setpoint_a, reason, memory = setpoint_rule(
            charger, plan.fit, plan.overloaded, config, now_s, wait.room_floor_a.get(index, 0.0)
        )
    if plan.tariff is not None:
        reason = plan.tariff.reason(charger, plan.fit.shares.get(index), setpoint_a, reason)
    keep_room = setpoint_a == 0 and index in wait.room_since_s
    turn_since_s, waiting_since_s = turn_of(charger, setpoint_a, now_s)  # share rotation
    return settled_online(
        charger,
        memory,
        setpoint_a,
        reason,
        now_s,
        turn_since_s=turn_since_s,
        waiting_since_s=waiting_since_s,
        room_since_s=wait.room_since_s[index] if keep_room else None,
        spike_telegram_s=received_s if index in plan.fit.spike_held else None,
        unused_a=plan.unused_a[index] if setpoint_a > 0 else 0.0,
        over_rating_since_s=(
            (charger.memory.over_rating_since_s or now_s)
            if index in plan.fit.over_rating_held
            else None
        ),
    )
