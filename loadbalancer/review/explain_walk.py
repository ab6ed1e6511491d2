"""The one walk over the records ``--explain`` makes (:mod:`loadbalancer.review.explain` tells
what it found): the charger names, the episodes, the decision in force at the time asked (read
whole where it came compact) and, in the records after it, each charger's next rise."""

from __future__ import annotations

from loadbalancer.control.reasons import Reason
from loadbalancer.review.facts import CompactDecision, charger_entries, num
from loadbalancer.review.lines import Record, TimedRecord
from loadbalancer.review.timeline import EpisodeFinder, Names


class Rise:
    """When a charger's limit rose next after the decision in force, as the later records come
    (mutable): ``found`` is ``(when, set-point, reason, headroom since)`` once it rose,
    ``(when, None, "", None)`` when the service stopped first, None until then."""

    def __init__(self, setpoint: float | None) -> None:
        self.setpoint = setpoint
        self.headroom_s: float | None = None
        self.found: tuple[float, float | None, str, float | None] | None = None

    def add(self, later_s: float, value: float | None, reason: object) -> bool:
        """One later decision's set-point and reason for the charger; True when it rose."""
        rose = value is not None and self.setpoint is not None and value > self.setpoint
        if reason == Reason.HOLD_RAMP_DELAY:
            self.headroom_s = later_s if self.headroom_s is None else self.headroom_s
        elif not rose:
            self.headroom_s = None  # the headroom ended before it had lasted long enough
        if rose:
            self.found = (later_s, value, str(reason), self.headroom_s)
        return rose


class Look:
    """The one walk over the records for ``--explain`` (mutable): the charger names,
    the episodes, the last decision (or start or stop) at or before the time asked, the first
    ``tariff_interval``'s length, and after the time asked each charger's next rise."""

    def __init__(self, at_s: float, charger: str | None) -> None:
        self.at_s, self.charger = at_s, charger
        self.names = Names()
        self.episodes = EpisodeFinder()
        self.marker: TimedRecord | None = None
        self.interval_s: int | None = None
        #: per entry of the decision in force (by ``id``); None while the records are at or
        #: before the time asked
        self.rises: dict[int, Rise] | None = None
        self.waiting: list[tuple[str, Rise]] = []

    def add(self, item: TimedRecord) -> None:
        self.names.add(item)
        self.episodes.add(item)
        event = item[1]["event"]
        if item[0] <= self.at_s:
            if event in ("decision", "startup", "shutdown"):
                self.marker = item
        elif self.rises is None:
            self.rises = self._watch()
        if event == "tariff_interval" and self.interval_s is None:
            length = num(item[1].get("interval_s"))
            if length is not None and length > 0:
                self.interval_s = int(length)
        if self.waiting and item[0] > self.at_s:
            self._later(item)

    def _watch(self) -> dict[int, Rise]:
        """A watch for each charger entry of the decision in force that is explained."""
        rises: dict[int, Rise] = {}
        if self.marker is not None and type(self.marker[1]) is CompactDecision:
            self.marker = (self.marker[0], self.marker[1].whole())  # it is told whole
        if self.marker is not None and self.marker[1]["event"] == "decision":
            for entry in charger_entries(self.marker[1]):
                name = str(entry["name"])
                if self.charger is None or name == self.charger:
                    rises[id(entry)] = rise = Rise(num(entry.get("setpoint_a")))
                    self.waiting.append((name, rise))
        return rises

    def _later(self, item: TimedRecord) -> None:
        later_s, record = item
        event = record["event"]
        if event in ("startup", "shutdown"):
            for _, rise in self.waiting:
                rise.found = (later_s, None, "", None)
            self.waiting = []
        elif event == "decision":
            entries = setpoints(record)
            for name, rise in self.waiting:
                entry = entries.get(name)
                if entry is None or not rise.add(later_s, *entry):
                    continue
                if type(record) is CompactDecision and rise.found is not None:
                    # the reason as written (compact, one that is not text is unknown)
                    written = setpoints(record.whole()).get(name, entry)[1]
                    rise.found = (rise.found[0], rise.found[1], str(written), rise.found[3])
            self.waiting = [(name, rise) for name, rise in self.waiting if rise.found is None]

    def finish(self) -> dict[int, Rise]:
        return self._watch() if self.rises is None else self.rises


def setpoints(record: Record) -> dict[str, tuple[float | None, object]]:
    """Per charger name (the first entry of a name) its set-point and reason, of a decision
    as written or compact."""
    found: dict[str, tuple[float | None, object]] = {}
    if type(record) is CompactDecision:
        for name, reason, setpoint, _, _ in record.facts[0]:
            found.setdefault(name, (setpoint, reason))
    else:
        for entry in charger_entries(record):
            if type(name := entry["name"]) is str:
                found.setdefault(name, (num(entry.get("setpoint_a")), entry.get("reason")))
    return found
