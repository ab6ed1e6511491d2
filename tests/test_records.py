"""The decision log file: JSON lines, torn-line safety, rotation."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from loadbalancer.records import open_decision_log

T = datetime(2026, 1, 14, 18, 3, 0, tzinfo=timezone(timedelta(hours=1)))


def test_records_are_json_lines_with_ts_and_event_first(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = open_decision_log(str(path), wall_clock=lambda: T)
    log.record("startup", version="0.1.0", chargers=["carport"])
    log.record("decision", meter_a={"L1": 21.0}, chargers=[{"name": "carport", "setpoint_a": 9}])
    log.close()
    lines = path.read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:2] == ["ts", "event"]
    assert first == {
        "ts": "2026-01-14T18:03:00.000+01:00",
        "event": "startup",
        "version": "0.1.0",
        "chargers": ["carport"],
    }
    assert second["chargers"][0]["setpoint_a"] == 9


def test_logrotate_rename_and_create_is_followed(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = open_decision_log(str(path), wall_clock=lambda: T)
    log.record("startup")
    os.rename(path, tmp_path / "decisions.jsonl.1")  # what logrotate does
    log.record("shutdown")
    log.close()
    assert json.loads((tmp_path / "decisions.jsonl.1").read_text())["event"] == "startup"
    assert json.loads(path.read_text())["event"] == "shutdown"


def test_copytruncate_keeps_lines_whole(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = open_decision_log(str(path), wall_clock=lambda: T)
    log.record("startup", pad="x" * 100)
    os.truncate(path, 0)  # logrotate copytruncate
    log.record("shutdown")
    log.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["shutdown"]


def test_appends_to_an_existing_log_with_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    path.write_text('{"ts": "2026-01-14T18:00:00+01:00", "event": "deci')  # killed mid-write
    log = open_decision_log(str(path), wall_clock=lambda: T)
    log.record("startup")
    log.close()
    lines = path.read_text().splitlines()
    assert lines[-1].startswith('{"ts"') and json.loads(lines[-1])["event"] == "startup"
