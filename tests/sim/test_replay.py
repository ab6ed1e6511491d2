"""``simulate --replay``: a log the real service wrote (``simulate``: the service over sockets
against the emulated meter and charger) run again through the core, with the logged site and
with a candidate."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadbalancer.sim.replay import ReplayFigures, run_replay
from loadbalancer.sim.replay_text import table
from loadbalancer.sim.run import default_site_path, simulate

#: 25 minutes of a winter evening on a 3x20 A fuse: an oven on L1 cuts the car, a sauna with the
#: hob leaves less than 6 A (a pause), a kettle spike; the car is plugged in throughout
SCENARIO = """\
name: replay-evening
description: an oven, a sauna with the hob, a kettle; one car
duration_s: 1500
start: "2026-01-14T17:00:00"
house:
  base_a: [2.0, 1.5, 2.5]
  noise_a: 0.3
  seed: 11
  events:
    - {name: oven, at_s: 120, duration_s: 480, phases: [L1], current_a: 9.5}
    - {name: kettle, at_s: 400, duration_s: 45, phases: [L2], current_a: 9.1}
    - {name: sauna, at_s: 700, duration_s: 500, phases: [L1, L2, L3], current_a: 9.4}
    - {name: hob, at_s: 750, duration_s: 300, phases: [L2, L3], current_a: 7.0}
cars:
  carport: {phases: 3, max_current_a: 16, delay_s: 3, shortfall_a: 0.3}
"""
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The decision log of the real service through the scenario (in accelerated time)."""
    folder = tmp_path_factory.mktemp("replay")
    scenario = folder / "evening.yaml"
    scenario.write_text(SCENARIO)
    log = folder / "decisions.jsonl"
    simulate(default_site_path(), str(scenario), log_path=log)
    return log


def candidate(folder: Path, name: str, old: str, new: str) -> Path:
    """The bundled site with one setting changed."""
    text = default_site_path().read_text()
    assert old in text
    path = folder / name
    path.write_text(text.replace(old, new))
    return path


def close(replayed: float, logged: float, within: float = 0.02) -> bool:
    return abs(replayed - logged) <= within * abs(logged)


def test_the_logged_site_gives_the_logged_figures_back(served_log: Path) -> None:
    report = run_replay([str(served_log)], None)
    logged, again = report.logged, report.runs[0]
    assert logged.energy_kwh > 1.5 and logged.pauses >= 1 and logged.cuts >= 2
    assert close(again.energy_kwh, logged.energy_kwh), (again, logged)
    assert close(again.tariff_peak_kw, logged.tariff_peak_kw), (again, logged)
    assert close(again.peak_a, logged.peak_a), (again, logged)
    assert again.pauses == logged.pauses and again.overload_s == logged.overload_s == 0
    # cuts are counts of set-point steps of 1 A or more, some of them trims of the meter's
    # noise (the replay's noise is the log's, its car's response is not): within two
    assert abs(again.cuts - logged.cuts) <= 2, (again, logged)
    # the service's own site file fields are in the startup record: no default was taken
    assert report.defaults == ()
    assert report.bound_kwh >= max(logged.energy_kwh, again.energy_kwh)


def test_a_candidate_runs_the_same_period_and_the_difference_is_shown(
    served_log: Path, tmp_path: Path
) -> None:
    bigger = candidate(tmp_path, "bigger.yaml", "fuse: 3x20A-gG", "fuse: 3x25A-gG")
    slower = candidate(tmp_path, "slower.yaml", "ramp_up_delay_s: 10 ", "ramp_up_delay_s: 120 ")
    same = run_replay([str(served_log)], None).runs[0]
    big = run_replay([str(served_log)], bigger)
    slow = run_replay([str(served_log)], slower)
    more: ReplayFigures = big.runs[1]
    less: ReplayFigures = slow.runs[1]
    # a bigger fuse leaves room for the car through the sauna: no pause, more energy
    assert more.pauses < same.pauses and more.energy_kwh > same.energy_kwh * 1.02
    # a raise only after two minutes of headroom: less energy after each cut
    assert less.energy_kwh < same.energy_kwh * 0.99
    text = table(big)
    assert "difference" in text and f"candidate: {bigger}" in text
    energy = next(line for line in text.splitlines() if line.startswith("energy (kWh)"))
    assert f"{more.energy_kwh - same.energy_kwh:.2f}" in energy.split()[-1]


