"""Issue 19 in ``simulate`` with an OCPP box: the simulated charge point (a real ``ocpp`` client
on loopback, on the simulation's clock) charges on one phase after the service switched it
through ``numberPhases``, and the fuse is never over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.sim.ocppbox import SimulatedOutlet
from loadbalancer.sim.run import default_site_path, simulate

SCENARIO = """
name: short-ocpp-room
duration_s: 1200
start: "2026-01-14T17:00:00"
phase_switching: auto
chargers:
  - {name: driveway, protocol: ocpp, charge_point_id: ALFEN1, profile: alfen-ocpp,
     phases: [L1, L2, L3], max_current_a: 16, priority: 1}
house:
  base_a: [3.5, 2.0, 2.0]
  events:
    - {name: water heater, at_s: 60, duration_s: 1200, phases: [L2, L3], current_a: 14.0}
cars:
  driveway: {phases: 3, max_current_a: 16, delay_s: 3, shortfall_a: 0.3}
"""


@pytest.mark.slow  # 20 simulated minutes: some 10 s
def test_a_simulated_ocpp_box_charges_on_one_phase_after_its_switch(tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SCENARIO)
    log_path = tmp_path / "d.jsonl"
    report = simulate(default_site_path(), str(scenario), log_path=log_path)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    done = [r for r in records if r["event"] == "phase_switch_done"]
    assert [r["phase_count"] for r in done] == [1], report.table()
    after = [
        c
        for r in records
        if r["event"] == "decision" and r["mono_s"] > done[0]["mono_s"] + 60
        for c in r["chargers"]
        if c["name"] == "driveway"
    ]
    # booked on one phase from then on: its MeterValues show current on one phase only (a box
    # that drew on three would be a box that kept its phases, and counted on three again)
    assert not [r for r in records if r["event"] == "phase_switch_failed"]
    assert after and all(len(c["measured_a"]) == 1 for c in after)
    assert max(c["measured_a"][0] for c in after) >= 6
    service = report.service
    assert service.overload_s == 0 and service.energy_kwh > report.model.energy_kwh


def test_a_simulated_car_that_slept_after_a_switch_wakes_at_its_next_session() -> None:
    outlet = SimulatedOutlet(1, SimulatedCar(delay_s=0.0, resumes_after_switch=False))
    outlet.switch_phases(1)
    assert outlet.car.asleep and outlet.phase_currents_a() == (0.0, 0.0, 0.0)
    outlet.unplug()
    outlet.plug_in()
    assert outlet.phase_currents_a()[0] > 6  # awake again
