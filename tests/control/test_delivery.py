"""Issue 13: the rules that let the car charge as fast as the fuse allows, each with the case
it is for and its near miss. Fuse 3x20A-gG: the chargers may use 19 A minus the house; budget
60 I_n²·s, hard limit 30 A, spike limit 40 A."""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control import ChargerRead, Reason
from loadbalancer.control.fuse import BudgetState
from loadbalancer.control.state import ChargerMemory
from tests.control.builders import at, config_of, ev, read, step

ONE = config_of(ev(), resume_delay_s=20.0)
PAUSED = read(0, status="B")


def test_a_paused_charger_resumes_when_only_its_minimum_fits() -> None:
    # 19 - 12.5 = 6.5 A of room: the minimum fits, without the old one-amp margin
    state, _ = step(ONE, (12.5, 2, 2), {"ev": PAUSED}, {"ev": at(0)}, now_s=50)
    assert state.chargers[0].room_since_s == 50
    _, decision = step(
        ONE, (12.5, 2, 2), {"ev": PAUSED}, {"ev": replace(at(0), room_since_s=30)}, now_s=50
    )
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (6, Reason.RESUME)
    # 5.5 A of room: no
    state, _ = step(ONE, (13.5, 2, 2), {"ev": PAUSED}, {"ev": at(0)}, now_s=50)
    assert state.chargers[0].room_since_s is None


def test_a_resume_goes_in_one_step_to_the_lowest_share_seen_while_waiting() -> None:
    waited = replace(at(0), room_since_s=0.0, headroom_floor_a=11.0)
    _, decision = step(ONE, (2, 2, 2), {"ev": PAUSED}, {"ev": waited}, now_s=20)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (11, Reason.RESUME)
    # and never above what fits now (19 - 10 = 9)
    _, decision = step(ONE, (10, 2, 2), {"ev": PAUSED}, {"ev": waited}, now_s=20)
    assert decision.setpoint("ev") == 9


def test_the_wait_while_paused_keeps_the_lowest_share() -> None:
    waiting = replace(at(0), room_since_s=0.0, headroom_floor_a=16.0)
    state, decision = step(ONE, (8, 2, 2), {"ev": PAUSED}, {"ev": waiting}, now_s=10)
    assert decision.charger("ev").reason is Reason.PAUSED_WAIT_RESUME
    assert state.chargers[0].headroom_floor_a == 11


def test_each_recent_pause_doubles_the_resume_delay_up_to_the_maximum() -> None:
    config = replace(ONE, resume_delay_max_s=60.0)
    two_pauses = replace(at(0), room_since_s=0.0, pauses_s=(-1000.0, -500.0))
    _, early = step(config, (2, 2, 2), {"ev": PAUSED}, {"ev": two_pauses}, now_s=39)
    assert early.charger("ev").reason is Reason.PAUSED_WAIT_RESUME
    _, late = step(config, (2, 2, 2), {"ev": PAUSED}, {"ev": two_pauses}, now_s=40)
    assert late.charger("ev").reason is Reason.RESUME
    many = replace(two_pauses, pauses_s=tuple(-100.0 * k for k in range(1, 9)))
    _, capped = step(config, (2, 2, 2), {"ev": PAUSED}, {"ev": many}, now_s=60)
    assert capped.charger("ev").reason is Reason.RESUME
    # pauses older than pause_memory_s (an hour) no longer count
    old = replace(two_pauses, pauses_s=(-5000.0, -4000.0))
    _, fresh = step(config, (2, 2, 2), {"ev": PAUSED}, {"ev": old}, now_s=20)
    assert fresh.charger("ev").reason is Reason.RESUME


def test_a_pause_is_remembered() -> None:
    spent = BudgetState((60.0, 0.0, 0.0), (1.2, 0.5, 0.5), -10.0)
    state, decision = step(ONE, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=7, budget=spent)
    assert decision.charger("ev").reason is Reason.MIN_CURRENT_PAUSE
    assert state.chargers[0].pauses_s == (7,)


