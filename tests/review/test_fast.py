"""The review's fast reading: a file a block of lines at a time (``file_blocks``), the summary's
decisions through a typed view (``review/fast.py``), the time of a ``ts`` kept per minute
(``posix_s_fast``). Each gives what the reading before it gave: the same lines, line numbers and
unreadable marks, the same records and facts, the same seconds."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbalancer.cli import main
from loadbalancer.review import fast, lines, stream
from loadbalancer.review.facts import CompactDecision
from loadbalancer.review.lines import (
    UNREADABLE,
    file_blocks,
    file_lines,
    parse_record,
    posix_s,
    posix_s_fast,
)
from loadbalancer.review.stream import LogStream
from tests.review.logs import THREE, decision, evening, event, startup, write
from tests.review.test_read_compact import _odd_lines, decision_fields


def timed(line: str) -> bool:
    """Whether the line is a record to the tolerant reading (``json`` and a ``ts``)."""
    return parse_record(line) is not None


def _walk(paths: list[Path], monkeypatch: pytest.MonkeyPatch, *, fast_path: bool) -> Any:
    """The compact stream of ``paths`` as comparable values, and its unreadable report."""
    with monkeypatch.context() as patch:
        if not fast_path:
            patch.setattr(stream, "compact_block", lambda _lines: None)
        walked = LogStream.of(paths, compact=True)
        records = [
            (t_s, dict(r), r.facts if type(r) is CompactDecision else None) for t_s, r in walked
        ]
    return records, walked.unreadable.report()


def _same_both_ways(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    fast_way = _walk(paths, monkeypatch, fast_path=True)
    assert fast_way == _walk(paths, monkeypatch, fast_path=False)
    return fast_way


def test_the_fast_path_takes_the_service_lines_and_gives_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []
    compact_block = fast.compact_block

    def spy(block: list[bytes]) -> object:
        result = compact_block(block)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(stream, "compact_block", spy)
    records, report = _same_both_ways([write(tmp_path / "evening.jsonl", evening())], monkeypatch)
    assert taken == [True]  # not left to the tolerant reading: the test would prove nothing
    assert report is None and len(records) == len(evening()) - 1 + 1  # startup .. shutdown


def test_odd_lines_come_as_the_tolerant_reading_gives_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block with a line the typed view does not take is read as before: the odd decisions
    whole, the records the fast path must not skip (a startup, a decision the tariff bound)
    kept, every unreadable line counted with the first one's file and line."""
    monkeypatch.setattr(lines, "BLOCK_BYTES", 2048)  # the odd lines in some blocks only
    records = evening()
    shutdown = records.pop()
    bound = decision(1990, 8.0, "tariff_limit", previous_a=16.0)
    text = "".join(json.dumps(r) + "\n" for r in [*records, bound])
    text += "\n".join(_odd_lines()) + "\n" + json.dumps(shutdown) + "\n"
    path = tmp_path / "decisions.jsonl"
    path.write_text(text)
    walked, report = _same_both_ways([path], monkeypatch)
    bad = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() and not timed(line)]
    assert len(bad) > 1
    assert report == (
        f"skipped {len(bad)} unreadable lines (not a JSON record with ts and event), the first "
        f"at {path}:{bad[0]}"
    )
    events = [r["event"] for _, r, _ in walked]
    assert events.count("startup") == 1 and events.count("shutdown") == 1
    whole = [r for _, r, facts in walked if facts is None and r["event"] == "decision"]
    assert bound in whole  # read whole, as the tariff's cost needs it


#: what the typed view takes (null, numbers: ints beyond a float's exactness, currents beyond
#: MAX_CURRENT_A among them) and, more rarely, what it does not
_TAKEN = st.one_of(
    st.none(),
    st.integers(-5, 40),
    st.integers(-(10**20), 10**20),
    st.floats(-5, 40, allow_nan=False),
    st.floats(-1e12, 1e12, allow_nan=False),
)
_NUMBER = st.one_of(_TAKEN, _TAKEN, _TAKEN, st.sampled_from([True, "x", [], {}]))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(decisions=st.lists(decision_fields(_NUMBER, [*THREE, *THREE, "L4"]), min_size=1, max_size=8))
def test_any_decision_fields_give_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decisions: list[dict[str, Any]]
) -> None:
    """Ints beyond a float's exactness, currents beyond MAX_CURRENT_A, nulls, a missing phase:
    each record and its facts as the tolerant reading gives them (a block per line: one odd
    line does not send the others to the tolerant reading)."""
    monkeypatch.setattr(lines, "BLOCK_BYTES", 64)
    records = [startup(0)]
    records += [event(5 * (i + 1), "decision", **fields) for i, fields in enumerate(decisions)]
    _same_both_ways([write(tmp_path / "decisions.jsonl", records)], monkeypatch)


