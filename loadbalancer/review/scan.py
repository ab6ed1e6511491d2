"""A quick first look at decision logs: their first and last record and their ``startup`` records.

The review needs these before it walks the records (the window ``--since``/``--until`` clip and
the log's offset, the fuse the summary compares with), and keeps nothing else. The look reads
each line's ``ts`` from its first bytes where the line has the service's shape
(``{"ts": "...``) and decodes only the lines that may be a ``startup`` or the first or last
record; any other shape is decoded whole. The first record is the earliest readable one (the
first of the earliest instant, in file order), the last the latest (the last of the latest
instant), as if every record of every file had been sorted by time.
"""

from __future__ import annotations

import contextlib
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from loadbalancer.review.lines import (
    MAX_LINE_BYTES,
    MAX_UNPACKED_BYTES,
    UNREADABLE,
    TimedRecord,
    file_lines,
    open_log,
    parse_record,
    posix_s,
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The first and last readable record of the logs and every ``startup`` record in time
    order."""

    first: TimedRecord
    last: TimedRecord
    startups: tuple[TimedRecord, ...]

    @property
    def zone(self) -> tzinfo:
        """The UTC offset of the last record: the review shows local time as the log has it."""
        try:
            zone = datetime.fromisoformat(str(self.last[1].get("ts"))).tzinfo
        except ValueError:
            zone = None
        return zone if zone is not None else UTC

    def last_startup(self, before_s: float) -> TimedRecord | None:
        """The last ``startup`` at or before ``before_s``."""
        found = None
        for item in self.startups:
            if item[0] > before_s:
                break
            found = item
        return found

    @classmethod
    def of(cls, records: Sequence[TimedRecord]) -> Bounds | None:
        """Of records already read and sorted (None when there are none)."""
        if not records:
            return None
        startups = tuple(r for r in records if r[1]["event"] == "startup")
        return cls(records[0], records[-1], startups)


def quick_ts(line: bytes) -> float | None:
    """The ``ts`` of a line of the service's shape from its first bytes; None for any other."""
    if line.startswith(b'{"ts": "'):
        start = 8
    elif line.startswith(b'{"ts":"'):
        start = 7
    else:
        return None
    end = line.find(b'"', start, start + 40)
    if end < 0:
        return None
    try:
        return posix_s(line[start:end].decode("ascii"))
    except UnicodeDecodeError:
        return None


#: bytes read at once
BLOCK_BYTES = 1 << 20


def _blocks(path: Path) -> Iterator[bytes]:
    """The file (gzip unpacked) in blocks of whole lines (the last one may be torn); a
    damaged gzip stream or a gzip bomb ends it (the review's reading says so)."""
    stream, compressed = open_log(path)
    with contextlib.suppress(EOFError, OSError, zlib.error), stream:
        carry, unpacked = b"", 0
        while block := stream.read(BLOCK_BYTES):
            unpacked += len(block)
            if compressed and unpacked > MAX_UNPACKED_BYTES:
                return
            block = carry + block
            end = block.rfind(b"\n") + 1
            carry = block[end:]
            if len(carry) > MAX_LINE_BYTES:
                carry = b""  # one line too long: not a record
            if end:
                yield block[:end]
        if carry:
            yield carry


def _lines(block: bytes) -> Iterator[bytes]:
    for line in block.split(b"\n"):
        if line.strip() and len(line) <= MAX_LINE_BYTES:
            yield line


class _Look:
    """What one walk over the blocks keeps (private, mutable)."""

    def __init__(self) -> None:
        self.first: TimedRecord | None = None
        self.last: TimedRecord | None = None
        self.startups: list[TimedRecord] = []

    def file(self, path: Path) -> bool:
        """Look at one file; False when its last lines are none of them readable."""
        first: TimedRecord | None = None
        tail: deque[bytes] = deque(maxlen=2)
        for block in _blocks(path):
            if first is None:
                first = next(filter(None, map(parse_record, _lines(block))), None)
            self._startups(block)
            tail.append(block)
        if first is not None and (self.first is None or first[0] < self.first[0]):
            self.first = first
        last = next(filter(None, map(parse_record, reversed(list(_lines(b"".join(tail)))))), None)
        if last is not None and (self.last is None or last[0] >= self.last[0]):
            self.last = last
        return first is None or last is not None

    def slow(self, path: Path) -> None:
        """The last readable record of a file with a long torn or hostile tail, line by line."""
        for _, line in file_lines(path):
            record = None if line is UNREADABLE else parse_record(line)
            if record is not None and (self.last is None or record[0] >= self.last[0]):
                self.last = record

    def _startups(self, block: bytes) -> None:
        at = block.find(b'"startup"')
        while at >= 0:
            begin = block.rfind(b"\n", 0, at) + 1
            end = block.find(b"\n", at)
            end = len(block) if end < 0 else end
            if end - begin <= MAX_LINE_BYTES:
                record = parse_record(block[begin:end])
                if record is not None and record[1]["event"] == "startup":
                    self.startups.append(record)
            at = block.find(b'"startup"', end)


def scan(paths: Iterable[str | Path]) -> Bounds | None:
    """The bounds of the logs, or None when no line is a readable record. Each file is taken
    to be in time order, as the service writes it: its first readable record is its earliest,
    its last its latest (a file whose last two blocks hold no readable line is read line by
    line)."""
    look = _Look()
    for path in map(Path, paths):
        if not look.file(path):
            look.slow(path)
    if look.first is None or look.last is None:
        return None
    startups = sorted(look.startups, key=lambda r: r[0])  # stable: file order within an instant
    return Bounds(look.first, look.last, tuple(startups))
