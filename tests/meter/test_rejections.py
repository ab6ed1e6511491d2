"""Rejected telegrams are counted per reason and minute: one record each, not one per telegram."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from loadbalancer.meter.reading import Rejection
from loadbalancer.meter.rejections import RejectionTally

T0 = datetime(2026, 1, 14, 18, 0, 0, tzinfo=timezone(timedelta(hours=1)))


def crc(i: int) -> Rejection:
    return Rejection(float(i), f"bad CRC: got {i:04X}, computed 1A2B", 800 + i, f"/ISK5{i}")


def test_a_minute_of_bad_crcs_is_one_record_with_the_first_header_and_the_count() -> None:
    tally = RejectionTally(60.0)
    out = []
    for i in range(600):  # ten a second for a minute
        now_s = 1000.0 + i * 0.1
        out += tally.add(crc(i), now_s, T0 + timedelta(seconds=i * 0.1))
    assert out == []  # the window is still open
    assert tally.pending == 600
    (record,) = tally.due(1060.0)
    assert record == {
        "reason": "bad CRC: got 0000, computed 1A2B",
        # the first distinct reasons of the kind, a handful at most
        "reasons": [f"bad CRC: got {i:04X}, computed 1A2B" for i in range(5)],
        "count": 600,
        "size_bytes": 800,
        "header": "/ISK50",
        "total_bytes": sum(800 + i for i in range(600)),
        "first": "2026-01-14T18:00:00.000+01:00",
        "last": "2026-01-14T18:00:59.900+01:00",
        "span_s": 59.9,
    }
    assert tally.due(1200.0) == [] and tally.pending == 0


def test_each_reason_has_its_own_window_and_a_new_one_opens_after_the_minute() -> None:
    tally = RejectionTally(60.0)
    truncated = Rejection(0.0, "truncated: no CRC line", 40)
    assert tally.add(crc(1), 0.0, T0) == []
    assert tally.add(truncated, 30.0, T0) == []
    # a rejection after the first window ended hands that window out and opens the next
    first = tally.add(crc(2), 61.0, T0)
    assert [(r["reason"], r["count"]) for r in first] == [("bad CRC: got 0001, computed 1A2B", 1)]
    assert [r["reason"] for r in tally.due(90.0)] == ["truncated: no CRC line"]
    (last,) = tally.flush()  # at shutdown: whatever is open
    assert last["count"] == 1 and last["header"] == "/ISK52"
    assert tally.flush() == []


def test_a_flood_of_rejections_gives_a_handful_of_records_per_minute() -> None:
    tally = RejectionTally(60.0)
    reasons = ["bad CRC: x", "truncated: y", "implausible: z"]
    records = []
    for i in range(100_000):  # an hour of 28 rejections a second
        now_s = i * 0.036
        records += tally.add(Rejection(now_s, reasons[i % 3], 100), now_s, T0)
    records += tally.flush()
    assert sum(r["count"] for r in records) == 100_000
    assert len(records) <= 3 * 61


def test_distinct_reasons_of_a_kind_are_kept_as_examples_but_bounded() -> None:
    tally = RejectionTally(60.0)
    lies = ["implausible: L1 current is nan", "implausible: L1 power -400000 W does not fit"]
    for i, reason in enumerate([*lies, lies[0], *(f"implausible: L2 {n} A" for n in range(9))]):
        tally.add(Rejection(float(i), reason, 500), float(i), T0)
    (record,) = tally.flush()
    assert record["count"] == 12
    assert record["reasons"] == [
        *lies,
        "implausible: L2 0 A",
        "implausible: L2 1 A",
        "implausible: L2 2 A",
    ]
