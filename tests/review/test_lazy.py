"""The review reads its files lazily: a log ten times longer takes about the same memory to
summarise, explain and plot (the records are not kept: a month takes the memory of a day).

The blocks the first look and the stream read, the chunk of lines decoded at once, the reorder
window and the plot's points are made small here, so that a short log already fills them (what
they hold is bounded however long the log)."""

from __future__ import annotations

import contextlib
import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from loadbalancer.review import lines, plot, stream
from loadbalancer.review import scan as scan_module
from loadbalancer.review.command import LogRequest, run_log
from loadbalancer.review.plot import plot_data
from loadbalancer.review.scan import scan
from loadbalancer.review.stream import LogStream
from tests.review.logs import decision, event, startup, ts


def long_log(path: Path, decisions: int) -> Path:
    """A startup, then a decision every 10 s (a cut and a raise every 100), a fallback in the
    middle and a shutdown."""
    with path.open("w") as out:
        out.write(json.dumps(startup(0)) + "\n")
        for i in range(decisions):
            cut = i % 100 == 50
            record = decision(
                i * 10.0,
                7.0 if cut else 16.0,
                "overload_cut" if cut else "at_max",
                previous_a=16.0,
                house=(12.0, 2.0, 2.0) if cut else (2.0, 2.0, 2.0),
            )
            out.write(json.dumps(record) + "\n")
            if i == decisions // 2:
                stale = event(i * 10.0 + 1, "meter_stale", meter_age_s=25.0, rejected_telegrams=0)
                out.write(json.dumps(stale) + "\n")
                back = event(i * 10.0 + 5, "meter_recovered", meter_time=ts(i * 10.0 + 5))
                out.write(json.dumps(back) + "\n")
        out.write(json.dumps(event(decisions * 10.0, "shutdown", reason="signal")) + "\n")
    return path


def peak_bytes(work: Callable[[], object]) -> int:
    """The highest memory Python allocated while ``work`` ran (what it printed is dropped)."""
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def summary(path: Path) -> Callable[[], object]:
    return lambda: run_log(LogRequest(files=[str(path)], as_json=True))


def explanation(path: Path) -> Callable[[], object]:
    # late in the log, so that the walk to it passes most records
    decisions = sum(1 for line in path.open() if '"decision"' in line)
    at = ts(10.0 * (decisions - 50) + 5)  # a cut: it tells when the limit rose again
    return lambda: run_log(LogRequest(files=[str(path)], explain=at))


def series(path: Path) -> Callable[[], object]:
    def work() -> object:
        bounds = scan([path])
        return plot_data(LogStream.of([path]), bounds=bounds)

    return work


@pytest.mark.parametrize("mode", [summary, explanation, series], ids=["log", "explain", "plot"])
def test_ten_times_the_log_is_not_ten_times_the_memory(
    mode: Callable[[Path], Callable[[], object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "BLOCK_BYTES", 8 * 1024)
    monkeypatch.setattr(lines, "BLOCK_BYTES", 8 * 1024)
    monkeypatch.setattr(stream, "CHUNK_LINES", 25)
    monkeypatch.setattr(stream, "REORDER_RECORDS", 10)
    monkeypatch.setattr(plot, "MAX_PLOT_POINTS", 25)
    short = long_log(tmp_path / "short.jsonl", 250)
    long = long_log(tmp_path / "long.jsonl", 2_500)
    mode(short)()  # imports and caches: not the records' memory
    small, large = peak_bytes(mode(short)), peak_bytes(mode(long))
    # kept as a list, the long log's records would take ten times the short one's
    assert large < 1.5 * small, (small, large)
