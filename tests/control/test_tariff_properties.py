"""Property test of the capacity tariff's limiter (issue 15 acceptance), closed loop in the fast
model over random households (the catalogue of :mod:`loadbalancer.sim.evenings`), cars, budgets
and interval lengths.

Each interval's mean import (what the bill counts) never exceeds max(budget, the house's own
highest draw in that interval) by more than the margin: the limiter cannot take away a load the
house runs on its own, and a load that starts after the cars used the interval's budget is cut
off within a telegram or two (the interval's mean is not the bound: a sauna switched on at the
end of an hour after the car charged at the budget takes the hour above both). Every second the
fuse holds (no overload a charger was allowed to cause) and every set-point is 0 or within the
charger's minimum and maximum (docs/control.md). With a ``ready_by`` need, each interval is above
that bound by at most the need; a need of 0 (or of a charger not there) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.control import ControlConfig, TariffInput
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.sim.evenings import evening
from loadbalancer.sim.model import Meter, core_policy, run_model
from loadbalancer.sim.month import ImportRegister, import_kw
from tests.control.builders import ev

MARGIN_KW = 0.1
DURATION_S = 2 * 3600.0


@dataclass(frozen=True)
class Run:
    """One closed-loop evening: every set-point, each interval's mean import (kW), the house's
    highest draw in each interval (kW), and the seconds over the fuse a charger caused."""

    setpoints: list[float]
    billed_kw: list[float]
    house_peak_kw: list[float]
    overload_s: float


def run(seed: int, budget_kw: float, interval_s: float, needed: dict[str, float]) -> Run:
    scenario = evening(seed, charger="ev", duration_s=DURATION_S)
    car = scenario.cars[0]
    spec = ev(max_current_a=min(car.max_current_a, 16.0))
    config = ControlConfig(load_fuse_profile("3x20A-gG"), (spec,))
    register = ImportRegister(budget_kw, interval_s, MARGIN_KW)

    def tariff(t: float) -> TariffInput:
        return replace(register.tariff_at(t), needed_kw=needed)

    core = core_policy(config, scenario, tariff)
    setpoints: list[float] = []

    def policy(
        t: float, meter: Meter | None, measured: dict[str, tuple[float, ...] | None]
    ) -> dict[str, float]:
        out = core(t, meter, measured)
        setpoints.extend(out.values())
        assert all(a == 0 or spec.min_current_a <= a <= spec.max_current_a for a in out.values())
        return out

    figures = run_model(
        "tariff",
        replace(scenario, cars=(car,)),
        config,
        policy,
        telegram_period_s=10.0,
        poll_interval_s=2.0,
        bound=0.0,
        observe=register.observe,
    )
    register.flush()
    billed, house = [], []
    for k in range(int(DURATION_S // interval_s)):
        seconds = range(int(k * interval_s), int((k + 1) * interval_s))
        house.append(max(import_kw(scenario.house_a(float(t))) for t in seconds))
        billed.append(register.interval_kwh.get(k, 0.0) * 3600.0 / interval_s)
    return Run(setpoints, billed, house, figures.overload_s)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 10_000),
    budget_kw=st.floats(2.0, 12.0).map(lambda kw: round(kw, 1)),
    interval_s=st.sampled_from((900.0, 3600.0)),
)
def test_the_billed_intervals_stay_within_the_budget_or_the_house(
    seed: int, budget_kw: float, interval_s: float
) -> None:
    evening_run = run(seed, budget_kw, interval_s, {})
    assert evening_run.overload_s == 0
    for k, billed_kw in enumerate(evening_run.billed_kw):
        house_peak_kw = evening_run.house_peak_kw[k]
        assert billed_kw <= max(budget_kw, house_peak_kw) + MARGIN_KW, (k, billed_kw)


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 10_000),
    budget_kw=st.floats(2.0, 8.0).map(lambda kw: round(kw, 1)),
    interval_s=st.sampled_from((900.0, 3600.0)),
    needed_kw=st.floats(0.5, 9.0).map(lambda kw: round(kw, 1)),
)
def test_a_ready_by_charger_exceeds_the_budget_by_at_most_what_it_needs(
    seed: int, budget_kw: float, interval_s: float, needed_kw: float
) -> None:
    """The fuse holds and every set-point is 0 or within the charger's range; each interval is
    above max(budget, the house's peak) by at most the need and the margin."""
    evening_run = run(seed, budget_kw, interval_s, {"ev": needed_kw})
    assert evening_run.overload_s == 0
    for k, billed_kw in enumerate(evening_run.billed_kw):
        bound_kw = max(budget_kw, evening_run.house_peak_kw[k]) + needed_kw + MARGIN_KW
        assert billed_kw <= bound_kw, (k, billed_kw)


@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 10_000), budget_kw=st.floats(2.0, 8.0).map(lambda kw: round(kw, 1)))
def test_no_need_changes_nothing(seed: int, budget_kw: float) -> None:
    """A need of 0, or a need of a charger that is not there, is the plain budget's run."""
    plain = run(seed, budget_kw, 3600.0, {})
    assert run(seed, budget_kw, 3600.0, {"ev": 0.0, "elsewhere": 7.0}) == plain
