"""The summary for people: the text ``loadbalancer log`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.review.clock import clock, duration
from loadbalancer.review.summary import ChargerSummary, Summary
from loadbalancer.review.timeline import (
    Episode,
)


def format_summary(summary: Summary) -> str:
    """The summary for people."""
    zone = summary.zone
    span = summary.to_s - summary.from_s
    offset = datetime.fromtimestamp(summary.to_s, zone).strftime("%z")
    fuse = summary.site.fuse
    lines = [
        f"Decision log {clock(summary.from_s, zone, date=True)} to "
        f"{clock(summary.to_s, zone, date=True)} (UTC{offset[:3]}:{offset[3:]}), "
        f"{duration(span)}: {summary.decisions} decisions, {summary.restarts} start(s)"
        + (f", fuse {fuse}" if fuse else ""),
    ]
    for c in summary.chargers:
        lines += _charger_lines(c, zone)
    lines += _site_lines(summary)
    return "\n".join(lines)


def _charger_lines(c: ChargerSummary, zone: tzinfo) -> list[str]:
    lines = [f"charger {c.name}"]
    total = sum(c.time_at_limit_s.values())
    if total > 0:
        parts = [
            f"{'paused (0 A)' if float(k) == 0 else k + ' A'} {duration(v)}"
            + (f" ({100 * v / total:.0f} %)" if total else "")
            for k, v in c.time_at_limit_s.items()
        ]
        lines.append("  time at each limit: " + ", ".join(parts))
    else:
        lines.append("  time at each limit: no decision in force in this window")
    lines.append(
        f"  cuts (overload_cut): {c.cuts}, share cuts: {c.share_cuts}, "
        f"pauses (min_current_pause): {c.pauses}, resumes: {c.resumes}"
    )
    unmeasured = (
        f" ({duration(c.unmeasured_s)} without a measured current not counted)"
        if c.unmeasured_s > 0
        else ""
    )
    lines.append(
        f"  energy (estimate, current x phases x {NOMINAL_VOLTAGE_V:g} V): offered "
        f"{c.offered_kwh:.1f} kWh, drawn {c.drawn_kwh:.1f} kWh{unmeasured}"
    )
    if c.outages:
        lines.append(
            f"  outages: {len(c.outages)}, {duration(c.outage_s)} offline: "
            + _periods(c.outages, zone)
        )
    else:
        lines.append("  outages: none")
    extras = [
        f"{n} {what}"
        for n, what in (
            (c.write_failures, "failed writes"),
            (c.setpoint_ignored, "limits ignored by the car"),
        )
        if n
    ]
    if extras:
        lines.append("  " + ", ".join(extras))
    return lines


def _site_lines(summary: Summary) -> list[str]:
    zone = summary.zone
    lines: list[str] = []
    if summary.fallbacks:
        lines.append(
            f"Meter fallbacks (meter_stale): {len(summary.fallbacks)}, "
            f"{duration(summary.fallback_s)} stale: {_periods(summary.fallbacks, zone)}"
        )
    else:
        lines.append("Meter fallbacks (meter_stale): none")
    by_phase = ", ".join(f"{p} {duration(s)}" for p, s in summary.overload_by_phase_s.items())
    over = f"{duration(summary.overload_s)} ({by_phase})" if summary.overload_s else "0 s"
    lines.append(f"Overload: {over} with a phase above its allowed current")
    if summary.above_rating_s:
        lines.append(f"Above the fuse rating: {duration(summary.above_rating_s)}")
    if summary.alarms:
        lines.append(f"Alarms: {len(summary.alarms)}")
        lines += [
            f"  {clock(a.t_s, zone, date=True)} {a.charger or ''}: {a.problem}"
            for a in summary.alarms[:10]
        ]
    else:
        lines.append("Alarms: none")
    kinds = ", ".join(f"{k} {n}" for k, n in summary.rejected_by_reason.items())
    lines.append(
        f"Rejected telegrams: {summary.rejected_telegrams}" + (f" ({kinds})" if kinds else "")
    )
    return lines


def _periods(episodes: Sequence[Episode], zone: tzinfo, most: int = 5) -> str:
    shown = [
        f"{clock(e.start_s, zone)}-{clock(e.end_s, zone) if e.ended else 'end of log'}"
        for e in episodes[:most]
    ]
    more = f" and {len(episodes) - most} more" if len(episodes) > most else ""
    return ", ".join(shown) + more
