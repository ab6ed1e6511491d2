"""The capacity tariff's ceiling in the core (issue 15 item 4): beside the fuse, never above it.

Fuse 3x20A-gG, 16 A three-phase chargers; the house 3 x 1 A = 690 W unless told. An hourly
interval from 0 to 3600 s, nothing imported yet, no margin: the cars may take the budget
minus the house.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from loadbalancer.control import ChargerMemory, Reason, TariffInput
from tests.control.builders import at, config_of, ev, read, step


def hourly(budget_kw: float, *, margin_kw: float = 0.0) -> TariffInput:
    return TariffInput(budget_kw, 0.0, 3600.0, 0.0, margin_kw)


def test_the_fuse_stays_absolute_under_a_generous_budget() -> None:
    one = config_of(ev())
    # L1: 10 A of house + 12 A of car is over 19 A: cut to 9 whatever the tariff allows
    _, decision = step(one, (10, 2, 2), {"ev": read(12)}, {"ev": at(12)}, tariff=hourly(50.0))
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (9, Reason.OVERLOAD_CUT)


def test_a_ceiling_below_the_minimum_pauses_rather_than_holds_on_the_fuse_budget() -> None:
    one = config_of(ev())
    _, fuse_only = step(one, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)})
    assert fuse_only.charger("ev").reason is Reason.MIN_CURRENT_HOLD
    # 16 + 2 + 2 A of house = 4.6 kW: a 6 kW budget leaves 1.4 kW, 2 A on three phases (a run
    # begun before this interval: not held by the tariff)
    _, tariff = step(one, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=hourly(6.0))
    assert (tariff.setpoint("ev"), tariff.charger("ev").reason) == (0, Reason.TARIFF_LIMIT)


def running_since(setpoint_a: float, run_since_s: float) -> ChargerMemory:
    return replace(at(setpoint_a), run_since_s=run_since_s, car_phases=(0, 1, 2))


def half_hour(so_far_kwh: float, budget_kw: float = 5.0) -> TariffInput:
    """Half of an hour gone (now 1800 s), ``so_far_kwh`` imported, no margin."""
    return TariffInput(budget_kw, 0.0, 3600.0, so_far_kwh)


def test_a_run_begun_in_the_interval_is_held_at_its_minimum_while_the_allowance_lasts() -> None:
    one = config_of(ev())
    # 5 kW budget, 1.5 kWh so far at half past: 7 kW may come for the rest; the house's 3 x 4 A
    # (2.76 kW) leaves the car 4.24 kW... with 3 x 5 A (3.45 kW) 3.55 kW, below its 4.14 kW
    # minimum: the share pauses it, but the interval's energy still covers the minimum
    house = (5.0, 5.0, 5.0)
    reads, now = {"ev": read(6)}, 1800.0
    _, held = step(
        one, house, reads, {"ev": running_since(6, 600.0)}, now_s=now, tariff=half_hour(1.5)
    )
    assert (held.setpoint("ev"), held.charger("ev").reason) == (6, Reason.TARIFF_LIMIT)
    # a run carried over from the last interval is not held (it would spend this one first)
    _, carried = step(
        one, house, reads, {"ev": running_since(6, -60.0)}, now_s=now, tariff=half_hour(1.5)
    )
    assert carried.setpoint("ev") == 0
    # the allowance spent (4.9 kWh of 5 by half past): paused whatever the run
    _, spent = step(
        one, house, reads, {"ev": running_since(6, 600.0)}, now_s=now, tariff=half_hour(4.9)
    )
    assert (spent.setpoint("ev"), spent.charger("ev").reason) == (0, Reason.TARIFF_LIMIT)


def test_a_paused_car_starts_only_for_a_run_of_ten_minutes() -> None:
    one = config_of(ev(), resume_delay_s=20.0)
    paused = replace(at(0), room_since_s=3000.0, car_phases=(0, 1, 2))
    reads, house = {"ev": read(0)}, (6.4, 6.4, 6.4)  # 4.4 kW of house
    # 5 minutes before the hour's end, 0.75 kWh of the budget left: 9 kW for 300 s, 4.6 kW
    # for the car, its minimum (4.14 kW) fits to the end; a 5 kW budget leaves the next hour
    # 0.58 kW, 8.5 minutes more at the minimum: a run of 13.5 minutes, it starts
    _, starts = step(
        one, house, reads, {"ev": paused}, now_s=3300.0, tariff=TariffInput(5.0, 0, 3600, 4.25)
    )
    assert starts.setpoint("ev") == 6
    # with a 4.5 kW budget the next hour leaves 0.08 kW: a run of 6 minutes, it stays paused
    _, short = step(
        one, house, reads, {"ev": paused}, now_s=3300.0, tariff=TariffInput(4.5, 0, 3600, 3.75)
    )
    assert (short.setpoint("ev"), short.charger("ev").reason) == (0, Reason.TARIFF_LIMIT)


def test_a_ready_by_charger_takes_its_need_and_the_others_share_the_rest() -> None:
    two = config_of(ev("a"), ev("b"))
    reads = {"a": read(12), "b": read(6)}
    memories = {"a": at(12), "b": at(6)}
    # no house: 10 kW, 5 kW each (7.2 A); a needs 7 kW (10.1 A): it is cut from 12 to 10
    # only, above its share (override); b gets 3 kW, below its minimum: paused
    needs = replace(hourly(10.0), needed_kw={"a": 7.0})
    _, decision = step(two, (0, 0, 0), reads, memories, tariff=needs)
    assert (decision.setpoint("a"), decision.charger("a").reason) == (10, Reason.TARIFF_OVERRIDE)
    assert (decision.setpoint("b"), decision.charger("b").reason) == (0, Reason.TARIFF_LIMIT)


def test_a_ready_by_charger_ramps_up_to_its_need() -> None:
    one = config_of(ev())
    # at 8 A, the ramp-up delay over, 3 kW of budget; it needs 11 kW (15.9 A): it is raised to
    # that, not held at what it takes now (the ceiling is its need, not its present claim)
    needs = replace(hourly(3.0), needed_kw={"ev": 11.0})
    memory = at(8, headroom_since_s=-100.0, headroom_floor_a=16.0)
    _, decision = step(one, (0, 0, 0), {"ev": read(8)}, {"ev": memory}, tariff=needs)
    assert decision.setpoint("ev") >= 15
    assert decision.charger("ev").reason is Reason.TARIFF_OVERRIDE


def test_a_need_within_the_share_changes_nothing() -> None:
    two = config_of(ev("a"), ev("b"))
    reads = {"a": read(12), "b": read(8)}
    memories = {"a": at(12), "b": at(8)}
    plain = step(two, (1, 1, 1), reads, memories, tariff=hourly(10.0))
    # 4 kW is below a's share of 4655 W; a charger that has no car here needs nothing
    needs = replace(hourly(10.0), needed_kw={"a": 4.0, "elsewhere": 9.0})
    assert step(two, (1, 1, 1), reads, memories, tariff=needs) == plain


def test_a_ready_by_charger_never_takes_more_than_the_fuse_allows() -> None:
    one = config_of(ev())
    # L1: 12 A of house + 12 A of car is over 19 A: cut to 7 whatever it needs
    needs = replace(hourly(5.0), needed_kw={"ev": 11.0})
    _, decision = step(one, (12, 1, 1), {"ev": read(12)}, {"ev": at(12)}, tariff=needs)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (7, Reason.OVERLOAD_CUT)


def test_the_margin_comes_off_the_budget() -> None:
    one = config_of(ev())
    # 8 kW - 690 W = 7310 W = 10.6 A; with 1 kW of margin 6310 W = 9.1 A
    _, plain = step(one, (1, 1, 1), {"ev": read(12)}, {"ev": at(12)}, tariff=hourly(8.0))
    _, margin = step(
        one, (1, 1, 1), {"ev": read(12)}, {"ev": at(12)}, tariff=hourly(8.0, margin_kw=1.0)
    )
    assert (plain.setpoint("ev"), margin.setpoint("ev")) == (10, 9)


def test_equal_shares_and_one_car_rather_than_none() -> None:
    two = config_of(ev("a"), ev("b"))
    reads = {"a": read(8), "b": read(8)}
    memories = {"a": at(8), "b": at(8)}
    # 10 kW - 690 W = 9310 W: 6.7 A each
    _, both = step(two, (1, 1, 1), reads, memories, tariff=hourly(10.0))
    assert (both.setpoint("a"), both.setpoint("b")) == (6, 6)
    assert {both.charger("a").reason, both.charger("b").reason} == {Reason.TARIFF_LIMIT}
    # 8 kW - 690 W = 7310 W: 5.3 A each is below the minimum; b (configured last) pauses, a
    # takes it all (10.6 A, but a cut is at once and a raise waits: it stays at 8)
    _, one = step(two, (1, 1, 1), reads, memories, tariff=hourly(8.0))
    assert (one.setpoint("a"), one.setpoint("b")) == (8, 0)
    assert one.charger("b").reason is Reason.TARIFF_LIMIT


def test_a_one_phase_car_takes_its_share_on_one_phase() -> None:
    single = config_of(ev(phases=("L2",)))
    # 3 kW - 690 W = 2310 W on one phase: 10.04 A
    _, decision = step(single, (1, 1, 1), {"ev": read(16, 1)}, {"ev": at(16)}, tariff=hourly(3.0))
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (10, Reason.TARIFF_LIMIT)


def test_no_tariff_is_the_fuse_alone() -> None:
    one = config_of(ev())
    with_none = step(one, (3, 4, 5), {"ev": read(12)}, {"ev": at(12)}, tariff=None)
    without = step(one, (3, 4, 5), {"ev": read(12)}, {"ev": at(12)})
    assert with_none == without


def test_an_unknown_chargers_draw_counts_against_the_budget() -> None:
    two = config_of(ev("a"), ev("b"))
    # b refuses its limit: unknown, its 6 A on three phases (4140 W) are not the cars' to share;
    # 10 kW - 690 W of house - 4140 W = 5170 W = 7.5 A for a
    reads = {"a": read(10), "b": replace(read(6), controlled=False)}
    _, decision = step(two, (1, 1, 1), reads, {"a": at(10), "b": at(6)}, tariff=hourly(10.0))
    assert decision.charger("b").reason is Reason.CHARGER_UNKNOWN_RESERVED
    assert (decision.setpoint("a"), decision.charger("a").reason) == (7, Reason.TARIFF_LIMIT)


@pytest.mark.parametrize(
    ("budget_kw", "start_s", "end_s", "so_far_kwh", "message"),
    [
        (math.nan, 0.0, 3600.0, 0.0, "finite"),
        (5.0, 0.0, math.inf, 0.0, "finite"),
        (-1.0, 0.0, 3600.0, 0.0, ">= 0"),
        (5.0, 0.0, 3600.0, -0.1, ">= 0"),
        (5.0, 3600.0, 3600.0, 0.0, "after"),
    ],
)
def test_a_tariff_input_the_core_cannot_work_with_is_refused(
    budget_kw: float, start_s: float, end_s: float, so_far_kwh: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TariffInput(budget_kw, start_s, end_s, so_far_kwh)
