"""The bundled garage (issue 20): 40 boxes of mixed profiles behind one connection.

``loadbalancer simulate --scenario garage`` runs it through the real service over sockets (a
few minutes: README); here its safety figures come from the fast model of the same core.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbalancer.errors import ConfigError
from loadbalancer.sim.model import core_policy, run_site_model
from loadbalancer.sim.run import default_site_path, scenario_site
from loadbalancer.sim.scenario import load_scenario


def test_the_garage_is_forty_mixed_boxes_on_a_connection_of_its_own(tmp_path: Path) -> None:
    scenario = load_scenario("garage")
    site = scenario_site(scenario, default_site_path(), tmp_path / "log.jsonl")
    assert len(site.chargers) == 41  # the site's carport and the garage's 40
    assert site.fuse.rating_a == 250 and site.fuse.phases == 3
    boxes = [c for c in site.chargers if c.name.startswith("bay")]
    assert len({c.profile.name for c in boxes}) >= 5
    assert {len(c.spec.phases) for c in boxes} == {1, 3}
    assert {c.spec.phases[0] for c in boxes if len(c.spec.phases) == 1} == {"L1", "L2", "L3"}
    assert {c.spec.priority for c in boxes} == {1, 2}
    assert {plan.charger for plan in scenario.cars} == {c.name for c in site.chargers}


def test_the_garage_keeps_its_fuse_while_some_cars_wait(tmp_path: Path) -> None:
    scenario = load_scenario("garage")
    site = scenario_site(scenario, default_site_path(), tmp_path / "log.jsonl")
    figures = run_site_model("core", scenario, site, core_policy(site.control, scenario))
    assert figures.overload_s == 0 and figures.overload_house_s == 0
    assert figures.overload_ignored_s == 0
    # with the heaters on not every car's minimum fits: some wait (paused) for room
    assert figures.pauses > 0
    assert figures.energy_kwh > 60  # 41 cars for 40 minutes, most of it near their minimum


def test_a_scenario_fuse_the_site_loader_refuses_names_the_key(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "examples/scenarios/garage.yaml").read_text()
    bad = tmp_path / "bad-garage.yaml"
    bad.write_text(text.replace("rating_a: 250", "rating_a: -250"))
    scenario = load_scenario(str(bad))
    with pytest.raises(ConfigError, match=r"fuse\.rating_a"):
        scenario_site(scenario, default_site_path(), tmp_path / "log.jsonl")