def rotated(log: Path, folder: Path) -> list[Path]:
    """The log as logrotate leaves it: the older half compressed (``.1.gz``), the rest plain."""
    lines = log.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    older, newer = folder / "decisions.jsonl.1.gz", folder / "decisions.jsonl"
    with gzip.open(older, "wb") as out:
        out.writelines(lines[:half])
    newer.write_bytes(b"".join(lines[half:]))
    return [newer, older]  # in any order


def test_rotated_and_gzipped_logs_replay_as_one(served_log: Path, tmp_path: Path) -> None:
    whole = run_replay([str(served_log)], None)
    parts = run_replay([str(p) for p in rotated(served_log, tmp_path)], None)
    assert parts.logged == whole.logged and parts.runs == whole.runs
    assert parts.trace.steps == whole.trace.steps


def with_restart(log: Path, folder: Path, cut_from: float, cut_to: float) -> Path:
    """The log with the records between two fractions of it dropped and a new ``startup``
    where it goes on: the service stopped and came back."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    startup = next(r for r in records if r["event"] == "startup")
    lo, hi = int(len(records) * cut_from), int(len(records) * cut_to)
    kept = [*records[:lo], {**startup, "ts": records[hi]["ts"]}, *records[hi:]]
    path = folder / "restarted.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return path


def test_a_restart_is_said_and_not_replayed(served_log: Path, tmp_path: Path) -> None:
    whole = run_replay([str(served_log)], None)
    report = run_replay([str(with_restart(served_log, tmp_path, 0.1, 0.2))], None)
    assert report.trace.restarts == 1
    restarts = [g for g in report.trace.gaps if g.why == "the service restarted"]
    assert len(restarts) == 1
    gap_s = restarts[0].end_s - restarts[0].start_s
    assert 100 < gap_s < 200  # a tenth of the 25 minutes
    assert report.trace.replayed_s < whole.trace.replayed_s - gap_s + 30
    assert report.logged.energy_kwh < whole.logged.energy_kwh
    text = table(report)
    assert "the service restarted" in text and "1 restarts" in text


def test_an_older_startup_record_takes_the_defaults_and_a_tariff_is_said(
    served_log: Path, tmp_path: Path
) -> None:
    records = [json.loads(line) for line in served_log.read_text().splitlines()]
    for record in records:
        if record["event"] == "startup":
            for key in ("telegram_period_s", "poll_interval_s", "resume_delay_max_s"):
                del record["control"][key]
            record["tariff"] = {"profile": "ellevio", "budget_kw": 5.0, "mode": "fixed"}
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = run_replay([str(old)], None)
    assert set(report.defaults) == {"telegram_period_s", "poll_interval_s", "resume_delay_max_s"}
    text = table(report)
    assert "the site loader's defaults were taken" in text
    # what the replay leaves out is said
    assert "capacity tariff (ellevio, 5.0 kW): the replays run without it" in text


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadbalancer", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_the_command_prints_json_and_the_table(served_log: Path, tmp_path: Path) -> None:
    proc = run_cli("--replay", str(served_log), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert set(out["replays"]) == {"replay: logged site"}
    assert out["logged"]["pauses"] >= 1 and out["bound_kwh"] > 0
    assert "the log" in proc.stderr and "upper bound on the energy" in proc.stderr


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    no_startup = tmp_path / "no-startup.jsonl"
    no_startup.write_text(
        "".join(
            json.dumps(
                {
                    "ts": f"2026-01-14T18:00:{s:02d}.000+01:00",
                    "event": "decision",
                    "trigger": "telegram",
                    "meter_a": {"L1": 1.0, "L2": 1.0, "L3": 1.0},
                    "chargers": [],
                }
            )
            + "\n"
            for s in range(0, 50, 10)
        )
    )
    for args, words in (
        (["--replay", str(tmp_path / "missing.jsonl")], "no such file"),
        (["--replay", str(no_startup)], "no startup record"),
        (["--replay", str(tmp_path)], "is a directory"),
    ):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
