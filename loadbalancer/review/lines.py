"""One line of a decision log as ``(POSIX seconds, record)``, and the lines of a file.

A line that is not a JSON object with a ``ts`` (ISO 8601 with a UTC offset) and an ``event`` is
not a usable record; every other field is left as written, unknown ones included. Hostile files
are read in bounded memory: a line longer than :data:`MAX_LINE_BYTES` is one unreadable line
(not held whole), a compressed file stops being read after :data:`MAX_UNPACKED_BYTES` (a gzip
bomb; the size in the gzip trailer wraps at 4 GiB and is not trusted), a ``ts`` outside the
years datetime can show (1-9999) is unreadable, and nesting too deep to decode is an unreadable
line.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from loadbalancer.errors import UsageError

#: a record as written: ``ts`` and ``event`` first, then whatever the event carries
Record = dict[str, Any]


#: a record with its time as POSIX seconds, the key the review sorts and measures by
TimedRecord = tuple[float, Record]


GZIP_MAGIC = b"\x1f\x8b"


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
    seconds = posix_s(ts)
    return None if seconds is None else (seconds, record)


#: POSIX seconds at the start of an hour, by ``YYYY-MM-DDTHH`` + UTC offset
_HOURS: dict[str, float | None] = {}


#: a few years of hours, a few MB at most
HOURS_KEPT = 50_000


#: seconds into the hour at the start of each minute, by ``MM``
_MINUTE_S = {f"{minute:02d}": minute * 60 for minute in range(60)}


def posix_s(ts: str) -> float | None:
    """``ts`` as POSIX seconds; None when it is not ISO 8601 with an offset.

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


#: the last minute :func:`posix_s_fast` saw: its ``YYYY-MM-DDTHH:MM:``, its UTC offset and its
#: start (``posix_s`` of its ``:00.000``); records in time order share it six at a time
_MINUTE: list[tuple[str, str, float]] = [("", "", 0.0)]


def posix_s_fast(ts: str) -> float | None:
    """:func:`posix_s`, the same float, quicker for the service's form in time order: the start
    of the minute is kept from the record before."""
    head, offset, start_s = _MINUTE[0]
    if ts[:17] == head and len(ts) == 29 and ts[23:] == offset and ts[19] == ".":
        second, milli = ts[17:19], ts[20:23]
        if second.isdigit() and second < "60" and milli.isdigit():
            return start_s + int(second) + int(milli) / 1000
    seconds = posix_s(ts)
    if seconds is not None and len(ts) == 29 and ts[13] == ":" and ts[16] == ":":
        hour_s = _HOURS.get(ts[:13] + ts[23:])
        minute_s = _MINUTE_S.get(ts[14:16])
        if hour_s is not None and minute_s is not None and ts[23] in "+-":
            _MINUTE[0] = (ts[:17], ts[23:], hour_s + minute_s)
    return seconds


#: the times a record may carry: what datetime can show in any UTC offset (years 1 to 9999)
FIRST_S = datetime(1, 1, 2, tzinfo=UTC).timestamp()


LAST_S = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def _parse_iso(ts: str) -> float | None:
    try:
        stamp = datetime.fromisoformat(ts)
        if stamp.tzinfo is None:  # our ts always carries its offset; without one it is not ours
            return None
        seconds = stamp.timestamp()
    except (ValueError, OverflowError):  # not ISO 8601; beyond year 1 or 9999 in UTC
        return None
    return seconds if FIRST_S <= seconds <= LAST_S else None


#: stands for the rest of a compressed file that is cut off or corrupt, or a line too long
UNREADABLE = b"\x00"


#: a record is a few hundred bytes (a decision with many chargers a few KB): a longer line is
#: not one, and is skipped without being held whole
MAX_LINE_BYTES = 1 << 20


#: a compressed log stops being read after this much unpacked (a gzip bomb); a month is 120 MB
MAX_UNPACKED_BYTES = 4 << 30


def open_log(path: Path) -> tuple[IO[bytes], bool]:
    """The file to read (gzip unpacked) and whether it is compressed; a usage error when it
    cannot be read."""
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a decision log") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    stream = cast(IO[bytes], gzip.open(path, "rb") if compressed else open(path, "rb"))  # noqa: SIM115
    return stream, compressed


def file_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of one file; a broken gzip stream ends with one unreadable line."""
    stream, compressed = open_log(path)
    number = 0
    unpacked = 0
    with stream:
        try:
            while line := stream.readline(MAX_LINE_BYTES + 1):
                number += 1
                unpacked += len(line)
                if compressed and unpacked > MAX_UNPACKED_BYTES:
                    yield number, UNREADABLE  # a gzip bomb: the rest is not read
                    return
                if len(line) > MAX_LINE_BYTES:  # skip it to its end, in bounded pieces
                    while not line.endswith(b"\n") and line:
                        line = stream.readline(MAX_LINE_BYTES)
                        unpacked += len(line)
                        if compressed and unpacked > MAX_UNPACKED_BYTES:
                            yield number, UNREADABLE
                            return
                    yield number, UNREADABLE
                    continue
                yield number, line
        except (EOFError, OSError, zlib.error):
            yield number + 1, UNREADABLE


def decode_whole(
    path: Path,
    chunk: list[tuple[int, bytes]],
    records: list[TimedRecord],
    unreadable: int,
    first: str | None,
) -> tuple[int, str | None]:
    """Decode a chunk of ``(line number, line)`` at once into records (appended); where that
    fails (a torn line), line by line. Returns the updated unreadable count and first place."""
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


#: bytes read at once by :func:`file_blocks`
BLOCK_BYTES = 1 << 20


#: a block of :func:`file_blocks`: the number of its first line and its lines (without their
#: newline), or ``(number, UNREADABLE)`` as :func:`file_lines` gives it
Block = tuple[int, list[bytes] | bytes]


def file_blocks(path: Path) -> Iterator[Block]:
    """The lines of one file as :func:`file_lines` gives them, a block of lines at a time (one
    read and one split per megabyte, not one call per line). Anything out of the ordinary (a
    line too long, a gzip stream that breaks or unpacks too far) hands the rest of the file to
    :func:`file_lines`, from the first line not yet given: the same lines, numbers and
    unreadable marks."""
    stream, compressed = open_log(path)
    number, unpacked, carry = 1, 0, b""
    with stream:
        try:
            while block := stream.read(BLOCK_BYTES):
                unpacked += len(block)
                if compressed and unpacked > MAX_UNPACKED_BYTES:
                    break
                lines = (carry + block).split(b"\n")
                carry = lines.pop()
                if len(carry) > MAX_LINE_BYTES or max(map(len, lines), default=0) >= MAX_LINE_BYTES:
                    break
                if lines:
                    yield number, lines
                    number += len(lines)
            else:
                if carry:
                    yield number, [carry]
                return
        except (EOFError, OSError, zlib.error):
            pass
    for at, line in file_lines(path):  # the rest, as file_lines reads it
        if at >= number:
            yield at, line if line is UNREADABLE else [line]
