"""Reading decision logs for ``loadbalancer log``: plain, rotated (``.1``) and gzip (``.gz``) files.

The thin I/O half of the review: it turns files into records sorted by time and leaves all
meaning to :mod:`loadbalancer.review`. A line that is not a JSON object with a ``ts`` (ISO 8601
with a UTC offset) and an ``event`` is skipped and counted, with the first such place kept for
the one line the command prints; a torn last line (the service was killed mid-write) is one
of those. Every other field is left as written, unknown ones included.

For the summary alone the records can be read ``compact``: each decision is decoded (msgspec,
into only the fields the summary reads) to the few facts the summary counts, and a large plain
file is read in two halves at once; any line that way does not take is read as above.

Hostile files are read in bounded memory and give no traceback: a line longer than
:data:`MAX_LINE_BYTES` is skipped (counted) without being held whole, a compressed file stops
being read after :data:`MAX_UNPACKED_BYTES` (a gzip bomb; the size in the gzip trailer wraps at
4 GiB and is not trusted), a ``ts`` outside the years datetime can show (1-9999) is unreadable,
and nesting too deep to decode is an unreadable line.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, cast

import msgspec

from loadbalancer.errors import UsageError
from loadbalancer.records import ChargerEntry, DecisionRecord, view_of

#: a record as written: ``ts`` and ``event`` first, then whatever the event carries
Record = dict[str, Any]
#: a record with its time as POSIX seconds, the key the review sorts and measures by
TimedRecord = tuple[float, Record]

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class LogContents:
    """Every readable record of the files, sorted by time, and what could not be read."""

    records: list[TimedRecord]
    unreadable_lines: int
    #: ``file:line`` of the first line that could not be read, for the one-line report
    first_unreadable: str | None

    def report(self) -> str | None:
        """One line for stderr about the lines skipped, or None when every line was read."""
        if not self.unreadable_lines:
            return None
        lines = "line" if self.unreadable_lines == 1 else "lines"
        return (
            f"skipped {self.unreadable_lines} unreadable {lines} (not a JSON record with ts "
            f"and event), the first at {self.first_unreadable}"
        )


def parse_record(line: bytes | str) -> TimedRecord | None:
    """One log line as ``(POSIX seconds, record)``, or None when it is not a usable record."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # and UnicodeDecodeError on bytes that are not UTF-8
        return None
    return timed(record)


def timed(record: object) -> TimedRecord | None:
    """A decoded line as ``(POSIX seconds, record)``, or None when it is not a usable record."""
    if type(record) is not dict:
        return None
    ts, event = record.get("ts"), record.get("event")
    if type(ts) is not str or type(event) is not str:
        return None
    seconds = _posix_s(ts)
    return None if seconds is None else (seconds, record)


#: POSIX seconds at the start of an hour, by ``YYYY-MM-DDTHH`` + UTC offset
_HOURS: dict[str, float | None] = {}
#: a few years of hours, a few MB at most
HOURS_KEPT = 50_000
#: seconds into the hour at the start of each minute, by ``MM``
_MINUTE_S = {f"{minute:02d}": minute * 60 for minute in range(60)}


def _posix_s(ts: str) -> float | None:
    """``ts`` as POSIX seconds; None when it is not ISO 8601 with an offset (SPEC §6.2).

    The service's form (``2026-01-14T18:00:10.012+01:00``) takes a fast path: the start of its
    hour is looked up, the minutes and seconds added (whole seconds, exact until the
    milliseconds); a month has 720 hours, 260 000 records.
    """
    if len(ts) == 29 and ts[13] == ":" and ts[16] == ":" and ts[19] == "." and ts[23] in "+-":
        hour = ts[:13] + ts[23:]
        start_s = _HOURS.get(hour)
        if start_s is None:
            if len(_HOURS) > HOURS_KEPT:
                _HOURS.clear()
            start_s = _HOURS[hour] = _parse_iso(ts[:13] + ":00:00" + ts[23:])
        minute_s = _MINUTE_S.get(ts[14:16])
        second, milli = ts[17:19], ts[20:23]
        if (
            start_s is not None
            and minute_s is not None
            and second.isdigit()
            and second < "60"
            and milli.isdigit()
        ):
            return start_s + minute_s + int(second) + int(milli) / 1000
    return _parse_iso(ts)


