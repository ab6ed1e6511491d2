"""The simulation's ground truth of the fuse uses the fuse model of the core: one I²t integral."""

from __future__ import annotations

from loadbalancer.control.fuse import BudgetState, spent_s, update_budget
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.sim.figures import Tally

GG20 = load_fuse_profile("3x20A-gG")


def test_the_tally_and_the_core_budget_are_the_same_integral_to_the_last_bit() -> None:
    """A constant overload of 20.408 A on a 20 A fuse for a minute, sampled every second by the
    simulation and read every second by the core: the same excess I²t on each phase, bit for
    bit. (At this ratio x * x and x ** 2 differ in the last bit: two integrals written apart
    drift apart.)"""
    amps = (20.408, 22.131, 22.878)
    tally = Tally(GG20)
    budget = update_budget(BudgetState(), GG20, amps, 0.0, 25.0)
    for second in range(1, 61):
        tally.sample(amps, 0.0, 1.0)
        budget = update_budget(budget, GG20, amps, float(second), 25.0)
    assert tuple(tally.used_s) == budget.used_s
    assert all(used > 0 for used in budget.used_s)


def test_the_integral_cools_below_the_rating_and_never_goes_below_zero() -> None:
    assert spent_s(10.0, 0.5, 4.0) == 10.0 - 0.75 * 4.0
    assert spent_s(1.0, 0.5, 4.0) == 0.0
    assert spent_s(0.0, 2.0, 1.0) == 3.0
