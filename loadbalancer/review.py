"""Reviewing the decision log (SPEC §3 ``log``, §6.2): records in, summaries and explanations out.

Pure: no files, no clock. The command (:mod:`loadbalancer.review_command`) reads the files
(:mod:`loadbalancer.review_read`) and prints what this module returns.

How time is counted: a ``decision`` record is in force from its ``ts`` until the next decision,
or until a ``startup`` or ``shutdown`` record (the service was not deciding in between). Time at
a limit, energy and overload seconds are integrated over those intervals, clipped to the window
asked for; so every figure is right within one record period. A meter fallback runs from
``meter_stale`` to ``meter_recovered``, a charger outage from ``charger_offline`` to
``charger_online`` (or to a restart, a shutdown, or the end of the log).

Records are read defensively: a field that is missing or of the wrong type counts as unknown,
never as an error, so records with only the SPEC §6.2 required fields and records of later
versions with more fields are reviewed as far as they allow.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from loadbalancer.control.reasons import Reason
from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.meter.rejections import reason_kind
from loadbalancer.review_read import (
    OVERLOAD_TOLERANCE_A,
    CompactDecision,
    Record,
    TimedRecord,
    decision_facts,
    finite,
)

#: the voltage the energy estimate assumes on every phase (EN 50160 nominal, 230 V ± 10 %)
NOMINAL_VOLTAGE_V = 230.0
#: ampere-seconds on one phase at the nominal voltage, in kWh
KWH_PER_AS = NOMINAL_VOLTAGE_V / 3.6e6
#: a reason the service writes itself (not the core): the compliance watch paused the charger
SETPOINT_IGNORED_PAUSE = "setpoint_ignored_pause"

#: every reason code with its meaning, as documented in :mod:`loadbalancer.control.reasons`
#: (a test keeps the two in step)
REASON_MEANINGS: Mapping[str, str] = {
    Reason.OVERLOAD_CUT: "lowered in this decision because the offers no longer fit what one of "
    "its phases allows",
    Reason.SHARE_CUT: "lowered in this decision (no phase over) to make room for another "
    "charger's share",
    Reason.RAMP_UP: "raised, because the headroom has lasted ramp_up_delay_s (raised to the "
    "lowest level seen)",
    Reason.HOLD_RAMP_DELAY: "there is headroom, but it has not yet lasted ramp_up_delay_s: the "
    "set-point is kept",
    Reason.MIN_CURRENT_HOLD: "even its minimum does not fit, but the fuse allows it: within the "
    "rating while the budget lasts, above it for a spike (spike_hold_s) or on little budget, above"
    " the hard limit for one telegram (gG): kept at its minimum",
    Reason.MIN_CURRENT_PAUSE: "paused (0) because even its minimum does not fit and the overload "
    "budget cannot hold it",
    Reason.PAUSED_WAIT_RESUME: "stays paused until its minimum has fitted for resume_delay_s "
    "(doubled per recent pause)",
    Reason.RESUME: "resumed after the wait, in one step to the lowest share seen while it waited",
    Reason.START: "first decision for it since start: offered its minimum, which fits",
    Reason.METER_STALE_FALLBACK: "the meter is stale (none yet, too old, or a phase missing): "
    "set to safe_current_a",
    Reason.CHARGER_OFFLINE_RESERVED: "charger offline: its failsafe current is what it draws, "
    "reserved on its phases",
    Reason.CHARGER_UNKNOWN_RESERVED: "charger answers, but its currents are implausible or it "
    "refuses or ignores its limit: booked at the highest limit it may apply",
    Reason.AT_MAX: "at its maximum (charger or installation) and the allowance would give it "
    "that or more",
    Reason.STEADY: "kept: the allowance gives it exactly its current set-point",
    Reason.NO_CAR: "no car able to charge (IEC 61851 status A, E or F): its minimum from what the "
    "cars leave (else 0), no higher",
    SETPOINT_IGNORED_PAUSE: "paused by the service because the car drew more than its limit "
    "after a rewrite (setpoint_ignored); it resumes after resume_delay_s once the car stops",
}

_FUSE_NAME = re.compile(r"(?P<phases>[13])x(?P<rating>\d+(?:\.\d+)?)A")
_CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


# ---- reading fields defensively -----------------------------------------------------------------


def _num(value: object) -> float | None:
    """A JSON number as float; anything else (null, text, true, inf, 10**400) is unknown."""
    return finite(value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _chargers(record: Record) -> list[dict[str, Any]]:
    """The per-charger entries of a decision that carry a name."""
    return [c for c in _list(record.get("chargers")) if isinstance(c, dict) and "name" in c]


def limit_key(current_a: float) -> str:
    """A limit as the JSON key and the text shows it: ``16``, ``6.5``, ``0``."""
    return f"{round(current_a, 3):g}"


# ---- time ---------------------------------------------------------------------------------------


def log_timezone(records: Sequence[TimedRecord]) -> tzinfo:
    """The UTC offset of the log's last record: the review shows local time as the log has it."""
    if not records:
        return UTC
    try:
        zone = datetime.fromisoformat(str(records[-1][1].get("ts"))).tzinfo
    except ValueError:
        zone = None
    return zone if zone is not None else UTC


