"""``--explain``: the decision in force at a time, in words, for every reason code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadbalancer.control.reasons import Reason
from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.review.explain import REASON_MEANINGS, SETPOINT_IGNORED_PAUSE, explain
from loadbalancer.review.lines import TimedRecord
from loadbalancer.review.read import read_logs
from tests.review.logs import at, decision, evening, event, startup, ts, write

REASONS_SOURCE = Path(__file__).parents[2] / "loadbalancer" / "control" / "reasons.py"


@pytest.fixture
def records(tmp_path: Path) -> list[TimedRecord]:
    return read_logs([write(tmp_path / "decisions.jsonl", evening())]).records


def test_at_the_cut_it_names_the_phase_the_figures_the_rule_and_the_new_limit(
    records: list[TimedRecord],
) -> None:
    text = explain(records, at(605)).text()
    assert "decision of 18:10:00 was in force" in text
    assert "carport was at 7 A (was 16 A)" in text
    assert "overload_cut: " + REASON_MEANINGS[Reason.OVERLOAD_CUT] in text
    assert "Overloaded phase L1: the meter showed 27.8 A, of which the house 12.0 A" in text
    assert "the car(s) 15.8 A (carport 15.8 A)" in text
    assert "20 A rating − 1 A margin − 12.0 A house = 7.0 A" in text
    assert "cut at once to 7 A" in text
    assert "ramp_up_delay_s (60 s, from the startup record)" in text
    assert "It rose next at 18:11:10 to 16 A (ramp_up, after headroom from 18:10:10)" in text


def test_explain_facts_carry_the_numbers(records: list[TimedRecord]) -> None:
    facts = explain(records, at(600)).facts["chargers"]["carport"]
    assert facts == {
        "setpoint_a": 7.0,
        "previous_a": 16.0,
        "reason": "overload_cut",
        "phase": "L1",
        "meter_a": 27.8,
        "house_a": 12.0,
        "cars_a": pytest.approx(15.8),
        "allowed_a": 7.0,
    }


def test_at_the_pause_it_names_l2_and_when_it_may_resume(records: list[TimedRecord]) -> None:
    text = explain(records, at(905)).text()
    assert "carport was paused (0 A) (was 16 A)" in text
    assert "min_current_pause" in text and "Limiting phase L2" in text
    assert "30.0 A house = -11.0 A" in text
    assert "resume_delay_s (300 s, from the startup record)" in text
    assert "It rose next at 18:20:00 to 6 A (resume)" in text


def test_inside_a_meter_fallback(records: list[TimedRecord]) -> None:
    text = explain(records, at(1530)).text()
    assert "Meter fallback from 18:25:00 (no valid telegram for 25 s) until 18:26:00" in text
    assert "safe current (6 A)" in text
    assert "meter_stale_fallback" in text and "No meter figures" in text


def test_inside_a_charger_outage(records: list[TimedRecord]) -> None:
    text = explain(records, at(1820)).text()
    assert "charger_offline_reserved" in text
    assert "carport was offline from 18:30:00 (connection refused) and came back at 18:30:40" in (
        text
    )


def test_without_the_delays_in_the_log_it_says_so(tmp_path: Path) -> None:
    records = [startup(0, full=False), *evening()[1:]]
    timed = read_logs([write(tmp_path / "old.jsonl", records)]).records
    text = explain(timed, at(605)).text()
    assert "ramp_up_delay_s (not in this log; see control.ramp_up_delay_s" in text
    assert "19.0 A (rating − margin − any reserve (fuse rating 20 A)) − 12.0 A house" in text


@pytest.mark.parametrize("reason", [*Reason, SETPOINT_IGNORED_PAUSE])
def test_every_reason_code_is_explained(reason: str) -> None:
    setpoint = 0.0 if "pause" in reason else 6.0
    records = [startup(0), decision(0, setpoint, reason, previous_a=16.0), event(10, "shutdown")]
    timed = [(at(s), r) for s, r in zip((0, 0, 10), records, strict=True)]
    text = explain(timed, at(5)).text()
    assert f"Rule: {reason}: {REASON_MEANINGS[reason]}." in text
    assert "a reason this version does not know" not in text


def test_an_unknown_reason_is_told_as_unknown() -> None:
    timed = [(at(0), decision(0, 6.0, "moon_phase", previous_a=6.0))]
    assert "moon_phase: a reason this version does not know" in explain(timed, at(0)).text()


def test_meanings_are_the_documented_ones() -> None:
    """The meanings here are the ``#:`` comments of control/reasons.py, word for word."""
    source = REASONS_SOURCE.read_text()
    documented = {
        value: " ".join(line.strip().lstrip("#: ") for line in comment.splitlines())
        for comment, value in re.findall(r"((?:\s*#:.*\n)+)\s*[A-Z_]+ = \"(\w+)\"", source)
    }
    assert documented.keys() == {str(r) for r in Reason}
    for value, meaning in documented.items():
        assert REASON_MEANINGS[value] == meaning.replace("``", "").strip()


