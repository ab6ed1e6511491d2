"""Scenarios, ground-truth figures, the energy bound and the baseline policies (pure parts)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from loadbalancer.config import site_from_data
from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.electric import NOMINAL_VOLTAGE_V as NOMINAL_V
from loadbalancer.errors import ConfigError
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.sim.bound import bound_kwh, cap_bound_kwh, lp_bound_kwh
from loadbalancer.sim.clock import run_accelerated, run_simulated
from loadbalancer.sim.figures import ChargerSlot, Tally
from loadbalancer.sim.model import max_phase_policy, run_model, static_limit_a, static_policy
from loadbalancer.sim.run import (
    charger_slots,
    default_site_path,
    model_rows,
    with_scenario_chargers,
)
from loadbalancer.sim.scenario import bundled_scenarios, load_scenario
from loadbalancer.yamlcheck import read_yaml_file

GG20 = load_fuse_profile("3x20A-gG")


def test_bundled_scenarios_load_and_are_deterministic() -> None:
    names = bundled_scenarios()
    assert {
        "winter-evening",
        "solar-midday",
        "one-phase-car",
        "faults",
        "slow-car",
        "tumble-dryer",
        "cycling-loads",
        "two-cars",
    } <= set(names)
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


def test_tally_splits_overload_by_cause() -> None:
    """Beyond the budget: a charger drawing what it was allowed counts as overload_s, one
    drawing against its limit as overload_ignored_s, the house alone as overload_house_s."""
    counts = {}
    for case, allowed, ignoring in (
        ("allowed", (True, False, False), (False, False, False)),
        ("ignored", (False, False, False), (True, False, False)),
        ("house", (False, False, False), (False, False, False)),
        ("other phase", (False, True, False), (False, False, False)),
    ):
        tally = Tally(GG20)
        for _ in range(1000):
            tally.sample((26.0, 5.0, 5.0), 0.0, 1.0, allowed, ignoring)
        counts[case] = (tally.overload_s, tally.overload_ignored_s, tally.overload_house_s)
    over = 1000 - GG20.overload_budget_s / ((26 / 20) ** 2 - 1)
    assert counts["allowed"] == pytest.approx((over, 0, 0), abs=2)
    assert counts["ignored"] == pytest.approx((0, over, 0), abs=2)
    assert counts["house"] == pytest.approx((0, 0, over), abs=2)
    # a charger on another phase did not cause it
    assert counts["other phase"] == pytest.approx((0, 0, over), abs=2)


def flat(tmp_path: Path, fuse_phases_house: float = 5.0) -> Path:
    path = tmp_path / "flat.yaml"
    house = fuse_phases_house
    path.write_text(
        f"name: flat\nduration_s: 900\nhouse: {{base_a: [{house}, {house}, {house}], noise_a: 0}}\n"
        "cars: {box: {phases: 3, max_current_a: 32, shortfall_a: 0, delay_s: 3}}\n"
    )
    return path


BOX = ChargerSlot("box", (0, 1, 2), 16.0, 6.0, 1.0, 1)


def kwh(amps: float, seconds: float) -> float:
    return amps * seconds * NOMINAL_V / 3.6e6


def test_bound_on_a_constant_house_is_the_rating_plus_the_budget(tmp_path: Path) -> None:
    scenario = load_scenario(str(flat(tmp_path)))
    # 20 A rating - 5 A house = 15 A on three phases, after the car's 3 s delay; the gG budget
    # (60 I_n²·s) allows at most 60 / (2 / I_n) = 600 A·s more per phase (x² - 1 >= 2(x - 1))
    base = kwh(15 * 3, 900 - 3)
    bound = lp_bound_kwh(scenario, GG20, [BOX], slot_s=3)
    assert base < bound <= base + kwh(3 * 600, 1) + 1e-6
    # a strict fuse has no budget: exactly the rating
    strict = load_fuse_profile("3x20A-strict")
    assert lp_bound_kwh(scenario, strict, [BOX], slot_s=3) == pytest.approx(base, rel=1e-6)


def test_bound_counts_the_cars_own_maximum_and_shortfall(tmp_path: Path) -> None:
    scenario = load_scenario(str(flat(tmp_path, fuse_phases_house=-10.0)))  # solar export
    # the fuse never limits: the charger's 16 A is the ceiling
    assert lp_bound_kwh(scenario, GG20, [BOX], slot_s=3) == pytest.approx(
        kwh(16 * 3, 900 - 3), rel=1e-6
    )


def test_a_perfect_controller_that_ignores_the_margin_does_not_beat_the_bound() -> None:
    """Per second, with the house known, the car at exactly what the rating allows (or paused
    when its minimum does not fit): it never overloads the fuse, so a true bound must be at
    least its energy (the greedy optimum that kept the margin and the pause rules was below
    it)."""
    scenario = load_scenario("winter-evening")
    tally = Tally(GG20)
    for second in range(int(scenario.duration_s)):
        house = scenario.house_a(float(second))
        room = min(15.7, 20.0 - max(house)) if second >= 3 else 0.0
        draw = room if room >= 5.7 else 0.0  # the car's minimum (6 A) less its shortfall
        tally.sample(tuple(h + draw for h in house), 3 * draw, 1.0)
    assert tally.overload_s == 0
    slot = ChargerSlot("carport", (0, 1, 2), 16.0, 6.0, 1.0, 1)
    assert tally.energy_kwh <= lp_bound_kwh(scenario, GG20, [slot], slot_s=30)


def test_without_scipy_the_bound_is_the_looser_per_second_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = load_scenario("slow-car")
    slot = ChargerSlot("carport", (0, 1, 2), 16.0, 6.0, 1.0, 1)
    exact = lp_bound_kwh(scenario, GG20, [slot], slot_s=1)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    fallback = bound_kwh(scenario, GG20, [slot])
    assert "no scipy" in fallback.method
    assert fallback.kwh == cap_bound_kwh(scenario, GG20, [slot])
    assert fallback.kwh >= exact


@pytest.mark.parametrize("name", bundled_scenarios())
def test_no_row_beats_the_bound_on_a_bundled_scenario(name: str) -> None:
    """energy_ratio <= 1 for our core, the static limiter and the peers' controller (the fast
    model: the service row is checked over sockets in test_simulate.py)."""
    scenario = load_scenario(name)
    raw = read_yaml_file(default_site_path())
    assert isinstance(raw, dict)
    site = site_from_data(with_scenario_chargers(raw, scenario), "site.yaml")
    # coarser slots than the command's: faster, looser, still a bound
    bound = lp_bound_kwh(scenario, site.control.fuse, charger_slots(site), slot_s=30)
    rows = model_rows(site, scenario, bound)
    for row in rows:
        if row.overload_s > 0:  # the bound keeps the fuse: a row that does not is not bound by
            # it (the static limiter's one limit for each of the garage's 41 boxes, issue 20)
            assert name == "garage" and row.name.startswith("static limiter"), row.name
            continue
        assert 0 < row.energy_ratio <= 1.0 or row.energy_kwh == 0, (row.name, row.energy_ratio)
    if name == "solar-midday":  # the fuse hardly limits: the bound is tight
        assert max(row.energy_ratio for row in rows) >= 0.98


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
        bound=1.0,
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
        bound=1.0,
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


def test_virtual_time_jumps_to_the_next_timer_and_stands_still_while_there_is_work() -> None:
    """A day of timers passes in well under a wall-clock second, exactly; a burst of CPU work
    in a task costs no simulated time (a busy machine cannot make the service look late); a
    loopback socket's reply is read before the clock moves on to a later timer."""

    async def day() -> tuple[float, float, float, bytes]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(24):
            await asyncio.sleep(3600.0)
        slept = loop.time() - start
        before = loop.time()
        sum(i * i for i in range(300_000))  # a few ms of work: no simulated time
        worked = loop.time() - before

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readexactly(4))
            await writer.drain()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        asked = loop.time()
        writer.write(b"ping")
        # a reply that needs the clock to move would lose against this timeout
        answer = await asyncio.wait_for(reader.readexactly(4), timeout=0.001)
        answered = loop.time() - asked
        writer.close()
        server.close()
        await server.wait_closed()
        return slept, worked, answered, answer

    wall = time.monotonic()
    slept, worked, answered, answer = run_simulated(day(), None)
    assert time.monotonic() - wall < 2.0
    assert slept == pytest.approx(24 * 3600.0)
    assert worked == 0.0 and answered == 0.0 and answer == b"ping"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("/dev/zero", "not a regular file"),  # was read until memory ran out
        ("../site", "no bundled scenario or file of that name"),  # a name is never a path
        ("/etc/passwd", "expected a mapping, got text"),  # never quoted
    ],
)
def test_a_scenario_path_is_read_like_a_site_file(given: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_scenario(given)
    assert says in str(caught.value) and "root:" not in str(caught.value)
