"""``loadbalancer simulate``: the real service in accelerated time, as a whole process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "overload_s",
    "energy_ratio",
    "spike_pauses",
    "energy_kwh",
    "bound_kwh",
    "overload_ignored_s",
    "overload_house_s",
    "cuts",
    "pauses",
    "pauses_per_h",
    "writes",
}


def simulate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadbalancer", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def simulated(*args: str, cwd: Path) -> tuple[dict[str, Any], str]:
    """The run's JSON figures and its table, in virtual time (the default)."""
    proc = simulate(*args, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    assert out["kept_up"] and out["max_lag_s"] == 0
    return out, proc.stderr


def test_a_run_the_machine_could_not_keep_up_with_says_so(tmp_path: Path) -> None:
    """Tied to the wall clock at its highest speed this machine falls behind (the service's
    start alone blocks the loop for more than 0.4 ms): the table warns."""
    scenario = yaml.safe_load((REPO / "examples/scenarios/winter-evening.yaml").read_text())
    scenario["duration_s"] = 900  # a quarter of an hour is enough to fall behind
    short = tmp_path / "short.yaml"
    short.write_text(yaml.safe_dump(scenario))
    log = str(tmp_path / "fast.jsonl")
    proc = simulate("--scenario", str(short), "--speed", "5000", "--log", log, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "fell behind 5000x the wall clock" in proc.stdout and "lower --speed" in proc.stdout


def test_default_scenario_meets_the_targets(tmp_path: Path) -> None:
    """No overload, no pause from a spike, and no row beats the upper bound."""
    figures, table = simulated(cwd=tmp_path)
    assert set(figures) >= KEYS
    assert figures["scenario"] == "winter-evening"
    assert figures["overload_s"] == 0
    assert 0.5 < figures["energy_ratio"] <= 1.0
    assert figures["spike_pauses"] == 0
    baselines = figures["baselines"]
    assert figures["bound_method"] == "linear program"
    for row in baselines.values():
        assert row["energy_ratio"] <= 1.0 and row["bound_kwh"] == figures["bound_kwh"]
    assert {"static_limiter", "max_phase_setpoint"} <= set(baselines)
    # the table on stderr shows ours beside both baselines
    assert "static limiter" in table and "max-phase" in table
    log = tmp_path / "out" / "simulate-decisions.jsonl"
    events = {json.loads(line)["event"] for line in log.read_text().splitlines()}
    assert {"startup", "decision", "shutdown"} <= events


def test_faults_scenario_shows_every_fallback(tmp_path: Path) -> None:
    log = tmp_path / "faults.jsonl"
    figures, _ = simulated("--scenario", "faults", "--log", str(log), cwd=tmp_path)
    # the overload comes from the car that ignores its limit, not from the controller
    assert figures["overload_s"] == 0 and figures["overload_ignored_s"] > 60
    assert figures["energy_ratio"] <= 1.0
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    for expected in (
        "meter_stale",
        "meter_recovered",
        "meter_rejected",
        "charger_offline",
        "charger_online",
        "setpoint_ignored",
        "alarm",
    ):
        assert expected in events, expected


def test_two_cars_scenario_adds_its_second_charger(tmp_path: Path) -> None:
    """The scenario's own second box is driven over Modbus TCP like the site's."""
    log = tmp_path / "two.jsonl"
    figures, _ = simulated("--scenario", "two-cars", "--log", str(log), cwd=tmp_path)
    assert figures["overload_s"] == 0 and figures["energy_ratio"] <= 1.0
    charged = set()
    for line in log.read_text().splitlines():
        record = json.loads(line)
        for charger in record.get("chargers", []) if record["event"] == "decision" else []:
            if charger["setpoint_a"] > 0:
                charged.add(charger["name"])
    assert charged == {"carport", "driveway"}


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["--scenario", "no-such-evening"],
        ["--speed", "0"],
        ["--config", str(tmp_path / "missing.yaml")],
    ):
        proc = simulate(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