def parse_when(text: str, records: Sequence[TimedRecord], option: str) -> float:
    """``--since``/``--until``/``--explain`` as POSIX seconds.

    ISO 8601 (a time without an offset is in the log's offset), or ``HH:MM[:SS]``: that time on
    the log's last day.
    """
    zone = log_timezone(records)
    if _CLOCK_TIME.fullmatch(text.strip()):
        if not records:
            raise UsageError(f"{option} {text}: the log has no records to take the day from")
        day = datetime.fromtimestamp(records[-1][0], zone).date()
        parts = [float(part) for part in text.strip().split(":")]
        hour, minute, second = int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else 0.0
        if hour > 23 or minute > 59 or second >= 60:
            raise UsageError(f"{option} {text}: not a time of day")
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        return (midnight + timedelta(hours=hour, minutes=minute, seconds=second)).timestamp()
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not a time; use ISO 8601 (2026-01-14T18:03:00+01:00) or HH:MM[:SS]"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.timestamp()


#: a log without ``mono_s`` (before it was written): a step of the wall clock longer than this
#: between two records is taken as the clock being set, not as time that passed
MAX_WALL_STEP_S = 86400.0


def elapsed_s(start: TimedRecord, end: TimedRecord) -> float:
    """The seconds from one record to a later one: by ``mono_s`` where both carry it (a step of
    the wall clock in between, a Pi without a real-time clock that set its time, is not time),
    else by ``ts``, at most :data:`MAX_WALL_STEP_S`. A ``startup`` may follow a reboot, where the
    monotonic clock starts anew: the time up to one is taken from ``ts``."""
    if end[1]["event"] != "startup":
        m0, m1 = start[1].get("mono_s"), end[1].get("mono_s")
        if type(m0) is float and type(m1) is float and 0.0 <= m1 - m0 < math.inf:
            return m1 - m0
    return min(end[0] - start[0], MAX_WALL_STEP_S)