def test_a_start_current_above_the_hard_limit_is_held_for_one_telegram_on_a_gg_fuse() -> None:
    # 27 + 6 = 33 A on L1: above the hard limit (30 A), below the spike limit (40 A)
    state, first = step(ONE, (27, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=0)
    assert (first.setpoint("ev"), first.charger("ev").reason) == (6, Reason.MIN_CURRENT_HOLD)
    assert state.chargers[0].spike_telegram_s == 0
    # the next telegram still shows it: paused
    _, second = step(ONE, (27, 2, 2), {"ev": read(6)}, {"ev": state.chargers[0]}, now_s=10)
    assert (second.setpoint("ev"), second.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)
    # the spike is gone on the next telegram: no pause, and the grace is free again
    state, calm = step(ONE, (13, 2, 2), {"ev": read(6)}, {"ev": state.chargers[0]}, now_s=10)
    assert calm.setpoint("ev") == 6 and state.chargers[0].spike_telegram_s is None
    # beyond the spike limit (35 + 6 = 41 A): paused at once
    _, huge = step(ONE, (35, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=0)
    assert huge.charger("ev").reason is Reason.MIN_CURRENT_PAUSE


def test_a_breaker_gets_no_grace_above_its_hard_limit() -> None:
    breaker = config_of(ev(), fuse="3x20A-C")
    # 24 + 6 = 30 A: above its hard limit 1.45 x 20 = 29 A, paused on the first telegram
    _, decision = step(breaker, (24, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=0)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)


def test_a_hold_above_the_rating_lasts_a_spike_then_keeps_budget_for_the_next() -> None:
    # 15 + 6 = 21 A on L1: above the 20 A rating
    used = BudgetState((30.0, 0.0, 0.0), (1.05, 0.5, 0.5), -10.0)
    young = replace(at(10), over_rating_since_s=-30.0)
    _, decision = step(ONE, (15, 2, 2), {"ev": read(10)}, {"ev": young}, budget=used)
    assert decision.charger("ev").reason is Reason.MIN_CURRENT_HOLD
    # held for a minute already, and 30 of 60 used (more than the 40 % a lasting hold may use)
    old = replace(at(10), over_rating_since_s=-60.0)
    _, decision = step(ONE, (15, 2, 2), {"ev": read(10)}, {"ev": old}, budget=used)
    assert decision.charger("ev").reason is Reason.MIN_CURRENT_PAUSE
    # held for a minute, but little budget used: it may go on
    little = replace(used, used_s=(10.0, 0.0, 0.0))
    state, decision = step(ONE, (15, 2, 2), {"ev": read(10)}, {"ev": old}, budget=little)
    assert decision.charger("ev").reason is Reason.MIN_CURRENT_HOLD
    assert state.chargers[0].over_rating_since_s == -60
    # within the rating (noise around the cut point, 13.5 + 6 = 19.5 A): no clock at all
    state, decision = step(ONE, (13.5, 2, 2), {"ev": read(10)}, {"ev": old}, budget=used)
    assert decision.charger("ev").reason is Reason.MIN_CURRENT_HOLD
    assert state.chargers[0].over_rating_since_s is None


def test_a_charger_without_a_car_takes_only_what_the_cars_leave() -> None:
    config = config_of(ev("a"), ev("b"))
    reads = {"a": read(16), "b": read(0, status="A")}
    _, decision = step(config, (2, 2, 2), reads, {"a": at(16), "b": at(6)})
    # 17 A of room: the car keeps its 16 A, the empty box gets no reserve
    assert decision.setpoint("a") == 16
    assert (decision.setpoint("b"), decision.charger("b").reason) == (0, Reason.NO_CAR)
    # with room to spare it is offered its minimum, ready for a car
    _, roomy = step(config, (-8, -8, -8), reads, {"a": at(16), "b": at(0)})
    assert roomy.setpoint("a") == 16


def test_what_a_car_leaves_unused_is_offered_again_up_to_the_margin() -> None:
    # offered 10, draws 8.5 (its charger takes 1.5 A less); the house leaves 19 - 10 = 9 A
    memory = replace(at(10), car_phases=(0, 1, 2))
    _, decision = step(ONE, (10, 2, 2), {"ev": read(8.5)}, {"ev": memory})
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (10, Reason.STEADY)
    # one that draws what it is offered is cut to the allowance
    _, full = step(ONE, (10, 2, 2), {"ev": read(10)}, {"ev": memory})
    assert (full.setpoint("ev"), full.charger("ev").reason) == (9, Reason.OVERLOAD_CUT)
    # at most the margin (1 A): the house leaves 8 A, the car is cut to 9 A
    _, deeper = step(ONE, (11, 2, 2), {"ev": read(8.5)}, {"ev": memory})
    assert deeper.setpoint("ev") == 9


def test_a_raise_smaller_than_min_raise_a_waits() -> None:
    deci = config_of(replace(ev(), granularity_a=0.1))
    window = replace(at(10), headroom_since_s=0.0, headroom_floor_a=10.5)
    state, decision = step(deci, (8.5, 2, 2), {"ev": read(10)}, {"ev": window}, now_s=30)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (10, Reason.HOLD_RAMP_DELAY)
    assert state.chargers[0].headroom_since_s == 30  # a new window from now
    window = replace(window, headroom_floor_a=11.0)
    _, decision = step(deci, (8.0, 2, 2), {"ev": read(10)}, {"ev": window}, now_s=30)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (11, Reason.RAMP_UP)


def test_reads_without_status_still_work() -> None:
    no_status = ChargerRead((10.0, 10.0, 10.0), None, True, 0.0)
    _, decision = step(ONE, (2, 2, 2), {"ev": no_status}, {"ev": ChargerMemory(10.0, -100.0)})
    assert decision.setpoint("ev") == 10


def test_a_pause_counts_towards_the_resume_delay_only_if_a_car_was_drawing() -> None:
    spent = BudgetState((60.0, 0.0, 0.0), (1.2, 0.5, 0.5), -10.0)
    # a car plugged in but not yet drawing (status B, 0 A): no contactor opens
    idle = read(0, status="B")
    state, decision = step(ONE, (16, 2, 2), {"ev": idle}, {"ev": at(10)}, now_s=7, budget=spent)
    assert decision.setpoint("ev") == 0
    assert state.chargers[0].pauses_s == ()
    # a car drawing 10 A: the pause counts
    state, _ = step(ONE, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=7, budget=spent)
    assert state.chargers[0].pauses_s == (7,)


def test_a_hold_at_or_under_the_rating_needs_no_budget() -> None:
    # the budget is spent (a spike before), but 13.5 + 6 = 19.5 A is under the 20 A rating:
    # the fuse cools there, so the car stays at its minimum
    spent = BudgetState((60.0, 0.0, 0.0), (1.0, 0.5, 0.5), -10.0)
    _, held = step(ONE, (13.5, 2, 2), {"ev": read(6)}, {"ev": at(6)}, now_s=0, budget=spent)
    assert (held.setpoint("ev"), held.charger("ev").reason) == (6, Reason.MIN_CURRENT_HOLD)
    # 14.5 + 6 = 20.5 A: above the rating with no budget left, paused
    _, paused = step(ONE, (14.5, 2, 2), {"ev": read(6)}, {"ev": at(6)}, now_s=0, budget=spent)
    assert (paused.setpoint("ev"), paused.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)


def test_the_first_share_after_a_fallback_is_a_fresh_start() -> None:
    # at the stale meter's safe current (or an offline box's failsafe), not a share the fuse
    # was known to leave: straight to what fits, as at the start of a session
    after_fallback = replace(at(6), fallback=True)
    state, decision = step(ONE, (2, 2, 2), {"ev": read(6)}, {"ev": after_fallback}, now_s=0)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (16, Reason.START)
    assert state.chargers[0].fallback is False
    # the same 6 A chosen by the rules: a raise waits for the headroom to last
    _, ordinary = step(ONE, (2, 2, 2), {"ev": read(6)}, {"ev": at(6)}, now_s=0)
    assert ordinary.charger("ev").reason is Reason.HOLD_RAMP_DELAY


def test_noise_around_the_cut_point_does_not_restart_a_resume_wait() -> None:
    # waiting since 0 s; now a telegram shows 5.9 A of room (19 - 13.1): the minimum would
    # still keep L1 within its 20 A rating, so the wait goes on, without resuming on it
    waited = replace(at(0), room_since_s=0.0, headroom_floor_a=6.0)
    state, dip = step(ONE, (13.1, 2, 2), {"ev": PAUSED}, {"ev": waited}, now_s=15)
    assert (dip.setpoint("ev"), dip.charger("ev").reason) == (0, Reason.PAUSED_WAIT_RESUME)
    assert state.chargers[0].room_since_s == 0.0
    # the next telegram has room again, and the wait counted through the dip: resumed
    _, back = step(ONE, (12.8, 2, 2), {"ev": PAUSED}, {"ev": state.chargers[0]}, now_s=25)
    assert (back.setpoint("ev"), back.charger("ev").reason) == (6, Reason.RESUME)
    # a real lack of room (more than the margin below the minimum) does restart it
    state, _ = step(ONE, (14.5, 2, 2), {"ev": PAUSED}, {"ev": waited}, now_s=15)
    assert state.chargers[0].room_since_s is None
