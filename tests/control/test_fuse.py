"""The overload budget (docs/control.md §The overload budget): integrate (x² − 1)·dt per phase,
cool below the rating."""

from __future__ import annotations

import math

import pytest

from loadbalancer.control.fuse import (
    BudgetState,
    Characteristic,
    FuseProfile,
    may_hold_at_minimum,
    update_budget,
)

GG_20 = FuseProfile("3x20A-gG", 20.0, 3, Characteristic.GG, 1.0, 60.0, 1.5)
STRICT_20 = FuseProfile("3x20A-strict", 20.0, 3, Characteristic.STRICT, 1.0, 0.0, 1.0)


def test_excess_i2t_accumulates_on_the_overloaded_phase_only() -> None:
    budget = update_budget(BudgetState(), GG_20, (30.0, 10.0, -10.0), 0.0, 25.0)
    assert budget.used_s == (0.0, 0.0, 0.0)  # the first reading only sets the clock
    budget = update_budget(budget, GG_20, (30.0, 10.0, -10.0), 10.0, 25.0)
    assert budget.used_s[0] == pytest.approx((1.5**2 - 1) * 10)
    assert budget.used_s[1:] == (0.0, 0.0)


def test_export_current_heats_the_fuse_too() -> None:
    budget = update_budget(BudgetState(), GG_20, (-30.0, 0.0, 0.0), 0.0, 25.0)
    budget = update_budget(budget, GG_20, (-30.0, 0.0, 0.0), 10.0, 25.0)
    assert budget.used_s[0] == pytest.approx(12.5)


def test_the_larger_of_two_readings_counts_for_the_interval_and_it_cools_below_rating() -> None:
    budget = BudgetState((20.0, 0.0, 0.0), (1.5, 0.0, 0.0), 0.0)
    after = update_budget(budget, GG_20, (10.0, 0.0, 0.0), 10.0, 25.0)
    assert after.used_s[0] == pytest.approx(20.0 + 12.5)  # 1.5·In still counted up to now
    later = update_budget(after, GG_20, (10.0, 0.0, 0.0), 20.0, 25.0)
    assert later.used_s[0] == pytest.approx(32.5 - 0.75 * 10)
    cool = update_budget(later, GG_20, (10.0, 0.0, 0.0), 1000.0, 25.0)
    assert cool.used_s[0] == pytest.approx(25.0 - 0.75 * 25)  # a gap counts at most 25 s


def test_the_budget_never_goes_negative_and_the_same_reading_counts_once() -> None:
    budget = update_budget(
        BudgetState((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), 0.0), GG_20, (0.0,) * 3, 10.0, 25.0
    )
    assert budget.used_s == (0.0, 0.0, 0.0)
    assert update_budget(budget, GG_20, (40.0,) * 3, 10.0, 25.0) is budget


@pytest.mark.parametrize(
    ("load_ratio", "seconds"), [(1.1, 285.7), (1.25, 106.7), (1.4, 62.5), (1.49, 49.0)]
)
def test_tolerated_time_at_a_steady_overload(load_ratio: float, seconds: float) -> None:
    budget = update_budget(BudgetState(), GG_20, (20.0 * load_ratio,) * 3, 0.0, 25.0)
    held_s = 0.0
    while may_hold_at_minimum(budget, GG_20, 0, 20.0 * load_ratio) and held_s < 3600:
        held_s += 1.0
        budget = update_budget(budget, GG_20, (20.0 * load_ratio,) * 3, held_s, 25.0)
    assert math.isclose(held_s, seconds, abs_tol=1.0)


@pytest.mark.parametrize(("load_ratio", "seconds"), [(1.1, 275.7), (1.25, 96.7), (1.4, 52.5)])
def test_a_hold_ends_a_telegram_period_before_the_budget_does(
    load_ratio: float, seconds: float
) -> None:
    # the next telegram comes 10 s later: the budget must still last until then
    budget = update_budget(BudgetState(), GG_20, (20.0 * load_ratio,) * 3, 0.0, 25.0)
    held_s = 0.0
    while may_hold_at_minimum(budget, GG_20, 0, 20.0 * load_ratio, 10.0) and held_s < 3600:
        held_s += 1.0
        budget = update_budget(budget, GG_20, (20.0 * load_ratio,) * 3, held_s, 25.0)
    assert math.isclose(held_s, seconds, abs_tol=1.0)


def test_hard_limit_and_strict_fuses_never_hold() -> None:
    assert may_hold_at_minimum(BudgetState(), GG_20, 1, 29.9)
    assert not may_hold_at_minimum(BudgetState(), GG_20, 1, 30.0)
    assert not may_hold_at_minimum(BudgetState(), STRICT_20, 1, 19.5)


def test_profiles_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="phases"):
        FuseProfile("x", 20.0, 2, Characteristic.GG)
    with pytest.raises(ValueError, match="margin"):
        FuseProfile("x", 20.0, 3, Characteristic.GG, margin_a=20.0)