_SITES = [
    {"meter_a": {"L1": 25.0, "L2": 5, "L3": None}, "house_a": {"L1": 5.0, "L2": 1}},
    {"meter_a": {"L1": 25.0, "L2": 21.0}, "house_a": {"L1": 5.0, "L2": None}, "allowed_a": {}},
    {"meter_a": {"L1": 25.0}, "house_a": {"L1": 5.0}, "allowed_a": {"L1": None}},
    {"meter_a": {"L1": 25.0, "L3": 1}, "house_a": {"L1": 5}, "allowed_a": {"L1": 14, "L3": 2}},
    {"meter_a": {"L1": None}, "house_a": {"L1": 5.0}, "allowed_a": {"L1": 14.0}},
    {"meter_a": {"L1": 2**53 + 1}, "house_a": {"L1": 1e9}, "allowed_a": {"L1": -1e9}},
    {"meter_a": None, "house_a": {"L1": 1.0}},
    {"meter_a": {"L2": 19.02}, "house_a": None, "allowed_a": {"L2": 1.0}},
]
_CHARGERS = [
    [{"name": "carport", "setpoint_a": 16, "measured_a": [10**17 + 1, -(10**17)]}],
    [{"name": "carport", "setpoint_a": 1e9, "measured_a": [1, 0.1, 2], "reason": None}],
    [{"name": "carport", "setpoint_a": None, "phases": [], "measured_a": []}],
    [{"name": "carport", "setpoint_a": 6.5, "phases": ["L2"], "measured_a": [6.4]}, {"name": "x"}],
]


@pytest.mark.parametrize("site", _SITES)
@pytest.mark.parametrize("chargers", _CHARGERS)
def test_a_decision_of_each_shape_gives_the_same_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: dict[str, Any], chargers: Any
) -> None:
    """A phase missing or null in the house or the allowed figures (the peak counts the one,
    not the other), ints, ints beyond a float's exactness, a current at MAX_CURRENT_A."""
    fields = {**site, "chargers": chargers, "mono_s": 12.5}
    path = write(tmp_path / "decisions.jsonl", [startup(0), event(5, "decision", **fields)])
    _same_both_ways([path], monkeypatch)


def test_a_malformed_line_in_a_long_log_is_one_line_with_its_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lines, "BLOCK_BYTES", 4096)  # many blocks
    text = [json.dumps(r) for r in evening()]
    text.insert(150, '{"ts": "2026-01-14T18:25:00.000+01:00", "event": "decision", "meter_a": {')
    path = tmp_path / "decisions.jsonl"
    path.write_text("\n".join(text) + "\n")
    assert main(["log", str(path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"loadbalancer log: skipped 1 unreadable line (not a JSON record with ts and event), "
        f"the first at {path}:151"
    ]


def _flat_blocks(path: Path) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for number, block in file_blocks(path):
        if isinstance(block, bytes):
            out.append((number, block))
        else:
            out += [(number + i, line.removesuffix(b"\n")) for i, line in enumerate(block)]
    return out


def _flat_lines(path: Path) -> list[tuple[int, bytes]]:
    return [
        (n, line if line is UNREADABLE else line.removesuffix(b"\n"))
        for n, line in file_lines(path)
    ]


@pytest.mark.parametrize("kind", ["plain", "overlong", "cut gzip", "gzip bomb", "no newline"])
def test_blocks_are_the_lines_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(lines, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 900)
    body = [json.dumps(r) for r in evening()[:60]]
    body[7:7] = ["", "  ", "not json", "x" * 899, "x" * 900]  # 900 with its newline: too long
    if kind == "overlong":
        body[30:30] = ["y" * 5000, "z" * 2000]
    data = ("\n".join(body) + ("" if kind == "no newline" else "\n")).encode()
    path = tmp_path / "decisions.jsonl"
    if kind in ("cut gzip", "gzip bomb"):
        packed = gzip.compress(data)
        path = tmp_path / "decisions.jsonl.gz"
        path.write_bytes(packed[: len(packed) * 2 // 3] if kind == "cut gzip" else packed)
        if kind == "gzip bomb":
            monkeypatch.setattr(lines, "MAX_UNPACKED_BYTES", len(data) // 2)
    else:
        path.write_bytes(data)
    flat = _flat_blocks(path)
    assert flat == _flat_lines(path)
    marks = [n for n, line in flat if line is UNREADABLE]
    assert marks if kind != "plain" and kind != "no newline" else marks == [12]


_MOMENTS = st.builds(
    lambda base, step_ms, hours: (base + timedelta(milliseconds=step_ms)).astimezone(
        timezone(timedelta(hours=hours))
    ),
    st.just(datetime(2026, 1, 14, 17, 59, 50, tzinfo=UTC)),
    st.integers(0, 200_000),
    st.sampled_from([0, 1, 2, -5]),
)


@given(
    stamps=st.lists(
        st.one_of(
            _MOMENTS.map(lambda t: t.isoformat(timespec="milliseconds")),
            _MOMENTS.map(lambda t: t.isoformat(timespec="milliseconds")[:17] + "6x.000+01:00"),
            _MOMENTS.map(lambda t: t.isoformat(timespec="milliseconds")[:17] + "61.000+01:00"),
            _MOMENTS.map(lambda t: t.isoformat(timespec="milliseconds").replace("+", "Z")),
            _MOMENTS.map(lambda t: t.isoformat(timespec="seconds")),
        ),
        max_size=30,
    )
)
def test_the_time_of_a_ts_is_the_same_float(stamps: list[str]) -> None:
    """In order and out of it, the same minute in another offset, seconds that are no seconds."""
    for stamp in sorted(stamps) + stamps:
        assert posix_s_fast(stamp) == posix_s(stamp), stamp
