"""Issue 19's acceptance in the closed loop: the bundled one-phase-room scenario (two phases
full for 2.5 hours) through the real service over sockets, with 1p/3p switching, against the
same core without it (the discrete model, whose boxes cannot switch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbalancer.errors import ConfigError
from loadbalancer.sim.run import default_site_path, simulate
from loadbalancer.sim.scenario import load_scenario


def test_switching_charges_at_least_one_and_a_half_times_as_much_without_overload(
    tmp_path: Path,
) -> None:
    report = simulate(default_site_path(), "one-phase-room", log_path=tmp_path / "d.jsonl")
    with_switching, without = report.service, report.model
    assert with_switching.energy_kwh >= 1.5 * without.energy_kwh, report.table()
    assert with_switching.overload_s == 0 and with_switching.overload_ignored_s == 0
    assert 1 <= report.phase_switches <= 5  # the default cap per session
    assert "phase_switch_down" in (tmp_path / "d.jsonl").read_text()


def test_a_scenario_says_which_cars_do_not_resume_after_a_switch(tmp_path: Path) -> None:
    path = tmp_path / "sleepy.yaml"
    path.write_text(
        "name: sleepy\nduration_s: 600\nphase_switching: 'off'\nhouse: {base_a: [1, 1, 1]}\n"
        "cars: {carport: {resumes_after_switch: false}}\n"
    )
    scenario = load_scenario(str(path))
    assert scenario.phase_switching == "off" and not scenario.cars[0].resumes_after_switch


def test_a_scenario_may_bring_a_tariff_section_checked_by_key(tmp_path: Path) -> None:
    scenario = load_scenario("tariff-evening")
    assert scenario.tariff == {"profile": "generic-15min", "budget_kw": 5.0}
    assert scenario.phase_switching == "auto"
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nduration_s: 600\ntariff: {profile: generic-15min, budget: 5}\n"
        "house: {base_a: [1, 1, 1]}\ncars: {carport: {}}\n"
    )
    with pytest.raises(ConfigError, match=r"tariff") as caught:
        load_scenario(str(path))
    assert "\n" not in str(caught.value)
