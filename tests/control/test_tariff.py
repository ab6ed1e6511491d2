"""The capacity tariff's ceiling in the core (issue 15 item 4): beside the fuse, never above it.

Fuse 3x20A-gG, 16 A three-phase chargers; the house 3 x 1 A = 690 W unless told. An hourly
interval from 0 to 3600 s, nothing imported yet, no margin: the cars may take the budget
minus the house.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from loadbalancer.control import Reason, TariffInput
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
    # 16 + 2 + 2 A of house = 4.6 kW: a 6 kW budget leaves 1.4 kW, 2 A on three phases
    _, tariff = step(one, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=hourly(6.0))
    assert (tariff.setpoint("ev"), tariff.charger("ev").reason) == (0, Reason.TARIFF_LIMIT)


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
