"""Scenarios, ground-truth figures, the offline optimum and the baseline policies (pure parts)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.errors import ConfigError
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.sim.clock import run_accelerated
from loadbalancer.sim.figures import ChargerSlot, Tally, optimum_kwh
from loadbalancer.sim.model import max_phase_policy, run_model, static_limit_a, static_policy
from loadbalancer.sim.scenario import bundled_scenarios, load_scenario

GG20 = load_fuse_profile("3x20A-gG")


def test_bundled_scenarios_load_and_are_deterministic() -> None:
    names = bundled_scenarios()
    assert {"winter-evening", "solar-midday", "one-phase-car", "faults", "slow-car"} <= set(names)
    for name in names:
        scenario = load_scenario(name)
        assert scenario.duration_s >= 3600 and scenario.cars
        assert scenario.house_a(1234.0) == load_scenario(name).house_a(1234.0)


def test_winter_evening_has_spikes_under_a_minute_and_sustained_loads() -> None:
    scenario = load_scenario("winter-evening")
    spikes = scenario.spikes()
    assert len(spikes) == 5 and all(s.duration_s < 60 for s in spikes)
    # the sauna: 9.4 A on every phase on top of the base load
    quiet, sauna = scenario.house_a(7100.0), scenario.house_a(7400.0)
    assert all(b - a > 8.0 for a, b in zip(quiet, sauna, strict=True))


def test_solar_makes_phase_currents_negative() -> None:
    scenario = load_scenario("solar-midday")
    assert all(a < -5.0 for a in scenario.house_a(5400.0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nduration_s: 100\nhouse: {base_a: [1, 2]}\ncars: {}\n",
            "house.base_a: expected three",
        ),
        (
            "name: x\nduration_s: 100\nhouse: {base_a: [1, 2, 3]}\ncars: {c: {phases: 2}}\n",
            "cars.c.phases: a car charges on 1 or 3 phases",
        ),
        (
            "name: x\nduration_s: 100\nhouse: {base_a: [1, 2, 3]}\ncars: {}\n"
            "faults: [{kind: fire, at_s: 1, duration_s: 2}]\n",
            "faults[0].kind: unknown fault 'fire'",
        ),
        (
            "name: x\nduration_s: 100\nhouse: {base_a: [1, 2, 3], events: [{name: e, at_s: 0, "
            "duration_s: 5, phases: [L4], current_a: 1}]}\ncars: {}\n",
            "house.events[0].phases[0]",
        ),
    ],
)
def test_invalid_scenarios_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(str(path))


def test_tally_counts_overload_only_beyond_the_budget() -> None:
    tally = Tally(GG20)
    for _ in range(1000):  # 10 % over the rating: (1.21 - 1) = 0.21 I_n²·s per second
        tally.sample((22.0, 5.0, 5.0), 0.0, 1.0)
    budget_lasts_s = GG20.overload_budget_s / 0.21
    assert tally.overload_s == pytest.approx(1000 - budget_lasts_s, abs=2)
    strict = Tally(load_fuse_profile("3x20A-strict"))
    strict.sample((20.5, 0.0, 0.0), 0.0, 1.0)
    assert strict.overload_s == 1.0


def test_tally_energy() -> None:
    tally = Tally(GG20)
    for _ in range(3600):
        tally.sample((16.0, 16.0, 16.0), 48.0, 1.0)  # 3 x 16 A for an hour
    assert tally.energy_kwh == pytest.approx(48 * 230 / 1000, rel=1e-6)


def test_optimum_on_a_constant_house_is_the_whole_headroom(tmp_path: Path) -> None:
    path = tmp_path / "flat.yaml"
    path.write_text(
        "name: flat\nduration_s: 3600\nhouse: {base_a: [5, 5, 5], noise_a: 0}\n"
        "cars: {box: {phases: 3, max_current_a: 32, shortfall_a: 0}}\n"
    )
    scenario = load_scenario(str(path))
    slot = ChargerSlot("box", (0, 1, 2), 16.0, 6.0, 1.0, 1)
    # 20 - 1 margin - 5 house = 14 A on three phases for an hour
    assert optimum_kwh(scenario, GG20, [slot], 300) == pytest.approx(14 * 3 * 230 / 1000)


def config_for(scenario_name: str) -> ControlConfig:
    return ControlConfig(GG20, (ChargerSpec("carport", ("L1", "L2", "L3"), 16.0),))


def test_static_limit_survives_the_sustained_peak() -> None:
    scenario = load_scenario("slow-car")
    config = config_for("slow-car")
    limit = static_limit_a(config, scenario)
    peak = max(
        max(scenario.house_a(float(t)))
        for t in range(int(scenario.duration_s))
        if not scenario.in_spike(float(t))
    )
    assert limit == 20 - int(peak) - (1 if peak > int(peak) else 0) or limit <= 20 - peak
    figures = run_model(
        "static",
        scenario,
        config,
        static_policy(config, scenario),
        telegram_period_s=10,
        poll_interval_s=2,
        optimum=1.0,
    )
    assert figures.overload_s == 0 and figures.writes == 1


def test_the_peers_max_phase_controller_hunts() -> None:
    scenario = load_scenario("slow-car")
    config = config_for("slow-car")
    figures = run_model(
        "peer",
        scenario,
        config,
        max_phase_policy(config),
        telegram_period_s=10,
        poll_interval_s=2,
        optimum=1.0,
    )
    # the car draws less than offered, so "house = meter - set-point" is too low, and with no
    # ramp delay the limit goes up and down with every telegram
    assert figures.cuts > 50


def test_accelerated_loop_runs_timers_faster_than_the_wall_clock() -> None:
    async def nap() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(200.0)
        return loop.time() - start

    wall = time.monotonic()
    simulated = run_accelerated(nap(), 400.0)
    assert simulated >= 200.0
    assert time.monotonic() - wall < 2.0
