"""Property test of the capacity tariff's limiter (issue 15 acceptance), closed loop in the fast
model over random households (the catalogue of :mod:`loadbalancer.sim.evenings`), cars, budgets
and interval lengths.

Each interval's mean import (what the bill counts) never exceeds max(budget, the house's own
highest draw in that interval) by more than the margin: the limiter cannot take away a load the
house runs on its own, and a load that starts after the cars used the interval's budget is cut
off within a telegram or two (the interval's mean is not the bound: a sauna switched on at the
end of an hour after the car charged at the budget takes the hour above both). Every second the
fuse holds (no overload a charger was allowed to cause) and every set-point is 0 or within the
charger's minimum and maximum (docs/control.md).
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.control import ControlConfig
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.sim.evenings import evening
from loadbalancer.sim.model import Meter, core_policy, run_model
from loadbalancer.sim.month import ImportRegister, import_kw
from tests.control.builders import ev

MARGIN_KW = 0.1
DURATION_S = 2 * 3600.0


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(
    seed=st.integers(0, 10_000),
    budget_kw=st.floats(2.0, 12.0).map(lambda kw: round(kw, 1)),
    interval_s=st.sampled_from((900.0, 3600.0)),
)
def test_the_billed_intervals_stay_within_the_budget_or_the_house(
    seed: int, budget_kw: float, interval_s: float
) -> None:
    scenario = evening(seed, charger="ev", duration_s=DURATION_S)
    car = scenario.cars[0]
    spec = ev(max_current_a=min(car.max_current_a, 16.0))
    config = ControlConfig(load_fuse_profile("3x20A-gG"), (spec,))
    register = ImportRegister(budget_kw, interval_s, MARGIN_KW)
    core = core_policy(config, scenario, register.tariff_at)
    setpoints: list[float] = []

    def policy(
        t: float, meter: Meter | None, measured: dict[str, tuple[float, ...] | None]
    ) -> dict[str, float]:
        out = core(t, meter, measured)
        setpoints.extend(out.values())
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
    assert figures.overload_s == 0
    assert all(a == 0 or spec.min_current_a <= a <= spec.max_current_a for a in setpoints)
    for k in range(int(DURATION_S // interval_s)):
        seconds = range(int(k * interval_s), int((k + 1) * interval_s))
        house_peak_kw = max(import_kw(scenario.house_a(float(t))) for t in seconds)
        billed_kw = register.interval_kwh.get(k, 0.0) * 3600.0 / interval_s
        assert billed_kw <= max(budget_kw, house_peak_kw) + MARGIN_KW, (k, billed_kw)
