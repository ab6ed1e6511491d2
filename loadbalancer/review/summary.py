"""The summary of a decision log (``loadbalancer log``): per charger and site-wide, over a window.

Pure: no files, no clock. Time at a limit, energy and overload seconds are integrated over the
decision intervals (:mod:`loadbalancer.review.timeline`), clipped to the window asked for; so
every figure is right within one record period.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from loadbalancer.control.reasons import Reason
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.meter.rejections import reason_kind
from loadbalancer.review.clock import iso, log_timezone
from loadbalancer.review.facts import (
    OVERLOAD_TOLERANCE_A,
    CompactDecision,
    decision_facts,
)
from loadbalancer.review.lines import (
    Record,
    TimedRecord,
)
from loadbalancer.review.timeline import (
    Episode,
    Site,
    charger_names,
    clipped,
    decision_intervals,
    find_episodes,
    in_window,
    known_charger,
    last_startup,
    record_time,
)

#: ampere-seconds on one phase at the nominal voltage, in kWh
KWH_PER_AS = NOMINAL_VOLTAGE_V / 3.6e6


def limit_key(current_a: float) -> str:
    """A limit as the JSON key and the text shows it: ``16``, ``6.5``, ``0``."""
    return f"{round(current_a, 3):g}"


@dataclass(frozen=True, slots=True)
class ChargerSummary:
    name: str
    time_at_limit_s: Mapping[str, float]
    cuts: int
    share_cuts: int
    pauses: int
    resumes: int
    reasons: Mapping[str, int]
    offered_kwh: float
    drawn_kwh: float
    #: time in force without a measured current (offline, or not in the record): not in drawn
    unmeasured_s: float
    outages: tuple[Episode, ...]
    write_failures: int
    setpoint_ignored: int
    alarms: int

    @property
    def outage_s(self) -> float:
        return sum(e.length_s for e in self.outages)


@dataclass(frozen=True, slots=True)
class Alarm:
    t_s: float
    charger: str | None
    problem: str


@dataclass(frozen=True, slots=True)
class Summary:
    from_s: float
    to_s: float
    zone: tzinfo
    site: Site
    records: int
    decisions: int
    restarts: int
    chargers: tuple[ChargerSummary, ...]
    fallbacks: tuple[Episode, ...]
    overload_s: float
    overload_by_phase_s: Mapping[str, float]
    above_rating_s: float | None
    alarms: tuple[Alarm, ...]
    rejected_telegrams: int
    rejected_by_reason: Mapping[str, int]
    events: Mapping[str, int] = field(default_factory=dict)

    @property
    def fallback_s(self) -> float:
        return sum(e.length_s for e in self.fallbacks)

    def to_json(self) -> dict[str, Any]:
        """The summary as one JSON object (``log --json``)."""
        zone = self.zone
        return {
            "from": iso(self.from_s, zone),
            "to": iso(self.to_s, zone),
            "period_s": round(self.to_s - self.from_s, 3),
            "records": self.records,
            "decisions": self.decisions,
            "restarts": self.restarts,
            "fuse": {
                "name": self.site.fuse,
                "rating_a": self.site.rating_a,
                "margin_a": self.site.margin_a,
            },
            "chargers": {c.name: _charger_json(c, zone) for c in self.chargers},
            "fallbacks": len(self.fallbacks),
            "fallback_s": round(self.fallback_s, 3),
            "fallback_periods": [_period(e, zone) for e in self.fallbacks],
            "overload_s": round(self.overload_s, 3),
            "overload_by_phase_s": {k: round(v, 3) for k, v in self.overload_by_phase_s.items()},
            "above_rating_s": None
            if self.above_rating_s is None
            else round(self.above_rating_s, 3),
            "alarms": [
                {"ts": iso(a.t_s, zone), "charger": a.charger, "problem": a.problem}
                for a in self.alarms
            ],
            "rejected_telegrams": self.rejected_telegrams,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "energy_note": f"estimate: current x phases x {NOMINAL_VOLTAGE_V:g} V",
            "events": dict(self.events),
        }


def _charger_json(c: ChargerSummary, zone: tzinfo) -> dict[str, Any]:
    return {
        "time_at_limit_s": {k: round(v, 3) for k, v in c.time_at_limit_s.items()},
        "cuts": c.cuts,
        "share_cuts": c.share_cuts,
        "pauses": c.pauses,
        "resumes": c.resumes,
        "reasons": dict(c.reasons),
        "offered_kwh": round(c.offered_kwh, 3),
        "drawn_kwh": round(c.drawn_kwh, 3),
        "unmeasured_s": round(c.unmeasured_s, 3),
        "energy_is_estimate": True,
        "outages": len(c.outages),
        "outage_s": round(c.outage_s, 3),
        "outage_periods": [_period(e, zone) for e in c.outages],
        "write_failures": c.write_failures,
        "setpoint_ignored": c.setpoint_ignored,
        "alarms": c.alarms,
    }


def _period(e: Episode, zone: tzinfo) -> dict[str, Any]:
    return {
        "from": iso(e.start_s, zone),
        "to": iso(e.end_s, zone),
        "seconds": round(e.length_s, 3),
        "ended": e.ended,
        "detail": e.detail,
    }


@dataclass
class _Tally:
    """Running totals of one charger while the records are walked (private, mutable)."""

    time_at_limit_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    reasons: Counter[str] = field(default_factory=Counter)
    #: ampere-seconds times phases; times the nominal voltage this is energy
    offered_as: float = 0.0
    drawn_as: float = 0.0
    unmeasured_s: float = 0.0
    write_failures: int = 0
    setpoint_ignored: int = 0
    alarms: int = 0


class _Walk:
    """One pass over the decision intervals of a window (private, mutable, kept lean: a month
    of 10 s decisions is 260 000 records)."""

    def __init__(self, window: tuple[float, float], charger: str | None, rating_a: float | None):
        self.window = window
        self.charger = charger
        #: a meter current above this is above the fuse rating
        self.limit_a = math.inf if rating_a is None else rating_a + OVERLOAD_TOLERANCE_A
        self.tallies: dict[str, _Tally] = {}
        self.decisions = 0
        self.overload_s = 0.0
        self.above_rating_s = 0.0
        self.overload_by_phase: defaultdict[str, float] = defaultdict(float)
        self._keys: dict[float, str] = {}

    def tally(self, name: str) -> _Tally:
        tally = self.tallies.get(name)
        if tally is None:
            tally = self.tallies[name] = _Tally()
        return tally

    def run(self, records: Sequence[TimedRecord]) -> None:
        """Integrate each decision in force over its interval, clipped to the window (one loop,
        the per-charger part inline: it runs for every decision of the log)."""
        w0, w1 = self.window
        only, limit_a, keys = self.charger, self.limit_a, self._keys
        tallies, by_phase = self.tallies, self.overload_by_phase
        for start_s, end_s, record in decision_intervals(records):
            if start_s > w1:
                return
            facts = record.facts if type(record) is CompactDecision else decision_facts(record)
            dt = min(end_s, w1) - max(start_s, w0)
            in_window = w0 <= start_s <= w1
            if in_window:
                self.decisions += 1
            elif dt <= 0:
                continue
            dt = max(dt, 0.0)
            chargers, metered, over, peak = facts
            for name, reason, setpoint, phases, drawn in chargers:
                if only is not None and name != only:
                    continue
                tally = tallies.get(name) or self.tally(name)
                if in_window:
                    tally.reasons[reason] += 1
                if dt <= 0 or setpoint is None:
                    continue
                key = keys.get(setpoint)
                if key is None:
                    key = keys[setpoint] = limit_key(setpoint)
                tally.time_at_limit_s[key] += dt
                tally.offered_as += setpoint * phases * dt
                if drawn is None:
                    tally.unmeasured_s += dt
                else:
                    tally.drawn_as += drawn * dt
            if dt <= 0 or not metered:
                continue
            for phase in over:
                by_phase[phase] += dt
            if over:
                self.overload_s += dt
            if peak is not None and peak > limit_a:
                self.above_rating_s += dt


def summarize(
    records: Sequence[TimedRecord],
    *,
    since_s: float | None = None,
    until_s: float | None = None,
    charger: str | None = None,
) -> Summary:
    """The summary of the records between ``since_s`` and ``until_s`` (the whole log by default).

    ``records`` must be sorted by time (as :func:`loadbalancer.review.read.read_logs` gives
    them) and may start before ``since_s``: the decision in force at ``since_s`` counts from
    there. ``charger`` keeps one charger (the meter figures stay site-wide).
    """
    window = _window(records, since_s, until_s)
    site = Site.from_startup(last_startup(records, window[1]))
    walk = _Walk(window, charger, site.rating_a)
    walk.run(records)
    if charger is not None:
        known_charger(charger, charger_names(records))
    tallies = walk.tallies if charger is None else {charger: walk.tally(charger)}
    lo = bisect.bisect_left(records, window[0], key=record_time)
    hi = bisect.bisect_right(records, window[1], key=record_time)
    counts = _Events(tallies, charger)
    for item in records[lo:hi]:
        counts.add(*item)
    episodes = find_episodes(records)
    return Summary(
        from_s=window[0],
        to_s=window[1],
        zone=log_timezone(records),
        site=site,
        records=hi - lo,
        decisions=walk.decisions,
        restarts=counts.restarts,
        chargers=tuple(
            _charger_summary(name, tally, episodes.outages.get(name, ()), window)
            for name, tally in tallies.items()
        ),
        fallbacks=tuple(clipped(in_window(episodes.fallbacks, window), window)),
        overload_s=walk.overload_s,
        overload_by_phase_s=dict(sorted(walk.overload_by_phase.items())),
        above_rating_s=walk.above_rating_s if site.rating_a is not None else None,
        alarms=tuple(counts.alarms),
        rejected_telegrams=sum(counts.rejected.values()),
        rejected_by_reason=dict(counts.rejected.most_common()),
        events=dict(sorted(counts.events.items())),
    )


def _window(
    records: Sequence[TimedRecord], since_s: float | None, until_s: float | None
) -> tuple[float, float]:
    """The window asked for, within the log's first and last record."""
    if not records:
        raise LoadBalancerError("the log has no records")
    first_s, last_s = records[0][0], records[-1][0]
    window = (
        first_s if since_s is None else max(since_s, first_s),
        last_s if until_s is None else min(until_s, last_s),
    )
    if window[1] < window[0]:
        raise UsageError(
            f"nothing in the window: the log runs from {iso(first_s, log_timezone(records))} "
            f"to {iso(last_s, log_timezone(records))}"
        )
    return window


