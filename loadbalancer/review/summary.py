"""The summary of a decision log (``loadbalancer log``): per charger and site-wide, over a window.

Pure: no files, no clock. Time at a limit, energy and overload seconds are integrated over the
decision intervals (:mod:`loadbalancer.review.timeline`), clipped to the window asked for; so
every figure is right within one record period.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Protocol

from loadbalancer.control.reasons import Reason
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.meter.rejections import reason_kind
from loadbalancer.review.clock import iso
from loadbalancer.review.facts import (
    OVERLOAD_TOLERANCE_A,
    CompactDecision,
    decision_facts,
)
from loadbalancer.review.lines import (
    Record,
    TimedRecord,
)
from loadbalancer.review.scan import Bounds
from loadbalancer.review.timeline import (
    Episode,
    EpisodeFinder,
    Intervals,
    Names,
    Site,
    clipped,
    elapsed_s,
    known_charger,
)
from loadbalancer.review.timeline import in_window as in_window_of

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

    def add(self, start_s: float, end_s: float, record: Record) -> None:
        """Integrate one decision in force over its interval, clipped to the window (the
        per-charger part inline: it runs for every decision of the log)."""
        w0, w1 = self.window
        if start_s > w1:
            return
        facts = record.facts if type(record) is CompactDecision else decision_facts(record)
        dt = min(end_s, w1) - max(start_s, w0)
        in_window = w0 <= start_s <= w1
        if in_window:
            self.decisions += 1
        elif dt <= 0:
            return
        dt = max(dt, 0.0)
        only, keys, tallies = self.charger, self._keys, self.tallies
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
            return
        for phase in over:
            self.overload_by_phase[phase] += dt
        if over:
            self.overload_s += dt
        if peak is not None and peak > self.limit_a:
            self.above_rating_s += dt


class Consumer(Protocol):
    """Another figure made in the same walk over the records (the capacity tariff's): told
    every record but the decisions, and every decision interval."""

    def add(self, item: TimedRecord) -> None: ...

    def interval(self, start_s: float, end_s: float, record: Record) -> None: ...


class _Pass:
    """The summary's one walk over the records (private, mutable): decision intervals to the
    walk, other records to the counts, episodes and charger names, and all to ``also``."""

    def __init__(
        self,
        window: tuple[float, float],
        charger: str | None,
        rating_a: float | None,
        also: Sequence[Consumer],
    ) -> None:
        self.window, self.also = window, also
        self.walk = _Walk(window, charger, rating_a)
        self.counts = _Events(charger)
        self.intervals, self.episodes, self.names = Intervals(), EpisodeFinder(), Names()
        self.in_window = 0

    def run(self, records: Iterable[TimedRecord]) -> None:
        w0, w1 = self.window
        walk, counts, intervals, names, also = (
            self.walk,
            self.counts,
            self.intervals,
            self.names,
            self.also,
        )
        decisions_in_window = 0
        for item in records:
            t_s, record = item
            decision = record["event"] == "decision"
            if w0 <= t_s <= w1:
                self.in_window += 1
                if decision:
                    decisions_in_window += 1
                else:
                    counts.add(t_s, record)
            if decision and type(record) is CompactDecision:  # most of a month: inline
                current, intervals.current, intervals.last = intervals.current, item, item
                if current is not None:
                    end_s = current[0] + elapsed_s(current, item)
                    walk.add(current[0], end_s, current[1])
                    for other in also:
                        other.interval(current[0], end_s, current[1])
                if record["chargers"] is not names.seen:
                    names.add(item)
                continue
            interval = intervals.add(item)
            if interval is not None:
                walk.add(*interval)
                for other in also:
                    other.interval(*interval)
            names.add(item)
            if not decision:
                self.episodes.add(item)
                for other in also:
                    other.add(item)
        if decisions_in_window:
            counts.events["decision"] += decisions_in_window
        interval = intervals.finish()
        if interval is not None:
            walk.add(*interval)
            for other in also:
                other.interval(*interval)


def summarize(
    records: Iterable[TimedRecord],
    *,
    since_s: float | None = None,
    until_s: float | None = None,
    charger: str | None = None,
    bounds: Bounds | None = None,
    also: Sequence[Consumer] = (),
) -> Summary:
    """The summary of the records between ``since_s`` and ``until_s`` (the whole log by default).

    One walk over ``records`` in time order (a list, or a :class:`~.stream.LogStream` that reads
    the files as it goes, with the ``bounds`` of a first look at them); ``also`` are told every
    record and every decision interval on the way. The records may start before ``since_s``:
    the decision in force at ``since_s`` counts from there. ``charger`` keeps one charger (the
    meter figures stay site-wide).
    """
    if bounds is None:
        records = records if isinstance(records, Sequence) else list(records)
        bounds = Bounds.of(records)
    if bounds is None:
        raise LoadBalancerError("the log has no records")
    window = summary_window(bounds, since_s, until_s)
    startup = bounds.last_startup(window[1])
    site = Site.from_startup(None if startup is None else startup[1])
    walked = _Pass(window, charger, site.rating_a, also)
    walked.run(records)
    walk, counts, names = walked.walk, walked.counts, walked.names
    if charger is not None:
        known_charger(charger, list(names.names))
    tallies = walk.tallies if charger is None else {charger: walk.tally(charger)}
    counts.settle(tallies)
    found = walked.episodes.finish(walked.intervals.last)
    return Summary(
        from_s=window[0],
        to_s=window[1],
        zone=bounds.zone,
        site=site,
        records=walked.in_window,
        decisions=walk.decisions,
        restarts=counts.restarts,
        chargers=tuple(
            _charger_summary(name, tally, found.outages.get(name, ()), window)
            for name, tally in tallies.items()
        ),
        fallbacks=tuple(clipped(in_window_of(found.fallbacks, window), window)),
        overload_s=walk.overload_s,
        overload_by_phase_s=dict(sorted(walk.overload_by_phase.items())),
        above_rating_s=walk.above_rating_s if site.rating_a is not None else None,
        alarms=tuple(counts.alarms),
        rejected_telegrams=sum(counts.rejected.values()),
        rejected_by_reason=dict(counts.rejected.most_common()),
        events=dict(sorted(counts.events.items())),
    )


def summary_window(
    bounds: Bounds, since_s: float | None, until_s: float | None
) -> tuple[float, float]:
    """The window asked for, within the log's first and last record."""
    first_s, last_s = bounds.first[0], bounds.last[0]
    window = (
        first_s if since_s is None else max(since_s, first_s),
        last_s if until_s is None else min(until_s, last_s),
    )
    if window[1] < window[0]:
        raise UsageError(
            f"nothing in the window: the log runs from {iso(first_s, bounds.zone)} "
            f"to {iso(last_s, bounds.zone)}"
        )
    return window


class _Events:
    """The records other than decisions in the window, counted (private, mutable); what they
    count per charger goes to the chargers' tallies at the end (:meth:`settle`)."""

    def __init__(self, charger: str | None) -> None:
        self.charger = charger
        self.events: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.alarms: list[Alarm] = []
        self.restarts = 0
        #: per charger name: alarms, write failures, set-points ignored
        self.by_name = {
            "alarm": Counter[str](),
            "write_failed": Counter[str](),
            "setpoint_ignored": Counter[str](),
        }

    def add(self, t_s: float, record: Record) -> None:
        event = record["event"]
        self.events[event] += 1
        if event == "decision":
            return
        name = record.get("charger")
        if event == "meter_rejected":
            reason = record.get("reason")
            # one record per reason per minute carries its count (older logs: one each)
            count = record.get("count", 1)
            self.rejected[reason_kind(reason) if isinstance(reason, str) else "unknown"] += (
                count if type(count) is int and 0 < count < 1 << 53 else 1
            )
        elif event == "startup":
            self.restarts += 1
        elif event in self.by_name and isinstance(name, str):
            self.by_name[event][name] += 1
        if event == "alarm" and (self.charger is None or name == self.charger):
            problem = record.get("problem")
            self.alarms.append(Alarm(t_s, name, problem if isinstance(problem, str) else "alarm"))

    def settle(self, tallies: Mapping[str, _Tally]) -> None:
        alarms, failures, ignored = self.by_name.values()
        for name, tally in tallies.items():
            tally.alarms += alarms[name]
            tally.write_failures += failures[name]
            tally.setpoint_ignored += ignored[name]


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
        outages=tuple(clipped(in_window_of(outages, window), window)),
        write_failures=tally.write_failures,
        setpoint_ignored=tally.setpoint_ignored,
        alarms=tally.alarms,
    )
