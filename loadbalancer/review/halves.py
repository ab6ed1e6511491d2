"""The fast path of the compact reading: a large log read in two halves at once, the second
in a forked process that sends its records back packed (msgpack). Anything that fails here
leaves the file to be read whole, in one process."""

from __future__ import annotations

import gzip
import io
import multiprocessing
import os
import zlib
from pathlib import Path
from typing import IO, Any, cast

import msgspec

from loadbalancer.review.facts import (
    CompactDecision,
    DecisionFacts,
    decode_compact,
)
from loadbalancer.review.lines import (
    GZIP_MAGIC,
    MAX_LINE_BYTES,
    TimedRecord,
)

#: a plain log this large is read compact in two halves at once, the second in a forked process
#: (a month is 120 MB; the machines it runs on have two cores or more)
SPLIT_BYTES = 32_000_000


#: where it is split: the second half's process also packs its records to send them
SPLIT_AT_PERCENT = 53


#: bytes read at once from one half
BLOCK_BYTES = 1 << 20


#: a gzip file is unpacked in memory to be split only up to this size (a month is 120 MB)
UNPACK_BYTES = 1 << 28


#: how long the second half may take before the file is read whole in one process instead
#: (a month reads in a few seconds; a worker killed by the kernel would otherwise hang us)
SECOND_HALF_TIMEOUT_S = 120.0


#: the unpacked gzip file being read in halves (the forked process finds it here)
_UNPACKED: bytes | None = None


def split_point(path: Path) -> tuple[int, bytes | None] | None:
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


def read_halves(
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
            record.raw = b""  # the summary's alone: never read whole
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
            unreadable, first = decode_compact(path, chunk, records, unreadable, first)
            if not block:
                return records, unreadable, first
