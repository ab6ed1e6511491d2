"""The review on a log the real service wrote (one end-to-end run over loopback, shared)."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pytest

from loadbalancer import records
from loadbalancer.cli import main
from loadbalancer.review.read import read_logs
from loadbalancer.review.summary import summarize
from tests.review.scenario import TELEGRAM_PERIOD_S, Run


def _log_json(run: Run, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["log", str(run.log), "--json", *args]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_json_counts_exactly_one_cut_one_pause_one_fallback(
    service_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _log_json(service_run, capsys)
    carport = out["chargers"]["carport"]  # type: ignore[index]
    assert (carport["cuts"], carport["pauses"]) == (1, 1)
    assert out["fallbacks"] == 1
    assert out["alarms"] == [] and out["rejected_telegrams"] == 0
    assert out["unreadable_lines"] == 0


def test_time_at_each_limit_matches_what_the_charger_received(service_run: Run) -> None:
    """The watcher saw the emulated box's set-point; the log's figures agree within one period."""
    seen = service_run.setpoints
    start_s = next(t for t, value in seen if value == 16.0)
    end_s = service_run.watch_end_s
    observed: dict[str, float] = {}
    changes = [(t, v) for t, v in seen if t >= start_s] + [(end_s, -1.0)]
    for (t, value), (t_next, _) in itertools.pairwise(changes):
        key = f"{value:g}"
        observed[key] = observed.get(key, 0.0) + t_next - t
    records = read_logs([service_run.log]).records
    (carport,) = summarize(records, since_s=start_s, until_s=end_s).chargers
    assert set(carport.time_at_limit_s) == set(observed) == {"16", "7", "6", "0"}
    for key, seconds in observed.items():
        assert carport.time_at_limit_s[key] == pytest.approx(seconds, abs=TELEGRAM_PERIOD_S), key


def test_the_fallback_is_where_the_meter_went_silent(service_run: Run) -> None:
    records = read_logs([service_run.log]).records
    (fallback,) = summarize(records).fallbacks
    # stale after 3 s of silence, over with the first telegram after it
    assert fallback.start_s - service_run.silence_from_s == pytest.approx(3.0, abs=1.0)
    assert fallback.end_s == pytest.approx(service_run.silence_to_s, abs=0.1)
    assert fallback.length_s > 1.5


def test_explain_at_the_cut(service_run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    records = read_logs([service_run.log]).records
    cut_s = next(
        t
        for t, r in records
        if r["event"] == "decision" and r["chargers"][0]["reason"] == "overload_cut"
    )
    assert main(["log", str(service_run.log), "--explain", f"{_iso(records, cut_s + 0.05)}"]) == 0
    text = capsys.readouterr().out
    assert "Overloaded phase L1" in text
    assert "overload_cut: lowered in this decision" in text
    assert "carport was at 7 A (was 16 A)" in text
    assert "20 A rating − 1 A margin − 12.0 A house = 7.0 A" in text
    assert "ramp_up_delay_s (2 s, from the startup record)" in text


def test_plot_writes_a_png_a_person_can_read(
    service_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evening.png"
    assert main(["log", str(service_run.log), "--plot", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 1060)  # 12 in wide, 4 panels, 100 dpi
    assert len(data) > 50_000  # lines, legend and text, not an empty canvas
    assert "wrote" in capsys.readouterr().err


def _iso(records: list[tuple[float, dict[str, object]]], t_s: float) -> str:
    from loadbalancer.review.clock import iso, log_timezone

    return iso(t_s, log_timezone(records))


def test_every_record_the_service_wrote_decodes_strictly_with_the_schema(service_run: Run) -> None:
    """The review and the writer share one schema: a field the service writes that
    :mod:`loadbalancer.records` does not declare (or of another type) fails here."""
    lines = service_run.log.read_bytes().splitlines()
    decoded = [records.decode(line) for line in lines]
    events = {type(record).__name__ for record in decoded}
    assert {"DecisionRecord", "StartupRecord", "MeterStale", "MeterRecovered"} <= events
