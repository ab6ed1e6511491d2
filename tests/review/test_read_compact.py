"""The compact reading the summary uses (``read_logs(..., compact=True)``, a fast decoder) gives
the same summary as the tolerant reading of whole records, odd lines and all."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbalancer.review import halves as two_halves
from loadbalancer.review import read
from loadbalancer.review.facts import CompactDecision
from loadbalancer.review.read import LogContents, read_logs
from loadbalancer.review.summary import summarize
from tests.review.logs import THREE, at, decision, evening, event, startup, ts, write


def _same(paths: list[Path], **window: Any) -> LogContents:
    """Both readings of ``paths`` agree on everything the summary shows; returns the compact."""
    whole, compact = read_logs(paths), read_logs(paths, compact=True)
    assert (compact.unreadable_lines, compact.first_unreadable) == (
        whole.unreadable_lines,
        whole.first_unreadable,
    )
    assert [t for t, _ in compact.records] == [t for t, _ in whole.records]
    assert [r["event"] for _, r in compact.records] == [r["event"] for _, r in whole.records]
    for charger in (None, "carport"):
        expected = summarize(whole.records, charger=charger, **window)
        assert summarize(compact.records, charger=charger, **window) == expected
        assert summarize(compact.records, charger=charger, **window).to_json() == (
            expected.to_json()
        )
    return compact


def _odd_lines() -> list[str]:
    """Lines the fast decoder does not take, or takes and must read as the tolerant path does."""
    base = decision(2005, 16.0, "at_max", previous_a=16.0)
    odd: list[object] = [
        event(2001, "decision"),  # only the first version's required fields
        event(2002, "solar_forecast", kw=3.2),  # an unknown event
        base | {"ts": ts(2003), "new_field": {"x": [1, None]}, "meter_age_s": "old"},
        base | {"ts": ts(2004), "meter_a": {"L1": True, "L2": None, "L3": "x"}},
        base | {"ts": ts(2006), "house_a": None, "meter_a": {"L1": 25.0, "L4": 30}},
        base | {"ts": ts(2007), "allowed_a": {"L1": None, "L2": 1.0, "L3": [1]}},
        base
        | {
            "ts": ts(2008),
            "chargers": [
                {"name": "carport", "setpoint_a": True, "measured_a": [1, None, 2.5]},
                {"name": 7, "setpoint_a": 10},
                "garage",
                {"setpoint_a": 10},
                {"name": "garage", "setpoint_a": 10, "phases": [], "reason": 3},
            ],
        },
        base | {"ts": ts(2009), "chargers": {"name": "carport"}},
        base | {"ts": "2026-01-14T17:33:30Z"},  # another form of ISO 8601: the slow time path
        base | {"ts": "2026-01-14T18:33:40+01:00", "meter_a": {"L1": 99}},
        base | {"ts": "2026-01-14T18:33:61.000+01:00"},  # no such time
        base | {"ts": "2026-01-14T18:3a:50.000+01:00"},
        base | {"ts": "2026-01-14T18x33:50.000+01:00"},
        base | {"ts": 5},
        {"event": "decision"},
        [1, 2],
    ]
    lines = [json.dumps(r) for r in odd]
    lines += [
        "not json",
        "",
        "   ",
        json.dumps(base | {"ts": ts(2010)}).replace('"L1": 2.0', '"L1": NaN'),
        json.dumps(base | {"ts": ts(2011), "trigger": "\ud800"}),  # a lone surrogate
        json.dumps(base | {"ts": ts(2012)}) + " " + json.dumps(base | {"ts": ts(2013)}),
        json.dumps(base | {"ts": ts(2014)}).replace('"trigger"', '"trigger": 1, "trigger"'),
    ]
    return lines


def test_odd_lines_give_the_same_summary_and_unreadable_count(tmp_path: Path) -> None:
    records = evening()
    shutdown = records.pop()
    body = "".join(json.dumps(r) + "\n" for r in records)
    tail = "\n".join(_odd_lines()) + "\n" + json.dumps(shutdown | {"ts": ts(2020)}) + "\n"
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(body.encode() + b'{"ts": "\xff\xfe", "event": "x"}\n' + tail.encode())
    with path.open("ab") as out:
        out.write(b'{"ts": "2026-01-14T18:3')  # torn
    compact = _same([path])
    assert compact.unreadable_lines == 10
    kinds = {type(r).__name__ for _, r in compact.records}
    assert kinds == {"dict", CompactDecision.__name__}  # the odd decisions come whole
    _same([path], since_s=at(600), until_s=at(1850))


def test_rotated_gzip_and_cut_off_files_give_the_same_summary(tmp_path: Path) -> None:
    records = evening()
    third = len(records) // 3
    gz = tmp_path / "decisions.jsonl.2.gz"
    with gzip.open(gz, "wt") as stream:
        stream.writelines(json.dumps(r) + "\n" for r in records[:third])
    rotated = write(tmp_path / "decisions.jsonl.1", records[third : 2 * third])
    current = write(tmp_path / "decisions.jsonl", records[2 * third :], tail='{"ts": "2026-')
    compact = _same([current, gz, rotated])
    assert compact.unreadable_lines == 1
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert _same([cut]).unreadable_lines == 1


_NUMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 40),
    st.floats(-5, 40, allow_nan=False),
    st.sampled_from(["x", [], {}]),
)


def decision_fields(
    numbers: st.SearchStrategy[Any], phases: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """A decision's fields of any shape: per-phase objects keyed by ``phases``, chargers'
    entries, each value drawn from ``numbers``."""
    by_phase = st.one_of(st.none(), st.dictionaries(st.sampled_from(phases), numbers, max_size=4))
    entry = st.fixed_dictionaries(
        {"name": st.sampled_from(["carport", "garage"])},
        optional={
            "reason": st.one_of(st.sampled_from(["at_max", "overload_cut", "resume"]), numbers),
            "setpoint_a": numbers,
            "phases": st.one_of(st.lists(st.sampled_from(THREE), max_size=3), numbers),
            "measured_a": st.one_of(st.lists(numbers, max_size=3), numbers),
            "extra": numbers,
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "meter_a": by_phase,
            "house_a": by_phase,
            "allowed_a": by_phase,
            "mono_s": numbers,
            "chargers": st.one_of(st.lists(entry, max_size=3), numbers),
        },
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(decisions=st.lists(decision_fields(_NUMBERS, [*THREE, "L4"]), min_size=1, max_size=12))
def test_any_decision_fields_give_the_same_summary(
    tmp_path: Path, decisions: list[dict[str, Any]]
) -> None:
    records = [startup(0)]
    records += [event(5 * (i + 1), "decision", **fields) for i, fields in enumerate(decisions)]
    records.append(event(5 * (len(decisions) + 1), "shutdown"))
    _same([write(tmp_path / "decisions.jsonl", records)])


@pytest.mark.parametrize("option", [[], ["--json"]])
def test_the_command_prints_what_the_whole_records_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    from loadbalancer.cli import main
    from loadbalancer.review.text import format_summary

    path = write(tmp_path / "decisions.jsonl", evening())
    assert main(["log", str(path), *option]) == 0
    summary = summarize(read_logs([path]).records)
    expected = (
        json.dumps(summary.to_json() | {"unreadable_lines": 0}, indent=2)
        if option
        else format_summary(summary)
    )
    assert capsys.readouterr().out.strip() == expected


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("odd", [False, True])
def test_a_large_file_read_in_two_halves_gives_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: bool, packed: bool
) -> None:
    """Split at any size: the second half is read in a forked process and shipped back (odd
    lines included; a value msgpack cannot carry sends the file back to one process)."""
    monkeypatch.setattr(two_halves, "SPLIT_BYTES", 0)
    halves: list[object] = []
    read_halves = two_halves.read_halves

    def spy(path: Path, middle: int, data: bytes | None) -> object:
        halves.append(result := read_halves(path, middle, data))
        return result

    monkeypatch.setattr(read, "read_halves", spy)
    records = evening()
    lines = [json.dumps(r) for r in records]
    if odd:  # in both halves
        lines[10:10] = ["not json", json.dumps(event(5, "decision"))]
        lines[-5:-5] = _odd_lines()
    path = tmp_path / "decisions.jsonl"
    text = "\n".join(lines) + '\n{"ts": "2026-01-14T18:3'
    if packed:
        path = path.with_suffix(".jsonl.1.gz")
        path.write_bytes(gzip.compress(text.encode()))
        cut = tmp_path / "cut.jsonl.gz"  # cut off: read line by line, as it always was
        cut.write_bytes(path.read_bytes()[:-30])
        assert _same([cut]).unreadable_lines == (10 if odd else 1) and halves == []
    else:
        path.write_text(text)
    compact = _same([path])
    assert compact.unreadable_lines == (10 if odd else 1)
    assert len(halves) == 1
    assert (halves[0] is None) == odd  # the lone surrogate is not UTF-8: msgpack refuses it
