"""What the summary counts of each decision, read defensively, and the compact reading.

A field that is missing or of the wrong type counts as unknown, never as an error, so records
with only the first version's fields and records of later versions with more fields are
reviewed as far as they allow. For the summary alone a decision can be read ``compact``: decoded
(msgspec, into a view of :class:`loadbalancer.records.DecisionRecord` with only the fields the
summary reads) to the few facts the summary counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from loadbalancer.record_views import view_of
from loadbalancer.records import ChargerEntry, DecisionRecord
from loadbalancer.review.lines import (
    Record,
    TimedRecord,
    parse_record,
    posix_s,
)

#: a phase counts as over its allowed current above this (records keep milliamps; 10 mA of
#: rounding noise is not an overload)
OVERLOAD_TOLERANCE_A = 0.01


#: a decision with a charger the capacity tariff held is read whole, even ``compact``
TARIFF_BOUND = b'"tariff_limit"'


#: a current beyond this is no current (inf, 1e308, 10**400 in a hostile log): unknown
MAX_CURRENT_A = 1e9


def finite(value: object) -> float | None:
    """A JSON number as a float, if it is one of a size a current can have; else None."""
    if type(value) is float or type(value) is int:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a float
            return None
        return number if -MAX_CURRENT_A < number < MAX_CURRENT_A else None
    return None


def num(value: object) -> float | None:
    """A JSON number as float; anything else (null, text, true, inf, 10**400) is unknown."""
    return finite(value)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def charger_entries(record: Record) -> list[dict[str, Any]]:
    """The per-charger entries of a decision that carry a name."""
    return [c for c in as_list(record.get("chargers")) if isinstance(c, dict) and "name" in c]


#: of one charger entry with a name: ``(name, reason, set-point, phases, drawn)``; the reason
#: ``unknown`` where it is not text, the set-point None where it is not a number, phases the
#: number of phases the set-point is offered on (1 where not given), drawn the sum of the measured
#: currents (None where none is measured)
ChargerFacts = tuple[str, str, float | None, int, float | None]


#: of one decision: ``(chargers, metered, over, peak)``; metered False where ``meter_a`` is not an
#: object (nothing site-wide to count), over the phases above their allowed current, peak the
#: highest meter current that is compared with the fuse rating (None where there is none)
DecisionFacts = tuple[tuple[ChargerFacts, ...], bool, tuple[str, ...], float | None]


class CompactDecision(dict[str, Any]):
    """A decision read with ``compact``: ``ts``, ``event``, ``mono_s`` (where written) and the
    names of its ``chargers``, and in :attr:`facts` what the summary counts of it; :attr:`raw`
    is its line, to read it whole where one is needed (``--explain``: the decision in force)."""

    __slots__ = ("facts", "raw")

    facts: DecisionFacts
    raw: bytes

    def whole(self) -> Record:
        """The decision as written (the line read whole)."""
        one = parse_record(self.raw)  # read by the fast decoder: a record to json too
        return dict(self) if one is None else one[1]


def charger_facts(
    name: str, reason: object, setpoint: object, phases: object, measured: object
) -> ChargerFacts:
    """The facts of one charger entry from its fields as decoded (anything, defensively)."""
    drawn: float | None = None
    if type(measured) is list and measured:
        try:
            drawn = float(sum(measured))
        except (TypeError, OverflowError):
            drawn = sum(x for x in map(finite, measured) if x is not None)
        if not -MAX_CURRENT_A < drawn < MAX_CURRENT_A:  # inf, NaN, 1e308: no current
            drawn = sum(x for x in map(finite, measured) if x is not None)
    return (
        name,
        reason if type(reason) is str else "unknown",
        setpoint
        if type(setpoint) is float and -MAX_CURRENT_A < setpoint < MAX_CURRENT_A
        else finite(setpoint),
        len(phases) if type(phases) is list and phases else 1,
        drawn,
    )


def site_facts(meter: object, house: object, allowed: object) -> tuple[bool, tuple[str, ...], Any]:
    """``(metered, over, peak)`` of a decision from its fields as decoded."""
    if type(meter) is not dict:
        return False, (), None
    if type(house) is not dict or type(allowed) is not dict:
        house = allowed = {}
    over: list[str] = []
    peak: Any = None
    for phase, meter_a in meter.items():
        try:
            if meter_a > house[phase] + allowed[phase] + OVERLOAD_TOLERANCE_A:
                over.append(phase)
        except KeyError:  # a phase without a house or allowed figure: still the rating
            if type(meter_a) not in (int, float):
                continue
        except (TypeError, OverflowError):  # unknown (stale meter: null), not a number, huge
            continue
        meter_a = finite(meter_a)
        if meter_a is not None and (peak is None or meter_a > peak):
            peak = meter_a
    return True, tuple(over), peak


def decision_facts(record: Record) -> DecisionFacts:
    """The facts of a decision record as written (or of a :class:`CompactDecision`)."""
    if type(record) is CompactDecision:
        return record.facts
    chargers = record.get("chargers")
    # a tuple of a list, not of a generator: that one is made for ten and cut down, and the
    # cut ones pile up in the interpreter's free list of one-element tuples (a month: 2000)
    entries = (
        tuple(
            [
                charger_facts(
                    name,
                    entry.get("reason"),
                    entry.get("setpoint_a"),
                    entry.get("phases"),
                    entry.get("measured_a"),
                )
                for entry in chargers
                if type(entry) is dict and type(name := entry.get("name")) is str
            ]
        )
        if type(chargers) is list
        else ()
    )
    return (
        entries,
        *site_facts(record.get("meter_a"), record.get("house_a"), record.get("allowed_a")),
    )


@view_of(ChargerEntry)
class _Charger(msgspec.Struct, gc=False):
    """The fields of a charger entry the summary reads (any others are skipped)."""

    name: str
    reason: Any = None
    setpoint_a: Any = None
    phases: Any = None
    measured_a: Any = None


@view_of(DecisionRecord)
class _Line(msgspec.Struct, gc=False):
    """The fields of a record the summary reads of a decision (any others are skipped)."""

    ts: str
    event: str
    mono_s: Any = None
    meter_a: Any = None
    house_a: Any = None
    allowed_a: Any = None
    chargers: list[_Charger] | None = None


_CHUNK_DECODER = msgspec.json.Decoder(list[_Line])


_LINE_DECODER = msgspec.json.Decoder(_Line)


#: the ``chargers`` of compact decisions with the same names, shared (nothing changes them)
_NAMES: dict[tuple[str, ...], list[dict[str, str]]] = {}


def names_of(key: tuple[str, ...]) -> list[dict[str, str]]:
    """The ``chargers`` of a compact decision with these names (shared: nothing changes them)."""
    found = _NAMES.get(key)
    if found is None:
        found = _NAMES[key] = [{"name": name} for name in key]
    return found


def compact_decision(
    ts: str,
    mono_s: object,
    chargers: tuple[ChargerFacts, ...],
    site: tuple[bool, tuple[str, ...], float | None],
    raw: bytes,
) -> CompactDecision:
    """A compact decision of its ``ts``, ``mono_s`` (kept where a float), charger facts,
    ``(metered, over, peak)`` and line."""
    names = names_of(tuple([c[0] for c in chargers])) if chargers else []
    record = CompactDecision(ts=ts, event="decision", chargers=names)
    if type(mono_s) is float:
        record["mono_s"] = mono_s
    record.facts = (chargers, *site)
    record.raw = raw
    return record


def decode_compact(
    path: Path,
    chunk: list[tuple[int, bytes]],
    records: list[TimedRecord],
    unreadable: int,
    first: str | None,
) -> tuple[int, str | None]:
    """Decode a chunk of lines into compact decisions, in order; a line the fast decoder does not
    take, and every record but a decision, is read as :func:`parse_record` reads it."""
    if not chunk:
        return unreadable, first
    try:
        decoded = _CHUNK_DECODER.decode(b"[" + b",".join(line for _, line in chunk) + b"]")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        decoded = []
    lines: list[_Line | None] = list(decoded)
    if len(lines) != len(chunk):
        lines = []
        for _, raw in chunk:
            try:
                lines.append(_LINE_DECODER.decode(raw))
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                lines.append(None)
    append = records.append
    for (number, raw), line in zip(chunk, lines, strict=True):
        seconds = None if line is None or line.event != "decision" else posix_s(line.ts)
        if line is None or seconds is None or TARIFF_BOUND in raw:
            # not a decision, not one the fast decoder takes, or one the capacity tariff bound
            # (what it cost is reckoned from the whole record: tariff_cost)
            one = parse_record(raw)
            if one is None:
                unreadable += 1
                first = first if first is not None else f"{path}:{number}"
            else:
                append(one)
            continue
        facts = tuple(
            [
                charger_facts(c.name, c.reason, c.setpoint_a, c.phases, c.measured_a)
                for c in line.chargers or ()
            ]
        )
        site = site_facts(line.meter_a, line.house_a, line.allowed_a)
        append((seconds, compact_decision(line.ts, line.mono_s, facts, site, raw)))
    return unreadable, first