class _Events:
    """The records other than decisions in the window, counted (private, mutable)."""

    def __init__(self, tallies: Mapping[str, _Tally], charger: str | None) -> None:
        self.tallies = tallies
        self.charger = charger
        self.events: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.alarms: list[Alarm] = []
        self.restarts = 0

    def add(self, t_s: float, record: Record) -> None:
        event = record["event"]
        self.events[event] += 1
        if event == "decision":
            return
        name = record.get("charger")
        tally = self.tallies.get(name) if isinstance(name, str) else None
        if event == "meter_rejected":
            reason = record.get("reason")
            # one record per reason per minute carries its count (older logs: one each)
            count = record.get("count", 1)
            self.rejected[reason_kind(reason) if isinstance(reason, str) else "unknown"] += (
                count if type(count) is int and 0 < count < 1 << 53 else 1
            )
        elif event == "startup":
            self.restarts += 1
        elif event == "alarm" and (self.charger is None or tally is not None):
            problem = record.get("problem")
            self.alarms.append(Alarm(t_s, name, problem if isinstance(problem, str) else "alarm"))
            if tally is not None:
                tally.alarms += 1
        elif tally is not None and event == "write_failed":
            tally.write_failures += 1
        elif tally is not None and event == "setpoint_ignored":
            tally.setpoint_ignored += 1


def _charger_summary(
    name: str, tally: _Tally, outages: Sequence[Episode], window: tuple[float, float]
) -> ChargerSummary:
    return ChargerSummary(
        name=name,
        time_at_limit_s=dict(sorted(tally.time_at_limit_s.items(), key=lambda kv: -float(kv[0]))),
        cuts=tally.reasons[Reason.OVERLOAD_CUT],
        share_cuts=tally.reasons[Reason.SHARE_CUT],
        pauses=tally.reasons[Reason.MIN_CURRENT_PAUSE],
        resumes=tally.reasons[Reason.RESUME],
        reasons=dict(tally.reasons.most_common()),
        offered_kwh=tally.offered_as * KWH_PER_AS,
        drawn_kwh=tally.drawn_as * KWH_PER_AS,
        unmeasured_s=tally.unmeasured_s,
        outages=tuple(clipped(in_window(outages, window), window)),
        write_failures=tally.write_failures,
        setpoint_ignored=tally.setpoint_ignored,
        alarms=tally.alarms,
    )