def test_before_the_log_after_a_shutdown_and_before_the_first_decision(
    records: list[TimedRecord],
) -> None:
    with pytest.raises(LoadBalancerError, match="before the log starts"):
        explain(records, at(-60))
    after = explain(records, at(2100)).text()
    assert "the service was not running: it shut down at 2026-01-14 18:33:20" in after
    lone = [(at(0), startup(0))]
    assert "no decision had been made yet" in explain(lone, at(5)).text()


def test_unknown_charger_is_a_usage_error(records: list[TimedRecord]) -> None:
    with pytest.raises(UsageError):
        explain(records, at(600), charger="garage")


def test_two_chargers_on_one_phase_a_share_cut_names_the_other() -> None:
    record = decision(0, 6.0, "share_cut", previous_a=10.0, drawing_a=9.8)
    garage = {
        "name": "garage",
        "measured_a": [5.8],
        "previous_a": 6.0,
        "setpoint_a": 10.0,
        "reason": "ramp_up",
        "phases": ["L2"],
    }
    record["chargers"].append(garage)
    record["meter_a"]["L2"] = 2.0 + 9.8 + 5.8
    record["allowed_a"]["L2"] = 17.0
    timed = [(at(0), startup(0)), (at(0), record)]
    text = explain(timed, at(5)).text()
    carport, garage_part = text.split("garage was at")
    assert "carport was at 6 A (was 10 A). Rule: share_cut" in carport
    assert "Shared with: garage 10 A" in carport
    # L2 is where it shares: 17 A allowed, 10 A of it the garage's
    assert "Limiting phase L2: the meter showed 17.6 A" in carport
    assert "the car(s) 15.6 A (carport 9.8 A, garage 5.8 A)" in carport
    assert garage_part.startswith(" 10 A (was 6 A). Rule: ramp_up")
    garage_only = explain(timed, at(5), charger="garage").text()
    assert "carport was" not in garage_only and "Limiting phase L2" in garage_only


@pytest.mark.parametrize("reason", [None, 7, "ramp_up"])
def test_the_command_reads_compact_and_tells_what_the_whole_records_tell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reason: object
) -> None:
    """``log --explain`` reads the log compact, in one walk: the decision in force and the
    reason of the next rise come from their lines read whole (a reason that is not text as
    written, not as the compact reading's ``unknown``), as from every record in memory."""
    from loadbalancer.cli import main

    records = evening()
    rise = next(r for r in records if r["ts"] == decision(670, 16.0, "x", previous_a=7.0)["ts"])
    rise["chargers"][0]["reason"] = reason
    path = write(tmp_path / "decisions.jsonl", records)
    in_memory = read_logs([path]).records
    for when in (605, 100, 1995):
        assert main(["log", str(path), "--explain", ts(when)]) == 0
        assert capsys.readouterr().out.strip() == explain(in_memory, at(when)).text()
    told = explain(in_memory, at(605)).text()
    assert f"It rose next at 18:11:10 to 16 A ({reason}, after headroom from 18:10:10)" in told
