"""Reading decision logs: torn lines, rotation, gzip, several files in any order."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest

from loadbalancer.errors import UsageError
from loadbalancer.review.lines import parse_record
from loadbalancer.review.read import read_logs
from tests.review.logs import at, decision, evening, event, startup, write


def test_a_torn_last_line_is_counted_once_and_the_rest_read(tmp_path: Path) -> None:
    records = evening()
    path = write(tmp_path / "decisions.jsonl", records, tail='{"ts": "2026-01-14T18:3')
    contents = read_logs([path])
    assert len(contents.records) == len(records)
    assert contents.unreadable_lines == 1
    assert contents.first_unreadable == f"{path}:{len(records) + 1}"
    report = contents.report()
    assert report is not None and "1 unreadable line" in report and str(path) in report


def test_every_bad_line_is_counted_but_only_the_first_place_named(tmp_path: Path) -> None:
    lines = [
        json.dumps(startup(0)),
        "not json",
        json.dumps([1, 2]),
        json.dumps({"event": "decision"}),  # no ts
        json.dumps({"ts": "yesterday", "event": "decision"}),
        json.dumps({"ts": "2026-01-14T18:00:00", "event": "decision"}),  # no offset
        json.dumps(event(10, "shutdown")),
        "",
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines))
    contents = read_logs([path])
    assert [r["event"] for _, r in contents.records] == ["startup", "shutdown"]
    assert contents.unreadable_lines == 5
    assert contents.first_unreadable == f"{path}:2"


def test_unknown_events_and_fields_are_kept_as_written(tmp_path: Path) -> None:
    record = event(5, "solar_forecast", kw=3.2) | {"ts": "2026-01-14T18:00:05.000+01:00"}
    known = decision(0, 16, "at_max", previous_a=16) | {"new_field": {"x": 1}}
    contents = read_logs([write(tmp_path / "a.jsonl", [known, record])])
    assert contents.unreadable_lines == 0
    assert contents.records[1][1]["kw"] == 3.2
    assert contents.records[0][1]["new_field"] == {"x": 1}


def test_rotated_and_gzip_files_in_any_order_come_out_sorted(tmp_path: Path) -> None:
    records = evening()
    third = len(records) // 3
    oldest, middle, newest = records[:third], records[third : 2 * third], records[2 * third :]
    gz = tmp_path / "decisions.jsonl.2.gz"
    with gzip.open(gz, "wt") as stream:
        stream.writelines(json.dumps(r) + "\n" for r in oldest)
    rotated = write(tmp_path / "decisions.jsonl.1", middle)
    current = write(tmp_path / "decisions.jsonl", newest)
    contents = read_logs([current, gz, rotated])
    assert [r for _, r in contents.records] == records
    times = [t for t, _ in contents.records]
    assert times == sorted(times) and times[0] == at(0)


def test_a_cut_off_gzip_file_gives_what_it_has_and_one_unreadable_line(tmp_path: Path) -> None:
    records = evening()
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    gz = tmp_path / "decisions.jsonl.1.gz"
    gz.write_bytes(data[: len(data) // 2])
    contents = read_logs([gz])
    assert 0 < len(contents.records) < len(records)
    assert contents.unreadable_lines == 1
    assert contents.first_unreadable is not None and contents.first_unreadable.startswith(str(gz))


def test_a_missing_file_or_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_logs([tmp_path / "nope.jsonl"])
    with pytest.raises(UsageError, match="directory"):
        read_logs([tmp_path])


def test_parse_record_takes_the_offset_into_account() -> None:
    winter = parse_record('{"ts": "2026-01-14T18:00:00+01:00", "event": "x"}')
    utc = parse_record('{"ts": "2026-01-14T17:00:00+00:00", "event": "x"}')
    assert winter is not None and utc is not None and winter[0] == utc[0]
    assert parse_record(b"\xff\xfe") is None


@pytest.mark.parametrize(
    "ts",
    [
        "2026-01-14T18:00:10.012+01:00",
        "2026-03-29T01:59:59.999+01:00",
        "2026-03-29T03:00:00.000+02:00",
        "2026-01-14T18:00:10.012-05:30",
        "2026-01-14T18:00:10+01:00",
        "2026-01-14T17:00:10.012Z",
        "2026-01-14T18:00:10.012345+01:00",
    ],
)
def test_the_fast_time_path_agrees_with_fromisoformat(ts: str) -> None:
    parsed = parse_record(json.dumps({"ts": ts, "event": "x"}))
    assert parsed is not None
    assert parsed[0] == pytest.approx(datetime.fromisoformat(ts).timestamp(), abs=1e-6)


@pytest.mark.parametrize(
    "ts", ["2026-01-14T18:00:70.012+01:00", "2026-01-14T18:00:1x.012+01:00", "2026-01-14T18:00"]
)
def test_impossible_times_are_unreadable(ts: str) -> None:
    assert parse_record(json.dumps({"ts": ts, "event": "x"})) is None
