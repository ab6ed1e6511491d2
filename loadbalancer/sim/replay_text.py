"""The side-by-side table of ``simulate --replay`` (text) and its command."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

from loadbalancer import jsontext
from loadbalancer.review.clock import duration
from loadbalancer.sim.replay import ReplayReport, run_replay
from loadbalancer.sim.replay_trace import Gap

#: the clock for the text when the log's startup record has no offset: Swedish normal time
ZONE = timezone(timedelta(hours=1))
#: gaps listed one by one up to this many (the rest counted)
GAPS_SHOWN = 10
ROWS = (
    ("energy_kwh", "energy (kWh)", "{:.2f}"),
    ("pauses", "pauses", "{:d}"),
    ("cuts", "cuts", "{:d}"),
    ("overload_s", "overload (s)", "{:.0f}"),
    ("peak_a", "peak phase current (A)", "{:.1f}"),
    ("tariff_peak_kw", "tariff peak (kW, hour)", "{:.2f}"),
)


def run_replay_command(files: Sequence[str], candidate: str | None, *, as_json: bool) -> int:
    report = run_replay(files, Path(candidate) if candidate else None)
    if report.trace.unreadable is not None:
        print(f"loadbalancer simulate --replay: {report.trace.unreadable}", file=sys.stderr)
    if as_json:
        print(table(report), file=sys.stderr)
        print(jsontext.dumps(report.to_json()))
    else:
        print(table(report))
    return 0


def _zone(report: ReplayReport) -> tzinfo:
    """The log's offset (of its startup record's time)."""
    stamp = (report.trace.startup or {}).get("ts")
    try:
        zone = datetime.fromisoformat(stamp).tzinfo if isinstance(stamp, str) else None
    except ValueError:
        zone = None
    return zone or ZONE


def _when(t_s: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(t_s, zone).strftime("%Y-%m-%d %H:%M:%S")


def _gap_line(gap: Gap, zone: tzinfo) -> str:
    return (
        f"  {_when(gap.start_s, zone)} to {_when(gap.end_s, zone)} "
        f"({duration(gap.end_s - gap.start_s)}): {gap.why}"
    )


def table(report: ReplayReport) -> str:
    trace, zone = report.trace, _zone(report)
    start, end = trace.t_s[0], trace.t_s[-1] + trace.dt_s[-1]
    lines = [
        f"replay of {', '.join(report.files)}: {_when(start, zone)} to {_when(end, zone)}, "
        f"{trace.steps} telegrams, {duration(trace.replayed_s)} replayed "
        f"in {report.wall_s:.1f} s",
    ]
    gap_s = sum(g.end_s - g.start_s for g in trace.gaps)
    if trace.gaps:
        lines.append(
            f"gaps, not replayed and not counted in any column: {len(trace.gaps)} "
            f"({duration(gap_s)}); {trace.restarts} restarts, {trace.fallbacks} meter fallbacks"
        )
        lines += [_gap_line(g, zone) for g in trace.gaps[:GAPS_SHOWN]]
        if len(trace.gaps) > GAPS_SHOWN:
            lines.append(f"  and {len(trace.gaps) - GAPS_SHOWN} more")
    else:
        lines.append("gaps: none (no restart, no meter fallback, no charger unread)")
    if report.defaults:
        lines.append(
            "the startup record does not say "
            f"{', '.join(report.defaults)}: the site loader's defaults were taken"
        )
    tariff = (trace.startup or {}).get("tariff")
    if isinstance(tariff, dict):
        lines.append(
            f"the log's site has a capacity tariff ({tariff.get('profile')}, "
            f"{tariff.get('budget_kw')} kW): the replays run without it (the fuse alone)"
        )
    lines += list(report.notes)
    if report.candidate is not None:
        lines.append(f"candidate: {report.candidate}")
    columns = [report.logged, *report.runs]
    width = max(len(c.name) for c in columns)
    head = f"{'':<24}" + "".join(f" {c.name:>{width}}" for c in columns)
    if len(report.runs) > 1:
        head += f" {'difference':>{width}}"
    lines.append(head)
    for key, label, fmt in ROWS:
        values = [c.to_dict()[key] for c in columns]
        row = f"{label:<24}" + "".join(f" {fmt.format(v):>{width}}" for v in values)
        if len(report.runs) > 1:
            row += f" {fmt.format(values[2] - values[1]):>{width}}"
        lines.append(row)
    lines.append(
        f"upper bound on the energy: {report.bound_kwh:.2f} kWh (per logged step, each car "
        "alone up to its demand and the fuse's hard limit)"
    )
    return "\n".join(lines)