def clock(t_s: float, zone: tzinfo, *, date: bool = False) -> str:
    """A time as a person reads it in the log's offset."""
    stamp = datetime.fromtimestamp(t_s, zone)
    return stamp.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def iso(t_s: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(t_s, zone).isoformat(timespec="milliseconds")


def duration(seconds: float) -> str:
    """``12 s``, ``4 min 10 s``, ``3 h 5 min``, ``2 d 3 h``."""
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


# ---- the site as the log tells it ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    """What the last ``startup`` record says (each field None where it does not say it)."""

    fuse: str | None = None
    rating_a: float | None = None
    margin_a: float | None = None
    ramp_up_delay_s: float | None = None
    resume_delay_s: float | None = None
    safe_current_a: float | None = None
    stale_after_s: float | None = None

    @classmethod
    def from_startup(cls, record: Record | None) -> Site:
        if record is None:
            return cls()
        fuse = record.get("fuse")
        name = fuse if isinstance(fuse, str) else None
        rating_a = _num(record.get("fuse_rating_a"))
        if rating_a is None and name is not None and (match := _FUSE_NAME.search(name)):
            rating_a = float(match["rating"])
        control = _dict(record.get("control"))
        return cls(
            fuse=name,
            rating_a=rating_a,
            margin_a=_num(record.get("fuse_margin_a")),
            ramp_up_delay_s=_num(control.get("ramp_up_delay_s")),
            resume_delay_s=_num(control.get("resume_delay_s")),
            safe_current_a=_num(control.get("safe_current_a")),
            stale_after_s=_num(control.get("stale_after_s")),
        )


def _last_startup(records: Sequence[TimedRecord], before_s: float) -> Record | None:
    found: Record | None = None
    for t_s, record in records:
        if t_s > before_s:
            break
        if record["event"] == "startup":
            found = record
    return found


# ---- episodes: meter fallbacks and charger outages ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    """A meter fallback or a charger outage; ``ended`` False when the log ends inside it."""

    start_s: float
    end_s: float
    ended: bool
    detail: str = ""

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Episodes:
    fallbacks: tuple[Episode, ...]
    outages: Mapping[str, tuple[Episode, ...]]


def find_episodes(records: Sequence[TimedRecord]) -> Episodes:
    """Meter fallbacks and per charger outages; a restart or a shutdown ends every episode."""
    fallbacks: list[Episode] = []
    outages: dict[str, list[Episode]] = {}
    stale: tuple[TimedRecord, str] | None = None
    offline: dict[str, tuple[TimedRecord, str]] = {}

    def episode(start: TimedRecord, end: TimedRecord, ended: bool, detail: str) -> Episode:
        return Episode(start[0], start[0] + elapsed_s(start, end), ended, detail)

    for item in records:
        record = item[1]
        event = record["event"]
        if event == "meter_stale" and stale is None:
            age = _num(record.get("meter_age_s"))
            stale = (
                item,
                "no telegram yet" if age is None else f"no valid telegram for {age:.0f} s",
            )
        elif event == "meter_recovered" and stale is not None:
            fallbacks.append(episode(stale[0], item, True, stale[1]))
            stale = None
        elif event == "charger_offline":
            name = record.get("charger")
            if isinstance(name, str) and name not in offline:
                error = record.get("error")
                offline[name] = (item, error if isinstance(error, str) else "")
        elif event == "charger_online":
            name = record.get("charger")
            if isinstance(name, str) and name in offline:
                start, error = offline.pop(name)
                outages.setdefault(name, []).append(episode(start, item, True, error))
        elif event in ("startup", "shutdown"):
            if stale is not None:
                fallbacks.append(episode(stale[0], item, True, stale[1]))
                stale = None
            for name, (start, error) in offline.items():
                outages.setdefault(name, []).append(episode(start, item, True, error))
            offline.clear()
    if stale is not None:
        fallbacks.append(episode(stale[0], records[-1], False, stale[1]))
    for name, (start, error) in offline.items():
        outages.setdefault(name, []).append(episode(start, records[-1], False, error))
    return Episodes(tuple(fallbacks), {k: tuple(v) for k, v in outages.items()})


def _in_window(episodes: Sequence[Episode], window: tuple[float, float]) -> list[Episode]:
    return [e for e in episodes if e.start_s <= window[1] and e.end_s >= window[0]]


# ---- decision intervals -------------------------------------------------------------------------


def decision_intervals(records: Sequence[TimedRecord]) -> Iterator[tuple[float, float, Record]]:
    """``(from, to, decision)``: each decision until the next one, a restart or a shutdown."""
    current: TimedRecord | None = None
    for item in records:
        event = item[1]["event"]
        if event == "decision" or event == "startup" or event == "shutdown":
            if current is not None:
                yield current[0], current[0] + elapsed_s(current, item), current[1]
            current = item if event == "decision" else None
    if current is not None:
        yield current[0], current[0] + elapsed_s(current, records[-1]), current[1]


# ---- the summary --------------------------------------------------------------------------------


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

        def period(e: Episode) -> dict[str, Any]:
            return {
                "from": iso(e.start_s, zone),
                "to": iso(e.end_s, zone),
                "seconds": round(e.length_s, 3),
                "ended": e.ended,
                "detail": e.detail,
            }

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
            "chargers": {
                c.name: {
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
                    "outage_periods": [period(e) for e in c.outages],
                    "write_failures": c.write_failures,
                    "setpoint_ignored": c.setpoint_ignored,
                    "alarms": c.alarms,
                }
                for c in self.chargers
            },
            "fallbacks": len(self.fallbacks),
            "fallback_s": round(self.fallback_s, 3),
            "fallback_periods": [period(e) for e in self.fallbacks],
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


def charger_names(records: Sequence[TimedRecord]) -> list[str]:
    """Every charger name the log mentions, in the order first seen."""
    names: dict[str, None] = {}
    for _, record in records:
        event = record["event"]
        if event == "decision":
            for charger in _chargers(record):
                names.setdefault(str(charger["name"]), None)
        elif event == "startup":
            for charger in _list(record.get("chargers")):
                name = charger.get("name") if isinstance(charger, dict) else charger
                if isinstance(name, str):
                    names.setdefault(name, None)
        elif isinstance(name := record.get("charger"), str):
            names.setdefault(name, None)
    return list(names)


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

    ``records`` must be sorted by time (as :func:`loadbalancer.review_read.read_logs` gives
    them) and may start before ``since_s``: the decision in force at ``since_s`` counts from
    there. ``charger`` keeps one charger (the meter figures stay site-wide).
    """
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
    site = Site.from_startup(_last_startup(records, window[1]))
    walk = _Walk(window, charger, site.rating_a)
    walk.run(records)
    names = charger_names(records) if charger is not None else list(walk.tallies)
    if charger is not None and charger not in names:
        known = ", ".join(names) or "none"
        raise UsageError(f"--charger {charger}: no such charger in the log (chargers: {known})")
    tallies = walk.tallies if charger is None else {charger: walk.tally(charger)}
    rating_a = site.rating_a
    decisions = walk.decisions
    overload_s, above_rating_s = walk.overload_s, walk.above_rating_s
    overload_by_phase = walk.overload_by_phase

    events: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    alarms: list[Alarm] = []
    restarts = 0
    lo = bisect.bisect_left(records, window[0], key=_time)
    hi = bisect.bisect_right(records, window[1], key=_time)
    for t_s, record in records[lo:hi]:
        event = record["event"]
        events[event] += 1
        if event == "decision":
            continue
        name = record.get("charger")
        tally = tallies.get(name) if isinstance(name, str) else None
        if event == "meter_rejected":
            reason = record.get("reason")
            # one record per reason per minute carries its count (older logs: one each)
            count = record.get("count", 1)
            rejected[reason_kind(reason) if isinstance(reason, str) else "unknown"] += (
                count if type(count) is int and 0 < count < 1 << 53 else 1
            )
        elif event == "startup":
            restarts += 1
        elif event == "alarm" and (charger is None or tally is not None):
            problem = record.get("problem")
            alarms.append(Alarm(t_s, name, problem if isinstance(problem, str) else "alarm"))
            if tally is not None:
                tally.alarms += 1
        elif tally is not None and event == "write_failed":
            tally.write_failures += 1
        elif tally is not None and event == "setpoint_ignored":
            tally.setpoint_ignored += 1

    episodes = find_episodes(records)
    chargers = tuple(
        ChargerSummary(
            name=name,
            time_at_limit_s=dict(
                sorted(tally.time_at_limit_s.items(), key=lambda kv: -float(kv[0]))
            ),
            cuts=tally.reasons[Reason.OVERLOAD_CUT],
            share_cuts=tally.reasons[Reason.SHARE_CUT],
            pauses=tally.reasons[Reason.MIN_CURRENT_PAUSE],
            resumes=tally.reasons[Reason.RESUME],
            reasons=dict(tally.reasons.most_common()),
            offered_kwh=tally.offered_as * KWH_PER_AS,
            drawn_kwh=tally.drawn_as * KWH_PER_AS,
            unmeasured_s=tally.unmeasured_s,
            outages=tuple(_clipped(_in_window(episodes.outages.get(name, ()), window), window)),
            write_failures=tally.write_failures,
            setpoint_ignored=tally.setpoint_ignored,
            alarms=tally.alarms,
        )
        for name, tally in tallies.items()
    )
    return Summary(
        from_s=window[0],
        to_s=window[1],
        zone=log_timezone(records),
        site=site,
        records=hi - lo,
        decisions=decisions,
        restarts=restarts,
        chargers=chargers,
        fallbacks=tuple(_clipped(_in_window(episodes.fallbacks, window), window)),
        overload_s=overload_s,
        overload_by_phase_s=dict(sorted(overload_by_phase.items())),
        above_rating_s=above_rating_s if rating_a is not None else None,
        alarms=tuple(alarms),
        rejected_telegrams=sum(rejected.values()),
        rejected_by_reason=dict(rejected.most_common()),
        events=dict(sorted(events.items())),
    )


def _time(record: TimedRecord) -> float:
    return record[0]


def _clipped(episodes: Sequence[Episode], window: tuple[float, float]) -> list[Episode]:
    return [
        Episode(max(e.start_s, window[0]), min(e.end_s, window[1]), e.ended, e.detail)
        for e in episodes
    ]


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
        lines.append(f"charger {c.name}")
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
    return "\n".join(lines)


def _periods(episodes: Sequence[Episode], zone: tzinfo, most: int = 5) -> str:
    shown = [
        f"{clock(e.start_s, zone)}-{clock(e.end_s, zone) if e.ended else 'end of log'}"
        for e in episodes[:most]
    ]
    more = f" and {len(episodes) - most} more" if len(episodes) > most else ""
    return ", ".join(shown) + more


# ---- explain ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """The decision in force at a time, told in words; ``facts`` are the numbers behind it."""

    at_s: float
    lines: tuple[str, ...]
    facts: Mapping[str, Any]

    def text(self) -> str:
        return "\n".join(self.lines)


def explain(
    records: Sequence[TimedRecord], at_s: float, *, charger: str | None = None
) -> Explanation:
    """Why the limits were what they were at ``at_s``."""
    if not records:
        raise LoadBalancerError("the log has no records")
    zone = log_timezone(records)
    names = charger_names(records)
    if charger is not None and charger not in names:
        known = ", ".join(names) or "none"
        raise UsageError(f"--charger {charger}: no such charger in the log (chargers: {known})")
    if at_s < records[0][0]:
        raise LoadBalancerError(
            f"--explain {iso(at_s, zone)}: before the log starts ({iso(records[0][0], zone)})"
        )
    index = bisect.bisect_right(records, at_s, key=_time) - 1
    found: TimedRecord | None = None
    boundary: TimedRecord | None = None
    for t_s, record in reversed(records[: index + 1]):
        if record["event"] == "decision":
            found = (t_s, record)
            break
        if record["event"] in ("startup", "shutdown"):
            boundary = (t_s, record)
            break
    head = f"At {clock(at_s, zone, date=True)}"
    if found is None:
        if boundary is not None and boundary[1]["event"] == "shutdown":
            later = _next(records, index + 1, "startup")
            back = f"; it started again at {clock(later[0], zone)}" if later else ""
            line = (
                f"{head} the service was not running: it shut down at "
                f"{clock(boundary[0], zone, date=True)} and had set every charger to its safe "
                f"current{back}."
            )
        else:
            since = f" (started at {clock(boundary[0], zone)})" if boundary is not None else ""
            line = f"{head} no decision had been made yet{since}."
        return Explanation(at_s, (line,), {"decision": None})

    t_s, record = found
    site = Site.from_startup(_last_startup(records, t_s))
    episodes = find_episodes(records)
    trigger = record.get("trigger")
    age = _num(record.get("meter_age_s"))
    basis = f"{trigger} " if isinstance(trigger, str) else ""
    aged = f", meter reading {age:.1f} s old" if age is not None else ""
    lines = [f"{head}: the {basis}decision of {clock(t_s, zone)} was in force{aged}."]
    for e in episodes.fallbacks:
        if e.start_s <= at_s <= e.end_s:
            until = f"until {clock(e.end_s, zone)}" if e.ended else "to the end of the log"
            lines.append(
                f"Meter fallback from {clock(e.start_s, zone)} ({e.detail}) {until}: "
                "every charger was set to its safe current"
                + (f" ({site.safe_current_a:g} A)" if site.safe_current_a is not None else "")
                + "; normal control resumes with the next valid telegram."
            )
    per_phase = _per_phase(record)
    if per_phase:
        lines.append(f"Per phase (meter / house / allowed for the chargers): {per_phase}.")
    facts: dict[str, Any] = {"decision": iso(t_s, zone), "chargers": {}}
    entries = [c for c in _chargers(record) if charger is None or c["name"] == charger]
    if not entries:
        lines.append(
            "This decision carries no charger" + (f" named {charger}." if charger else ".")
        )
    for entry in entries:
        name = str(entry["name"])
        outage = next(
            (e for e in episodes.outages.get(name, ()) if e.start_s <= at_s <= e.end_s), None
        )
        text, numbers = _explain_charger(
            records, index, t_s, record, entry, site, outage, zone, _chargers(record)
        )
        lines += text
        facts["chargers"][name] = numbers
    return Explanation(at_s, tuple(lines), facts)


def _per_phase(record: Record) -> str:
    meter, house, allowed = (_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
    return "; ".join(
        f"{phase} {_a(_num(meter.get(phase)))} / {_a(_num(house.get(phase)))} / "
        f"{_a(_num(allowed.get(phase)))}"
        for phase in meter
    )


def _next(records: Sequence[TimedRecord], start: int, event: str) -> TimedRecord | None:
    for item in records[start:]:
        if item[1]["event"] == event:
            return item
    return None


def _a(value: float | None, digits: int = 1) -> str:
    return "unknown" if value is None else f"{value:.{digits}f} A"


def _sp(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} A"


def _explain_charger(
    records: Sequence[TimedRecord],
    index: int,
    t_s: float,
    record: Record,
    entry: dict[str, Any],
    site: Site,
    outage: Episode | None,
    zone: tzinfo,
    everyone: list[dict[str, Any]],
) -> tuple[list[str], dict[str, Any]]:
    name = str(entry["name"])
    setpoint = _num(entry.get("setpoint_a"))
    previous = _num(entry.get("previous_a"))
    reason = str(entry.get("reason", "unknown"))
    meaning = REASON_MEANINGS.get(reason, "a reason this version does not know")
    phases = [p for p in _list(entry.get("phases")) if isinstance(p, str)]
    was = (
        f" (was {_sp(previous)})"
        if previous is not None and setpoint is not None and previous != setpoint
        else ""
    )
    state = "paused (0 A)" if setpoint == 0 else f"at {_sp(setpoint)}"
    lines = [f"{name} was {state}{was}. Rule: {reason}: {meaning}."]
    numbers: dict[str, Any] = {"setpoint_a": setpoint, "previous_a": previous, "reason": reason}
    if outage is not None:
        back = f"came back at {clock(outage.end_s, zone)}" if outage.ended else "had not come back"
        lines.append(
            f"  {name} was offline from {clock(outage.start_s, zone)}"
            + (f" ({outage.detail})" if outage.detail else "")
            + f" and {back}; its failsafe current stays reserved on "
            + ("/".join(phases) or "its phases")
            + " so the others cannot use it."
        )
    meter, house, allowed = (_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
    phase = _limiting_phase(entry, everyone, allowed, reason)
    if phase is not None:
        meter_a, house_a = _num(meter.get(phase)), _num(house.get(phase))
        allowed_a = _num(allowed.get(phase))
        cars_a = None if meter_a is None or house_a is None else meter_a - house_a
        sharing = [
            f"{c['name']} {_a(_measured_on(c, phase))}"
            for c in everyone
            if phase in _list(c.get("phases")) and _measured_on(c, phase) is not None
        ]
        over = reason == Reason.OVERLOAD_CUT
        lines.append(
            f"  {'Overloaded' if over else 'Limiting'} phase {phase}: the meter showed "
            f"{_a(meter_a)}, of which the house {_a(house_a)} and the car(s) {_a(cars_a)}"
            + (f" ({', '.join(sharing)})" if sharing else "")
            + "."
        )
        lines.append("  " + _allowed_line(phase, allowed_a, house_a, site))
        if over and allowed_a is not None:
            offered = _offered_on(everyone, phase)
            lines.append(
                f"  The set-points offered on {phase} ({offered:g} A) no longer fitted the "
                f"{allowed_a:.1f} A allowed: cut at once to {_sp(setpoint)}."
            )
        numbers.update(
            phase=phase, meter_a=meter_a, house_a=house_a, cars_a=cars_a, allowed_a=allowed_a
        )
    if reason == Reason.MIN_CURRENT_HOLD:
        used = _dict(record.get("budget_used_s"))
        spent = ", ".join(f"{p} {v:.0f} s" for p in phases if (v := _num(used.get(p))) is not None)
        lines.append(
            "  Held at its minimum on the fuse's overload budget"
            + (f" (used so far: {spent})" if spent else "")
            + "; when the budget runs out it is paused."
        )
    elif reason == Reason.SHARE_CUT:
        others = [
            f"{c['name']} {_sp(_num(c.get('setpoint_a')))}" for c in everyone if c is not entry
        ]
        if others:
            lines.append(f"  Shared with: {', '.join(others)} (higher priority is served first).")
    elif reason == Reason.METER_STALE_FALLBACK:
        lines.append("  No meter figures: the limit is the safe current, not a share of the fuse.")
    lines.append("  " + _next_rise(records, index, t_s, name, setpoint, reason, site, zone))
    return lines, numbers


def _measured_on(entry: dict[str, Any], phase: str) -> float | None:
    phases = _list(entry.get("phases"))
    measured = _list(entry.get("measured_a"))
    if phase in phases and phases.index(phase) < len(measured):
        return _num(measured[phases.index(phase)])
    return None


def _offered_on(everyone: list[dict[str, Any]], phase: str) -> float:
    return sum(
        _num(c.get("previous_a")) or 0.0
        for c in everyone
        if phase in _list(c.get("phases"))
        and c.get("reason")
        not in (Reason.CHARGER_OFFLINE_RESERVED, Reason.CHARGER_UNKNOWN_RESERVED)
    )


def _limiting_phase(
    entry: dict[str, Any], everyone: list[dict[str, Any]], allowed: dict[str, Any], reason: str
) -> str | None:
    """For a cut the phase most over; otherwise the charger's phase with the least room left
    next to the other chargers' set-points."""
    candidates = [
        (p, a)
        for p in _list(entry.get("phases"))
        if isinstance(p, str) and (a := _num(allowed.get(p))) is not None
    ]
    if not candidates:
        return None
    if reason == Reason.OVERLOAD_CUT:
        return max(candidates, key=lambda pa: _offered_on(everyone, pa[0]) - pa[1])[0]

    def room_a(phase: str, allowed_a: float) -> float:
        """What the phase leaves for this charger next to the others' set-points."""
        others = (c for c in everyone if c is not entry and phase in _list(c.get("phases")))
        return allowed_a - sum(_num(c.get("setpoint_a")) or 0.0 for c in others)

    return min(candidates, key=lambda pa: room_a(*pa))[0]


def _allowed_line(phase: str, allowed_a: float | None, house_a: float | None, site: Site) -> str:
    if allowed_a is None:
        return f"Allowed on {phase}: unknown (the record has no allowed_a there)."
    if house_a is None:
        return f"Allowed for the chargers on {phase}: {allowed_a:.1f} A."
    target_a = allowed_a + house_a
    if site.rating_a is not None and site.margin_a is not None:
        reserved_a = site.rating_a - site.margin_a - target_a
        reserved = (
            f" − {reserved_a:.1f} A reserved for offline chargers" if reserved_a > 0.05 else ""
        )
        return (
            f"Allowed for the chargers on {phase}: {site.rating_a:g} A rating − "
            f"{site.margin_a:g} A margin − {house_a:.1f} A house{reserved} = {allowed_a:.1f} A."
        )
    rating = f" (fuse rating {site.rating_a:g} A)" if site.rating_a is not None else ""
    return (
        f"Allowed for the chargers on {phase}: {target_a:.1f} A (rating − margin − any "
        f"reserve{rating}) − {house_a:.1f} A house = {allowed_a:.1f} A."
    )


def _next_rise(
    records: Sequence[TimedRecord],
    index: int,
    t_s: float,
    name: str,
    setpoint: float | None,
    reason: str,
    site: Site,
    zone: tzinfo,
) -> str:
    """When the limit may rise again, and when (per the log) it did."""
    if reason == Reason.AT_MAX:
        return "It was at its maximum: it could not rise."
    if reason == Reason.METER_STALE_FALLBACK:
        rule = "Normal control (and any raise) resumes with the next valid telegram."
    elif reason == Reason.CHARGER_OFFLINE_RESERVED:
        rule = "Its limit is set again once it answers (charger_online)."
    elif reason == Reason.CHARGER_UNKNOWN_RESERVED:
        rule = "Normal control resumes once its reads are plausible and it applies its limit."
    elif setpoint == 0:
        delay = (
            f"{site.resume_delay_s:g} s, from the startup record"
            if site.resume_delay_s is not None
            else "not in this log; see control.resume_delay_s in the site file"
        )
        rule = (
            f"A paused charger resumes once its minimum has fitted for resume_delay_s ({delay}), "
            "doubled for each pause in the last hour, to what fitted meanwhile."
        )
    else:
        delay = (
            f"{site.ramp_up_delay_s:g} s, from the startup record"
            if site.ramp_up_delay_s is not None
            else "not in this log; see control.ramp_up_delay_s in the site file"
        )
        rule = f"The limit may rise only after headroom has lasted ramp_up_delay_s ({delay})."
    headroom_s: float | None = None
    for later_s, later in records[index + 1 :]:
        event = later["event"]
        if event in ("startup", "shutdown"):
            return f"{rule} It did not rise before the service stopped at {clock(later_s, zone)}."
        if event != "decision":
            continue
        entry = next((c for c in _chargers(later) if c["name"] == name), None)
        if entry is None:
            continue
        value = _num(entry.get("setpoint_a"))
        rose = value is not None and setpoint is not None and value > setpoint
        if entry.get("reason") == Reason.HOLD_RAMP_DELAY:
            headroom_s = later_s if headroom_s is None else headroom_s
        elif not rose:
            headroom_s = None  # the headroom ended before it had lasted long enough
        if rose:
            since = (
                f", after headroom from {clock(headroom_s, zone)}" if headroom_s is not None else ""
            )
            return (
                f"{rule} It rose next at {clock(later_s, zone)} to {_sp(value)} "
                f"({entry.get('reason')}{since}), {duration(later_s - t_s)} after this decision."
            )
    return f"{rule} It did not rise again before the end of the log."


#: points drawn at most per series: a 1200 px wide figure shows no more
MAX_PLOT_POINTS = 3000

# ---- plot data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlotData:
    """Series for ``--plot``: times in POSIX seconds, currents in amperes (NaN = unknown)."""

    zone: tzinfo
    site: Site
    times_s: tuple[float, ...]
    meter_a: Mapping[str, tuple[float, ...]]
    house_a: Mapping[str, tuple[float, ...]]
    #: what the phase may carry in total: house + what the chargers are allowed
    limit_a: Mapping[str, tuple[float, ...]]
    setpoint_a: Mapping[str, tuple[float, ...]]
    measured_a: Mapping[str, tuple[float, ...]]
    fallbacks: tuple[Episode, ...]
    outages: Mapping[str, tuple[Episode, ...]]
    cuts: Mapping[str, tuple[float, ...]]
    pauses: Mapping[str, tuple[float, ...]]
    end_s: float
    #: 0, or the length of the time buckets a long log was reduced to: per bucket the highest
    #: currents and the lowest limits and set-points, so that no peak and no cut is lost
    bucket_s: float = 0.0


def plot_data(
    records: Sequence[TimedRecord],
    *,
    since_s: float | None = None,
    until_s: float | None = None,
    charger: str | None = None,
) -> PlotData:
    """The series ``--plot`` draws, one point per decision in the window."""
    summary_window = summarize(records, since_s=since_s, until_s=until_s, charger=charger)
    window = (summary_window.from_s, summary_window.to_s)
    names = [c.name for c in summary_window.chargers]
    times: list[float] = []
    meter: dict[str, list[float]] = {}
    house: dict[str, list[float]] = {}
    limit: dict[str, list[float]] = {}
    setpoints: dict[str, list[float]] = {n: [] for n in names}
    measured: dict[str, list[float]] = {n: [] for n in names}
    cuts: dict[str, list[float]] = {n: [] for n in names}
    pauses: dict[str, list[float]] = {n: [] for n in names}
    nan = math.nan
    for start_s, end_s, record in decision_intervals(records):
        if end_s < window[0] or start_s > window[1]:
            continue
        times.append(max(start_s, window[0]))
        m, h, a = (_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
        for phase in m:
            if phase not in meter:  # a phase first seen now: unknown before
                for by_phase in (meter, house, limit):
                    by_phase[phase] = [nan] * (len(times) - 1)
        for phase, series in meter.items():
            meter_a, house_a, allowed_a = (_num(x.get(phase)) for x in (m, h, a))
            series.append(nan if meter_a is None else meter_a)
            house[phase].append(nan if house_a is None else house_a)
            total = None if house_a is None or allowed_a is None else house_a + allowed_a
            limit[phase].append(nan if total is None else total)
        entries = {str(c["name"]): c for c in _chargers(record)}
        for name in names:
            entry = entries.get(name, {})
            setpoint = _num(entry.get("setpoint_a"))
            values = [x for x in map(_num, _list(entry.get("measured_a"))) if x is not None]
            setpoints[name].append(nan if setpoint is None else setpoint)
            measured[name].append(max(values) if values else nan)
            if start_s >= window[0]:
                if entry.get("reason") == Reason.OVERLOAD_CUT:
                    cuts[name].append(start_s)
                elif entry.get("reason") == Reason.MIN_CURRENT_PAUSE:
                    pauses[name].append(start_s)
    bucket_s = 0.0
    if len(times) > MAX_PLOT_POINTS:
        bucket_s = (window[1] - window[0]) / MAX_PLOT_POINTS
        starts = _bucket_starts(times, window[0], bucket_s)

        def most(series: dict[str, list[float]]) -> dict[str, list[float]]:
            return {k: _reduced(v, starts, max) for k, v in series.items()}

        def least(series: dict[str, list[float]]) -> dict[str, list[float]]:
            return {k: _reduced(v, starts, min) for k, v in series.items()}

        meter, house, limit = most(meter), most(house), least(limit)
        setpoints, measured = least(setpoints), most(measured)
        times = [times[i] for i in starts]
    return PlotData(
        zone=summary_window.zone,
        site=summary_window.site,
        times_s=tuple(times),
        meter_a={p: tuple(v) for p, v in sorted(meter.items())},
        house_a={p: tuple(v) for p, v in sorted(house.items())},
        limit_a={p: tuple(v) for p, v in sorted(limit.items())},
        setpoint_a={n: tuple(v) for n, v in setpoints.items()},
        measured_a={n: tuple(v) for n, v in measured.items()},
        fallbacks=summary_window.fallbacks,
        outages={c.name: c.outages for c in summary_window.chargers},
        cuts={n: tuple(v) for n, v in cuts.items()},
        pauses={n: tuple(v) for n, v in pauses.items()},
        end_s=window[1],
        bucket_s=bucket_s,
    )


def _bucket_starts(times: Sequence[float], start_s: float, bucket_s: float) -> list[int]:
    """Index of the first point of each time bucket that has points."""
    starts: list[int] = []
    last = -1
    for index, t_s in enumerate(times):
        bucket = int((t_s - start_s) / bucket_s)
        if bucket != last:
            starts.append(index)
            last = bucket
    return starts


def _reduced(
    values: Sequence[float], starts: Sequence[int], pick: Callable[[list[float]], float]
) -> list[float]:
    """Per bucket the ``pick`` (max or min) of its known values; NaN where none is known."""
    out = []
    ends = [*starts[1:], len(values)]
    for begin, end in zip(starts, ends, strict=True):
        known = [v for v in values[begin:end] if v == v]  # NaN != NaN
        out.append(pick(known) if known else math.nan)
    return out
