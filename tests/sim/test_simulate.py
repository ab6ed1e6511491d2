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
    "optimum_kwh",
    "cuts",
    "pauses",
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
    """The issue's figures: no overload, >= 95 % of the optimum, no pause from a spike."""
    proc = simulate("--json", "--speed", "300", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.splitlines()[-1])
    assert set(figures) >= KEYS
    assert figures["scenario"] == "winter-evening"
    assert figures["overload_s"] == 0
    assert figures["energy_ratio"] >= 0.95
    assert figures["spike_pauses"] == 0
    baselines = figures["baselines"]
    assert {"static_limiter", "max_phase_setpoint"} <= set(baselines)
    # the table on stderr shows ours beside both baselines
    assert "static limiter" in proc.stderr and "max-phase" in proc.stderr
    log = tmp_path / "out" / "simulate-decisions.jsonl"
    events = {json.loads(line)["event"] for line in log.read_text().splitlines()}
    assert {"startup", "decision", "shutdown"} <= events


def test_faults_scenario_shows_every_fallback(tmp_path: Path) -> None:
    log = tmp_path / "faults.jsonl"
    proc = simulate("--scenario", "faults", "--log", str(log), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
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


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["--scenario", "no-such-evening"],
        ["--speed", "0"],
        ["--config", str(tmp_path / "missing.yaml")],
    ):
        proc = simulate(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
