"""The log as a timeline: the site it ran, decision intervals, meter fallbacks and outages.

A ``decision`` record is in force from its ``ts`` until the next decision, or until a
``startup`` or ``shutdown`` record (the service was not deciding in between). A meter fallback
runs from ``meter_stale`` to ``meter_recovered``, a charger outage from ``charger_offline`` to
``charger_online`` (or to a restart, a shutdown, or the end of the log).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from loadbalancer.errors import UsageError
from loadbalancer.review.facts import (
    as_dict,
    as_list,
    charger_entries,
    num,
)
from loadbalancer.review.lines import (
    Record,
    TimedRecord,
)

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


_FUSE_NAME = re.compile(r"(?P<phases>[13])x(?P<rating>\d+(?:\.\d+)?)A")


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
        rating_a = num(record.get("fuse_rating_a"))
        if rating_a is None and name is not None and (match := _FUSE_NAME.search(name)):
            rating_a = float(match["rating"])
        control = as_dict(record.get("control"))
        return cls(
            fuse=name,
            rating_a=rating_a,
            margin_a=num(record.get("fuse_margin_a")),
            ramp_up_delay_s=num(control.get("ramp_up_delay_s")),
            resume_delay_s=num(control.get("resume_delay_s")),
            safe_current_a=num(control.get("safe_current_a")),
            stale_after_s=num(control.get("stale_after_s")),
        )


def last_startup(records: Sequence[TimedRecord], before_s: float) -> Record | None:
    found: Record | None = None
    for t_s, record in records:
        if t_s > before_s:
            break
        if record["event"] == "startup":
            found = record
    return found


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


class EpisodeFinder:
    """Meter fallbacks and per charger outages as the records come; a restart or a shutdown
    ends every episode, the end of the log ends those still open (not ``ended``)."""

    def __init__(self) -> None:
        self.fallbacks: list[Episode] = []
        self.outages: dict[str, list[Episode]] = {}
        self.stale: tuple[TimedRecord, str] | None = None
        self.offline: dict[str, tuple[TimedRecord, str]] = {}
        self.last: TimedRecord | None = None

    def add(self, item: TimedRecord) -> None:
        self.last = item
        record = item[1]
        event = record["event"]
        if event == "decision":
            return
        if event == "meter_stale" and self.stale is None:
            age = num(record.get("meter_age_s"))
            self.stale = (
                item,
                "no telegram yet" if age is None else f"no valid telegram for {age:.0f} s",
            )
        elif event == "meter_recovered" and self.stale is not None:
            self.fallbacks.append(_episode(self.stale[0], item, True, self.stale[1]))
            self.stale = None
        elif event == "charger_offline":
            name = record.get("charger")
            if isinstance(name, str) and name not in self.offline:
                error = record.get("error")
                self.offline[name] = (item, error if isinstance(error, str) else "")
        elif event == "charger_online":
            name = record.get("charger")
            if isinstance(name, str) and name in self.offline:
                start, error = self.offline.pop(name)
                self.outages.setdefault(name, []).append(_episode(start, item, True, error))
        elif event in ("startup", "shutdown"):
            self._close(item, ended=True)

    def _close(self, end: TimedRecord, *, ended: bool) -> None:
        if self.stale is not None:
            self.fallbacks.append(_episode(self.stale[0], end, ended, self.stale[1]))
            self.stale = None
        for name, (start, error) in self.offline.items():
            self.outages.setdefault(name, []).append(_episode(start, end, ended, error))
        self.offline.clear()

    def finish(self, last: TimedRecord | None = None) -> Episodes:
        """The episodes; those still open end with the log's ``last`` record (default: the
        last one added)."""
        last = self.last if last is None else last
        if last is not None:
            self._close(last, ended=False)
        return Episodes(tuple(self.fallbacks), {k: tuple(v) for k, v in self.outages.items()})


def _episode(start: TimedRecord, end: TimedRecord, ended: bool, detail: str) -> Episode:
    return Episode(start[0], start[0] + elapsed_s(start, end), ended, detail)


def find_episodes(records: Iterable[TimedRecord]) -> Episodes:
    """Meter fallbacks and per charger outages; a restart or a shutdown ends every episode."""
    finder = EpisodeFinder()
    for item in records:
        finder.add(item)
    return finder.finish()


def in_window(episodes: Sequence[Episode], window: tuple[float, float]) -> list[Episode]:
    return [e for e in episodes if e.start_s <= window[1] and e.end_s >= window[0]]


def clipped(episodes: Sequence[Episode], window: tuple[float, float]) -> list[Episode]:
    return [
        Episode(max(e.start_s, window[0]), min(e.end_s, window[1]), e.ended, e.detail)
        for e in episodes
    ]


#: a decision in force: ``(from, to, decision)``
Interval = tuple[float, float, Record]


class Intervals:
    """Decision intervals as the records come: each decision is in force until the next one,
    a restart or a shutdown (or the log's last record)."""

    def __init__(self) -> None:
        self.current: TimedRecord | None = None
        self.last: TimedRecord | None = None

    def add(self, item: TimedRecord) -> Interval | None:
        """The interval ``item`` closes, if it closes one."""
        self.last = item
        event = item[1]["event"]
        if event == "decision" or event == "startup" or event == "shutdown":
            current = self.current
            self.current = item if event == "decision" else None
            if current is not None:
                return current[0], current[0] + elapsed_s(current, item), current[1]
        return None

    def finish(self) -> Interval | None:
        """The interval of the decision in force at the end of the log."""
        current, last = self.current, self.last
        if current is None or last is None:
            return None
        return current[0], current[0] + elapsed_s(current, last), current[1]


def decision_intervals(records: Iterable[TimedRecord]) -> Iterator[Interval]:
    """``(from, to, decision)``: each decision until the next one, a restart or a shutdown."""
    intervals = Intervals()
    for item in records:
        interval = intervals.add(item)
        if interval is not None:
            yield interval
    interval = intervals.finish()
    if interval is not None:
        yield interval


class Names:
    """Every charger name the records mention, in the order first seen."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        #: the ``chargers`` last seen (compact decisions with the same names share theirs)
        self.seen: object = None

    def add(self, item: TimedRecord) -> None:
        record = item[1]
        event = record["event"]
        names = self.names
        if event == "decision":
            chargers = record.get("chargers")
            if chargers is self.seen:
                return
            self.seen = chargers
            for charger in charger_entries(record):
                names.setdefault(str(charger["name"]), None)
        elif event == "startup":
            for charger in as_list(record.get("chargers")):
                name = charger.get("name") if isinstance(charger, dict) else charger
                if isinstance(name, str):
                    names.setdefault(name, None)
        elif isinstance(name := record.get("charger"), str):
            names.setdefault(name, None)


def charger_names(records: Iterable[TimedRecord]) -> list[str]:
    """Every charger name the log mentions, in the order first seen."""
    names = Names()
    for item in records:
        names.add(item)
    return list(names.names)


def record_time(record: TimedRecord) -> float:
    return record[0]


def known_charger(charger: str, names: Sequence[str]) -> None:
    """``--charger``: a UsageError unless the log names that charger."""
    if charger not in names:
        known = ", ".join(names) or "none"
        raise UsageError(f"--charger {charger}: no such charger in the log (chargers: {known})")
