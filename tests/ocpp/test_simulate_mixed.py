"""``simulate`` with an OCPP charger: the simulated charge point (a real OCPP client on the
simulation's clock) beside a Modbus box on one fuse."""

from __future__ import annotations

import json
from pathlib import Path

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.sim.ocppbox import SimulatedOutlet, _SimState
from tests.sim.test_simulate import simulate


def test_a_modbus_and_an_ocpp_box_on_one_fuse_keep_the_safety_figures(tmp_path: Path) -> None:
    log = tmp_path / "mixed.jsonl"
    proc = simulate("--scenario", "mixed-site", "--json", "--log", str(log), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.splitlines()[-1])
    # the invariants of the Modbus-only scenarios: no second beyond the fuse's budget, by
    # anyone; no pause for a spike; no row above the upper bound
    assert figures["overload_s"] == 0
    assert figures["overload_ignored_s"] == 0 and figures["overload_house_s"] == 0
    assert figures["spike_pauses"] == 0
    assert 0.5 < figures["energy_ratio"] <= 1.0
    # energy comparable with our core in the discrete model (which knows no OCPP delays)
    model = figures["baselines"]["model_core"]
    assert figures["energy_kwh"] >= 0.9 * model["energy_kwh"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["charger"] for r in records if r["event"] == "ocpp_connected"] == ["driveway"]
    assert not [r for r in records if r["event"] == "setpoint_ignored"]
    limits: dict[str, set[float]] = {"carport": set(), "driveway": set()}
    drew = 0.0
    for record in records:
        for charger in record.get("chargers", []) if record["event"] == "decision" else []:
            limits[charger["name"]].add(charger["setpoint_a"])
            if charger["name"] == "driveway":
                drew = max([drew, *[a for a in charger["measured_a"] if a is not None]])
    # both boxes were driven: paused, limited and raised; the OCPP car drew (its MeterValues)
    assert len(limits["carport"]) > 3 and len(limits["driveway"]) > 3
    assert 0.0 in limits["driveway"] and drew > 5


def test_the_simulated_box_applies_a_limit_late_and_in_its_unit() -> None:
    now = [100.0]
    state = _SimState(clock=lambda: now[0], apply_s=5.0)
    outlet = SimulatedOutlet(1, SimulatedCar(delay_s=2.0, shortfall_a=0.0), state=state)
    assert outlet.phase_currents_a() == (32.0, 32.0, 32.0)  # no profile: unconstrained
    watts = {"charging_rate_unit": "W", "charging_schedule_period": [{"limit": 4140}]}
    state.install({"stack_level": 0, "charging_schedule": watts})  # 3 x 230 V x 6 A
    now[0] = 104.9
    assert outlet.offered_a == 32.0  # accepted, not applied yet
    now[0] = 105.0
    assert outlet.offered_a == 6.0
    assert outlet.phase_currents_a() == (32.0, 32.0, 32.0)  # the car follows 2 s later
    now[0] = 107.0
    assert outlet.phase_currents_a() == (6.0, 6.0, 6.0)
    period = {"limit": 2300, "number_phases": 1}
    one_phase = {"charging_rate_unit": "W", "charging_schedule_period": [period]}
    state.install({"stack_level": 0, "charging_schedule": one_phase})
    now[0] = 113.0
    assert outlet.offered_a == 10.0