#: the times a record may carry: what datetime can show in any UTC offset (years 1 to 9999)
FIRST_S = datetime(1, 1, 2, tzinfo=UTC).timestamp()
LAST_S = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def _parse_iso(ts: str) -> float | None:
    try:
        stamp = datetime.fromisoformat(ts)
        if stamp.tzinfo is None:  # SPEC §6.2: ts carries its offset; without one it is not ours
            return None
        seconds = stamp.timestamp()
    except (ValueError, OverflowError):  # not ISO 8601; beyond year 1 or 9999 in UTC
        return None
    return seconds if FIRST_S <= seconds <= LAST_S else None


def read_logs(paths: Iterable[str | Path], *, compact: bool = False) -> LogContents:
    """Every record of ``paths`` (any order), sorted by ``ts``; a missing file is a usage error.

    ``compact``: each decision comes as a :class:`CompactDecision` that keeps only ``ts``,
    ``event``, the charger names and the :data:`DecisionFacts` the summary counts, read by a fast
    decoder (the summary of a month then takes a fraction of the time and memory). A line the fast
    decoder does not take is read as without ``compact``, and counted as unreadable only if that
    fails too; any record other than a decision comes whole.
    """
    records: list[TimedRecord] = []
    unreadable = 0
    first: str | None = None
    decode = _decode_compact if compact else _decode
    # hundreds of thousands of small dicts that all stay alive: the cyclic collector would scan
    # them again and again while they are made (three times the parse time) and find nothing
    collecting = gc.isenabled()
    gc.disable()
    try:
        for path in paths:
            unreadable, first = _read_one(Path(path), records, unreadable, first, decode)
    finally:
        if collecting:
            gc.enable()
    records.sort(key=itemgetter(0))  # stable: records of the same instant keep their file order
    return LogContents(records, unreadable, first)


#: lines decoded in one ``json.loads`` call as a JSON array: a third faster than line by line,
#: since the decoder then shares one key cache (the same dozen keys on every line)
CHUNK_LINES = 2000


#: decodes a chunk of ``(line number, line)`` of a file into records (appended), returns the
#: updated unreadable count and first unreadable place
_Decode = Callable[
    [Path, list[tuple[int, bytes]], list[TimedRecord], int, str | None], tuple[int, str | None]
]


def _read_one(
    path: Path, records: list[TimedRecord], unreadable: int, first: str | None, decode: _Decode
) -> tuple[int, str | None]:
    """Append the records of one file; returns the updated unreadable count and first place."""
    if decode is _decode_compact and (split := _middle(path)) is not None:
        halves = _read_halves(path, *split)
        if halves is not None:
            records += halves[0]
            return unreadable + halves[1], first if first is not None else halves[2]
    chunk: list[tuple[int, bytes]] = []
    for number, line in _lines(path):
        if line is _UNREADABLE:
            unreadable, first = decode(path, chunk, records, unreadable, first)
            chunk = []
            unreadable += 1
            first = first if first is not None else f"{path}:{number}"
        elif line.strip():
            chunk.append((number, line))
            if len(chunk) == CHUNK_LINES:
                unreadable, first = decode(path, chunk, records, unreadable, first)
                chunk = []
    return decode(path, chunk, records, unreadable, first)


#: a plain log this large is read compact in two halves at once, the second in a forked process
#: (a month is 120 MB; the machines it runs on have two cores or more)
SPLIT_BYTES = 32_000_000
#: where it is split: the second half's process also packs its records to send them
SPLIT_AT_PERCENT = 53
#: bytes read at once from one half
BLOCK_BYTES = 1 << 20


