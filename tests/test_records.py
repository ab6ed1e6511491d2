"""The decision log file: JSON lines, torn-line safety, rotation."""

from __future__ import annotations

import errno
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from loadbalancer.logwriter import LOG_RETRY_FIRST_S, DecisionLog, LineSink, open_decision_log

T = datetime(2026, 1, 14, 18, 3, 0, tzinfo=timezone(timedelta(hours=1)))


def test_records_are_json_lines_with_ts_and_event_first(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = open_decision_log(str(path), wall_clock=lambda: T, mono_clock=lambda: 812.25)
    log.record("startup", version="0.1.0", chargers=["carport"])
    log.record("decision", meter_a={"L1": 21.0}, chargers=[{"name": "carport", "setpoint_a": 9}])
    log.close()
    lines = path.read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:2] == ["ts", "event"]
    assert first == {
        "ts": "2026-01-14T18:03:00.000+01:00",
        "event": "startup",
        "mono_s": 812.25,
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


def healthy(log: DecisionLog) -> bool:
    return log.healthy  # read afresh each time (mypy would narrow the property)


class FlakySink(LineSink):
    """The real file sink, with a write error switched on and off (a full disk, an I/O error)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.fail_with: int | None = None
        self.reopened = 0

    def write_line(self, line: str) -> None:
        if self.fail_with is not None:
            raise OSError(self.fail_with, os.strerror(self.fail_with))
        super().write_line(line)

    def reopen(self) -> None:
        self.reopened += 1
        super().reopen()


def test_a_write_error_drops_and_counts_records_says_so_once_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    sink = FlakySink(str(path))
    now = [100.0]
    said: list[str] = []
    log = DecisionLog(sink, wall_clock=lambda: T, mono_clock=lambda: now[0], report=said.append)
    assert log.record("startup")
    sink.fail_with = errno.ENOSPC
    assert not log.record("decision", n=1)  # no exception: control must go on
    assert not healthy(log) and log.error == os.strerror(errno.ENOSPC)
    for n in range(2, 5):
        now[0] += 0.1
        assert not log.record("decision", n=n)
    assert len(said) == 1 and "cannot write" in said[0] and "control goes on" in said[0]
    # within the back-off the file is not even tried: a full disk is not hammered
    assert sink.reopened == 1
    sink.fail_with = None  # space again
    now[0] += 0.1
    assert not log.record("decision", n=5)  # still within the first back-off
    now[0] = 100.0 + LOG_RETRY_FIRST_S + 0.01
    assert log.record("decision", n=6)
    assert healthy(log) and log.error == ""
    assert len(said) == 2 and "writing again (5 record(s) dropped" in said[1]
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in lines] == ["startup", "log_resumed", "decision"]
    resumed = lines[1]
    assert resumed["dropped_records"] == 5 and resumed["failed_for_s"] == 1.01
    assert resumed["error"] == os.strerror(errno.ENOSPC)
    assert lines[2]["n"] == 6 and log.dropped_total == 5


def test_the_retry_backs_off_while_the_disk_stays_full(tmp_path: Path) -> None:
    sink = FlakySink(str(tmp_path / "decisions.jsonl"))
    now = [0.0]
    log = DecisionLog(sink, wall_clock=lambda: T, mono_clock=lambda: now[0], report=lambda _: None)
    sink.fail_with = errno.EIO
    tried_at = []
    for step in range(400):  # 40 s of records every 0.1 s
        now[0] = step * 0.1
        before = sink.reopened
        log.record("decision")
        if sink.reopened > before:
            tried_at.append(round(now[0], 1))
    # tried at once, then after 1, 2, 4, 8, 16 s (each failure doubles the wait)
    assert tried_at == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]
    assert log.dropped == 400


def test_the_file_is_opened_by_the_first_record_and_a_failure_there_is_not_fatal(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-dir" / "decisions.jsonl"
    said: list[str] = []
    log = DecisionLog(LineSink(str(missing)), mono_clock=lambda: 0.0, report=said.append)
    assert not log.record("startup")  # today's start died here: FileNotFoundError
    assert not healthy(log) and len(said) == 1 and "No such file" in said[0]


def test_reopen_tries_a_failed_log_at_once(tmp_path: Path) -> None:
    sink = FlakySink(str(tmp_path / "decisions.jsonl"))
    log = DecisionLog(sink, mono_clock=lambda: 0.0, report=lambda _: None)
    sink.fail_with = errno.EROFS
    log.record("decision")
    sink.fail_with = None
    assert not log.record("decision")  # the back-off
    log.reopen()  # SIGHUP
    assert log.record("decision") and healthy(log)
