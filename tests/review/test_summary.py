"""The summary on hand-written logs with known answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.review.clock import duration, parse_when
from loadbalancer.review.lines import TimedRecord
from loadbalancer.review.read import read_logs
from loadbalancer.review.summary import limit_key, summarize
from loadbalancer.review.text import format_summary
from tests.review.logs import (
    CET,
    EVENING_AT_LIMIT_S,
    T0,
    at,
    decision,
    evening,
    event,
    startup,
    write,
)


@pytest.fixture
def records(tmp_path: Path) -> list[TimedRecord]:
    return read_logs([write(tmp_path / "decisions.jsonl", evening())]).records


def test_time_at_each_limit_counts_and_episodes(records: list[TimedRecord]) -> None:
    summary = summarize(records)
    assert summary.from_s == at(0) and summary.to_s == at(2000)
    (carport,) = summary.chargers
    assert carport.time_at_limit_s == pytest.approx(EVENING_AT_LIMIT_S)
    assert (carport.cuts, carport.pauses, carport.resumes) == (1, 1, 1)
    assert [(e.start_s, e.end_s) for e in summary.fallbacks] == [(at(1500), at(1560))]
    assert [(e.start_s, e.end_s, e.detail) for e in carport.outages] == [
        (at(1800), at(1840), "connection refused")
    ]
    assert carport.alarms == 1 and len(summary.alarms) == 1
    assert summary.rejected_telegrams == 2
    assert summary.rejected_by_reason == {"bad CRC": 1, "truncated": 1}
    # the cut's telegram (L1) and the pause's telegram (L2): one period each over
    assert summary.overload_by_phase_s == {"L1": 10.0, "L2": 10.0}
    assert summary.overload_s == 20.0
    assert summary.above_rating_s == 20.0
    assert summary.restarts == 1


def test_json_has_the_documented_shape(records: list[TimedRecord]) -> None:
    out = summarize(records).to_json()
    assert out["from"] == "2026-01-14T18:00:00.000+01:00"
    assert out["to"] == "2026-01-14T18:33:20.000+01:00"
    carport = out["chargers"]["carport"]
    assert carport["time_at_limit_s"] == EVENING_AT_LIMIT_S
    assert list(carport["time_at_limit_s"]) == ["16", "7", "6", "0"]
    assert (carport["cuts"], carport["pauses"]) == (1, 1)
    assert out["fallbacks"] == 1 and out["fallback_s"] == 60.0
    assert out["overload_s"] == 20.0
    assert carport["outages"] == 1 and carport["outage_s"] == 40.0
    assert carport["energy_is_estimate"] is True


def test_energy_is_current_times_phases_times_230_v() -> None:
    records = [
        decision(0, 16.0, "at_max", previous_a=16.0, drawing_a=10.0),
        decision(3600, 16.0, "at_max", previous_a=16.0, drawing_a=10.0),
    ]
    timed = [(at(r_s), r) for r_s, r in zip((0, 3600), records, strict=True)]
    (carport,) = summarize(timed).chargers
    assert carport.offered_kwh == pytest.approx(16 * 3 * 230 / 1000)  # one hour
    assert carport.drawn_kwh == pytest.approx(10 * 3 * 230 / 1000)


def test_energy_of_the_evening_is_plausible(records: list[TimedRecord]) -> None:
    (carport,) = summarize(records).chargers
    seconds = EVENING_AT_LIMIT_S
    offered = sum(float(k) * v for k, v in seconds.items()) * 3 * 230 / 3.6e6
    assert carport.offered_kwh == pytest.approx(offered)
    assert 0.9 * offered < carport.drawn_kwh < offered
    assert carport.unmeasured_s == 40.0  # the outage: no measured current


def test_since_and_until_clip_the_intervals(records: list[TimedRecord]) -> None:
    summary = summarize(records, since_s=at(605), until_s=at(905))
    (carport,) = summary.chargers
    assert carport.time_at_limit_s == pytest.approx({"16": 230.0, "7": 65.0, "0": 5.0})
    assert (carport.cuts, carport.pauses) == (0, 1)  # the cut at 600 is before the window
    assert summary.overload_by_phase_s == pytest.approx({"L1": 5.0, "L2": 5.0})
    assert summary.fallbacks == ()


def test_a_window_inside_a_fallback_counts_the_fallback(records: list[TimedRecord]) -> None:
    summary = summarize(records, since_s=at(1510), until_s=at(1530))
    assert [(e.start_s, e.end_s) for e in summary.fallbacks] == [(at(1510), at(1530))]


def test_charger_filter_and_unknown_charger(records: list[TimedRecord]) -> None:
    assert [c.name for c in summarize(records, charger="carport").chargers] == ["carport"]
    with pytest.raises(UsageError, match=r"no such charger.*carport"):
        summarize(records, charger="garage")


def test_records_with_only_the_required_fields_do_not_crash() -> None:
    bare: list[TimedRecord] = [
        (at(0), {"ts": "x", "event": "startup"}),
        (at(10), {"ts": "x", "event": "decision"}),
        (at(20), {"ts": "x", "event": "decision", "chargers": [{"name": "carport"}]}),
        (at(30), {"ts": "x", "event": "decision", "chargers": "garbage", "meter_a": [1]}),
        (at(40), {"ts": "x", "event": "meter_stale"}),
        (at(50), {"ts": "x", "event": "charger_offline"}),
        (at(60), {"ts": "x", "event": "meter_rejected"}),
        (at(70), {"ts": "x", "event": "alarm"}),
        (at(80), {"ts": "x", "event": "something_new", "chargers": 5}),
    ]
    summary = summarize(bare)
    assert summary.decisions == 3
    assert len(summary.fallbacks) == 1 and not summary.fallbacks[0].ended
    assert summary.rejected_telegrams == 1
    assert format_summary(summary)


def test_an_old_startup_record_still_gives_the_rating_from_the_fuse_name() -> None:
    records = [(at(0), startup(0, full=False)), (at(0), decision(0, 6, "start", previous_a=None))]
    summary = summarize(records)
    assert summary.site.rating_a == 20.0 and summary.site.margin_a is None


def test_a_restart_ends_the_decision_in_force() -> None:
    records = [
        decision(0, 16.0, "at_max", previous_a=16.0),
        event(100, "shutdown"),
        startup(1000),
        decision(1000, 6.0, "start", previous_a=None),
        decision(1010, 6.0, "hold_ramp_delay", previous_a=6.0),
    ]
    timed = [(at(s), r) for s, r in zip((0, 100, 1000, 1000, 1010), records, strict=True)]
    (carport,) = summarize(timed).chargers
    assert carport.time_at_limit_s == {"16": 100.0, "6": 10.0}


def test_empty_log_and_an_empty_window_are_errors(records: list[TimedRecord]) -> None:
    with pytest.raises(LoadBalancerError, match="no records"):
        summarize([])
    with pytest.raises(UsageError, match="nothing in the window"):
        summarize(records, since_s=at(5000))


def test_the_text_summary_says_what_people_ask(records: list[TimedRecord]) -> None:
    text = format_summary(summarize(records))
    assert "2026-01-14 18:00:00 to 2026-01-14 18:33:20 (UTC+01:00)" in text
    assert "16 A 22 min 30 s (68 %)" in text
    assert "paused (0 A) 5 min" in text
    assert "cuts (overload_cut): 1" in text and "pauses (min_current_pause): 1" in text
    assert "estimate" in text
    assert "Meter fallbacks (meter_stale): 1, 1 min stale: 18:25:00-18:26:00" in text
    assert "Overload: 20 s (L1 10 s, L2 10 s)" in text
    assert "outages: 1, 40 s offline: 18:30:00-18:30:40" in text
    assert "Rejected telegrams: 2 (bad CRC 1, truncated 1)" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18:25", T0.replace(minute=25)),
        ("18:25:30", T0.replace(minute=25, second=30)),
        ("2026-01-14T18:25:00+01:00", T0.replace(minute=25)),
        ("2026-01-14T17:25:00Z", T0.replace(minute=25)),
        ("2026-01-14 18:25", T0.replace(minute=25)),  # no offset: the log's
    ],
)
def test_times_on_the_command_line(records: list[TimedRecord], text: str, expected: object) -> None:
    assert parse_when(text, records, "--since") == expected.timestamp()  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["6pm", "25:00", "18:61", "yesterday", "18"])
def test_bad_times_are_usage_errors(records: list[TimedRecord], text: str) -> None:
    with pytest.raises(UsageError, match="--until"):
        parse_when(text, records, "--until")


def test_hh_mm_is_on_the_logs_last_day() -> None:
    records = [(at(0), decision(0, 6, "start", previous_a=None))]
    late = event(86400 * 2, "shutdown")
    records.append((at(86400 * 2), late))
    assert parse_when("18:00", records, "--since") == at(86400 * 2)


def test_limit_keys_and_durations() -> None:
    assert [limit_key(x) for x in (16.0, 6.5, 0.0, 10.123)] == ["16", "6.5", "0", "10.123"]
    assert duration(4.5) == "4.5 s"
    assert duration(250) == "4 min 10 s"
    assert duration(3 * 3600 + 300) == "3 h 5 min"
    assert duration(2 * 86400 + 3 * 3600) == "2 d 3 h"
    assert CET.utcoffset(None) == timedelta(hours=1)


def test_rejections_counted_per_minute_are_summed(tmp_path: Path) -> None:
    log = [
        *evening(),
        event(700, "meter_rejected", reason="bad CRC: got 1A2B, computed 3C4D", count=120),
        event(760, "meter_rejected", reason="bad CRC: got 0000, computed 3C4D", count=3),
        event(770, "meter_rejected", reason="truncated: no CRC line"),  # before counts: one
    ]
    summary = summarize(read_logs([write(tmp_path / "d.jsonl", log)]).records)
    # the evening itself has one of each, written one by one
    assert summary.rejected_by_reason == {"bad CRC": 1 + 123, "truncated": 1 + 1}
    assert summary.rejected_telegrams == 126