def _middle(path: Path) -> tuple[int, bytes | None] | None:
    """Where a large file is split (the start of a line near its middle) and, for a gzip file,
    its contents (a whole, sound stream only: anything else is read line by line); or None."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    data: bytes | None = None
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            if raw.read(2) == GZIP_MAGIC:
                raw.seek(-4, os.SEEK_END)  # ISIZE: the size unpacked (modulo 4 GiB: a hint only)
                if not SPLIT_BYTES <= int.from_bytes(raw.read(4), "little") <= UNPACK_BYTES:
                    return None
                raw.seek(0)
                parts: list[bytes] = []
                unpacked = 0
                with gzip.GzipFile(fileobj=raw) as unpacking:
                    while part := unpacking.read(BLOCK_BYTES):
                        unpacked += len(part)
                        # more than the trailer said (it wraps at 4 GiB: a bomb says anything),
                        # or a megabyte without a line: not a log to hold in memory
                        if unpacked > UNPACK_BYTES or (
                            len(part) == BLOCK_BYTES and b"\n" not in part
                        ):
                            return None
                        parts.append(part)
                data = b"".join(parts)
                del parts
                size = len(data)
                middle = data.find(b"\n", size * SPLIT_AT_PERCENT // 100) + 1
            elif size < SPLIT_BYTES:
                return None
            else:
                raw.seek(size * SPLIT_AT_PERCENT // 100)
                raw.readline()
                middle = raw.tell()
    except (OSError, EOFError, zlib.error):  # reported as the file is read line by line
        return None
    return (middle, data) if 0 < middle < size else None


#: a gzip file is unpacked in memory to be split only up to this size (a month is 120 MB)
UNPACK_BYTES = 1 << 28
#: how long the second half may take before the file is read whole in one process instead
#: (a month reads in a few seconds; a worker killed by the kernel would otherwise hang us)
SECOND_HALF_TIMEOUT_S = 120.0
#: the unpacked gzip file being read in halves (the forked process finds it here)
_UNPACKED: bytes | None = None


def _read_halves(
    path: Path, middle: int, data: bytes | None
) -> tuple[list[TimedRecord], int, str | None] | None:
    """The compact records of a file read in two halves at once, the unreadable count and first
    place; None where that fails (the file is then read as a whole)."""
    global _UNPACKED
    try:
        if data is None:
            lines = 0
            with open(path, "rb") as raw:
                while (left := middle - raw.tell()) > 0:
                    lines += raw.read(min(left, BLOCK_BYTES)).count(b"\n")
        else:
            lines = data.count(b"\n", 0, middle)
        _UNPACKED = data
        with multiprocessing.get_context("fork").Pool(1) as pool:
            later = pool.apply_async(_ship_range, (path, middle, lines + 1))
            records, unreadable, first = _read_range(path, 0, 1, middle, data)
            # a worker that dies never answers: after this long, read the file whole instead
            shipped = msgspec.msgpack.decode(later.get(SECOND_HALF_TIMEOUT_S), type=_Shipment)
    except Exception:  # anything: the whole file is then read again, in one process
        return None
    finally:
        _UNPACKED = None
    for t_s, ts, chargers, facts, whole, mono_s in shipped.records:
        if facts is None:
            assert whole is not None  # one or the other is shipped
            records.append((t_s, whole))
        else:
            record = CompactDecision(ts=ts, event="decision", chargers=chargers)
            if mono_s is not None:
                record["mono_s"] = mono_s
            record.facts = facts
            records.append((t_s, record))
    more_first = shipped.first
    return records, unreadable + shipped.unreadable, first if first is not None else more_first


class _Shipment(msgspec.Struct, array_like=True, gc=False):
    """The second half's records as its process sends them: ``(time, ts, chargers, facts, None,
    mono_s)`` for a compact decision, ``(time, "", [], None, record, None)`` for a record read
    whole."""

    records: list[
        tuple[
            float,
            str,
            list[dict[str, str]],
            DecisionFacts | None,
            dict[str, Any] | None,
            float | None,
        ]
    ]
    unreadable: int
    first: str | None


def _ship_range(path: Path, start: int, number: int) -> bytes:
    """:func:`_read_range` to the end of the file as a :class:`_Shipment` (msgpack: a tenth of the
    time pickle takes); a value msgpack cannot carry fails it, and the whole file is read again."""
    records, unreadable, first = _read_range(path, start, number, None, _UNPACKED)
    return msgspec.msgpack.encode(
        _Shipment(
            [
                (t_s, "", [], None, record, None)
                if type(record) is not CompactDecision
                else (
                    t_s,
                    record["ts"],
                    record["chargers"],
                    record.facts,
                    None,
                    record.get("mono_s"),
                )
                for t_s, record in records
            ],
            unreadable,
            first,
        )
    )


def _read_range(
    path: Path, start: int, number: int, end: int | None, data: bytes | None = None
) -> tuple[list[TimedRecord], int, str | None]:
    """The compact records of the lines from byte ``start`` (a line start, line ``number``) to
    byte ``end`` (a line start; None: the end of the file), the unreadable count, first place;
    of ``data`` where given (the file unpacked)."""
    records: list[TimedRecord] = []
    unreadable, first = 0, None
    carry = b""
    overlong = False  # in a line longer than MAX_LINE_BYTES: skipped up to its end
    with cast(IO[bytes], open(path, "rb") if data is None else io.BytesIO(data)) as raw:
        raw.seek(start)
        while True:
            size = BLOCK_BYTES if end is None else min(BLOCK_BYTES, end - raw.tell())
            block = raw.read(size) if size > 0 else b""
            lines = (carry + block).split(b"\n")
            carry = lines.pop() if block else b""  # the last line goes on in the next block
            if overlong and (lines or not block):  # its end came: the rest of it goes
                lines[:1] = [b"\0"] if lines else []
                overlong = False
            if len(carry) > MAX_LINE_BYTES:
                carry, overlong = b"", True
            chunk = [(n, line) for n, line in enumerate(lines, number) if line.strip()]
            number += len(lines)
            unreadable, first = _decode_compact(path, chunk, records, unreadable, first)
            if not block:
                return records, unreadable, first


def _decode(
    path: Path,
    chunk: list[tuple[int, bytes]],
    records: list[TimedRecord],
    unreadable: int,
    first: str | None,
) -> tuple[int, str | None]:
    """Decode a chunk of lines at once; where that fails (a torn line), line by line."""
    if not chunk:
        return unreadable, first
    try:
        decoded = json.loads(b"[" + b",".join(line for _, line in chunk) + b"]")
    except (ValueError, RecursionError):
        decoded = None
    if decoded is not None and len(decoded) == len(chunk):
        parsed = [timed(record) for record in decoded]
        if None not in parsed:
            records.extend(cast(list[TimedRecord], parsed))  # no None in it
            return unreadable, first
    for number, line in chunk:
        one = parse_record(line)
        if one is None:
            unreadable += 1
            first = first if first is not None else f"{path}:{number}"
        else:
            records.append(one)
    return unreadable, first


# ---- the compact reading: what the summary counts of each decision ------------------------------

#: a phase counts as over its allowed current above this (records keep milliamps; 10 mA of
#: rounding noise is not an overload)
OVERLOAD_TOLERANCE_A = 0.01

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
    names of its ``chargers``, and in :attr:`facts` what the summary counts of it."""

    __slots__ = ("facts",)

    facts: DecisionFacts


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
    entries = (
        tuple(
            charger_facts(
                name,
                entry.get("reason"),
                entry.get("setpoint_a"),
                entry.get("phases"),
                entry.get("measured_a"),
            )
            for entry in chargers
            if type(entry) is dict and type(name := entry.get("name")) is str
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


def _decode_compact(
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
    names_by = _NAMES
    append = records.append
    for (number, raw), line in zip(chunk, lines, strict=True):
        seconds = None if line is None or line.event != "decision" else _posix_s(line.ts)
        if line is None or seconds is None:
            one = parse_record(raw)  # not a decision, or not one the fast decoder takes
            if one is None:
                unreadable += 1
                first = first if first is not None else f"{path}:{number}"
            else:
                append(one)
            continue
        entries = line.chargers
        facts: tuple[ChargerFacts, ...] = ()
        names: list[dict[str, str]] = []
        if entries:
            facts = tuple(
                [
                    charger_facts(c.name, c.reason, c.setpoint_a, c.phases, c.measured_a)
                    for c in entries
                ]
            )
            key = tuple([c.name for c in entries])
            found = names_by.get(key)
            if found is None:
                found = names_by[key] = [{"name": name} for name in key]
            names = found
        record = CompactDecision(ts=line.ts, event="decision", chargers=names)
        if type(line.mono_s) is float:
            record["mono_s"] = line.mono_s
        record.facts = (facts, *site_facts(line.meter_a, line.house_a, line.allowed_a))
        append((seconds, record))
    return unreadable, first


#: stands for the rest of a compressed file that is cut off or corrupt, or a line too long
_UNREADABLE = b"\x00"
#: a record is a few hundred bytes (a decision with many chargers a few KB): a longer line is
#: not one, and is skipped without being held whole
MAX_LINE_BYTES = 1 << 20
#: a compressed log stops being read after this much unpacked (a gzip bomb); a month is 120 MB
MAX_UNPACKED_BYTES = 4 << 30


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of one file; a broken gzip stream ends with one unreadable line."""
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a decision log") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    number = 0
    stream = cast(IO[bytes], gzip.open(path, "rb") if compressed else open(path, "rb"))  # noqa: SIM115
    unpacked = 0
    with stream:
        try:
            while line := stream.readline(MAX_LINE_BYTES + 1):
                number += 1
                unpacked += len(line)
                if compressed and unpacked > MAX_UNPACKED_BYTES:
                    yield number, _UNREADABLE  # a gzip bomb: the rest is not read
                    return
                if len(line) > MAX_LINE_BYTES:  # skip it to its end, in bounded pieces
                    while not line.endswith(b"\n") and line:
                        line = stream.readline(MAX_LINE_BYTES)
                        unpacked += len(line)
                        if compressed and unpacked > MAX_UNPACKED_BYTES:
                            yield number, _UNREADABLE
                            return
                    yield number, _UNREADABLE
                    continue
                yield number, line
        except (EOFError, OSError, zlib.error):
            yield number + 1, _UNREADABLE
