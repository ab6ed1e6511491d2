"""``loadbalancer simulate``: the real service in accelerated time, as a whole process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_default_scenario_meets_the_targets(tmp_path: Path) -> None:
    """No overload, no pause from a spike, and no row beats the upper bound."""
    proc = simulate("--json", "--speed", "300", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.splitlines()[-1])
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
    assert "static limiter" in proc.stderr and "max-phase" in proc.stderr
    log = tmp_path / "out" / "simulate-decisions.jsonl"
    events = {json.loads(line)["event"] for line in log.read_text().splitlines()}
    assert {"startup", "decision", "shutdown"} <= events


def test_faults_scenario_shows_every_fallback(tmp_path: Path) -> None:
    log = tmp_path / "faults.jsonl"
    proc = simulate("--scenario", "faults", "--json", "--log", str(log), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.splitlines()[-1])
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
    proc = simulate(
        "--scenario", "two-cars", "--speed", "1000", "--json", "--log", str(log), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.splitlines()[-1])
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
