"""Decision logs as one stream of records in time order, read lazily (constant memory).

The service appends in time order and logrotate renames whole files (``decisions.jsonl.1``,
``decisions.jsonl.2.gz``), so each file is in order and the files follow each other: the stream
merges the files by time, holding a chunk of lines per file and a reorder window
(:data:`REORDER_RECORDS`) that puts back in order the few records a step of the wall clock (NTP
setting the clock) leaves out of it. The stream can be walked again (each walk reads the files
anew), so a review that needs two passes keeps no record between them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from loadbalancer.review.facts import decode_compact
from loadbalancer.review.fast import compact_block
from loadbalancer.review.lines import (
    TimedRecord,
    decode_whole,
    file_blocks,
    parse_record,
)
from loadbalancer.review.scan import quick_ts

#: lines decoded at once (as one JSON array: the decoder shares its key cache)
CHUNK_LINES = 2000

#: decodes a chunk of ``(line number, line)`` into records (appended); returns the count of
#: lines it could not read and the first of them
Decode = Callable[
    [Path, list[tuple[int, bytes]], list[TimedRecord], int, str | None], tuple[int, str | None]
]

#: records held per file to put back in order those a little out of it
REORDER_RECORDS = 256


@dataclass
class Unreadable:
    """Lines that are not a usable record, counted while a stream is walked."""

    count: int = 0
    #: ``file:line`` of the first one (in the order the files were given)
    first: str | None = None
    _first_key: tuple[int, int] | None = None

    def add(self, path: Path, index: int, number: int) -> None:
        self.count += 1
        if self._first_key is None or (index, number) < self._first_key:
            self._first_key = (index, number)
            self.first = f"{path}:{number}"

    def report(self) -> str | None:
        """One line for stderr about the lines skipped, or None when every line was read."""
        if not self.count:
            return None
        lines = "line" if self.count == 1 else "lines"
        return (
            f"skipped {self.count} unreadable {lines} (not a JSON record with ts "
            f"and event), the first at {self.first}"
        )


@dataclass
class LogStream:
    """The records of ``paths`` in time order; iterate it (again) to read the files (again).

    ``compact``: decisions come as :class:`~loadbalancer.review.facts.CompactDecision` (what the
    summary counts of them, read fast). ``after_s``: only the records after this time (the
    lines before it of the service's shape are passed by without being decoded, and not
    counted if unreadable)."""

    paths: tuple[Path, ...]
    compact: bool = False
    after_s: float | None = None
    unreadable: Unreadable = field(default_factory=Unreadable)
    #: how many times it was walked
    walks: int = 0

    @classmethod
    def of(
        cls, paths: Iterable[str | Path], *, compact: bool = False, after_s: float | None = None
    ) -> LogStream:
        return cls(tuple(Path(p) for p in paths), compact, after_s)

    def after(self, after_s: float) -> LogStream:
        """The same files, from ``after_s`` on."""
        return LogStream(self.paths, self.compact, after_s)

    def __iter__(self) -> Iterator[TimedRecord]:
        self.unreadable = Unreadable()
        self.walks += 1
        files = [self._records(index, path) for index, path in enumerate(self.paths)]
        if len(files) == 1:
            yield from files[0]
        else:  # ties: the file given first first
            yield from heapq.merge(*files, key=itemgetter(0))

    def _records(self, index: int, path: Path) -> Iterator[TimedRecord]:
        """The records of one file in time order, decoded a chunk of lines at once; the last
        :data:`REORDER_RECORDS` of a chunk wait to be sorted with the next (a step of the
        clock back puts the records it displaced back in order)."""
        held: list[TimedRecord] = []
        for records in self._chunks(index, path):
            held += records
            held.sort(key=itemgetter(0))  # stable: records of the same instant keep their order
            yield from held[:-REORDER_RECORDS]
            held = held[-REORDER_RECORDS:]
        yield from held

    def _chunks(self, index: int, path: Path) -> Iterator[list[TimedRecord]]:
        decode = decode_compact if self.compact else decode_whole
        fast = self.compact and self.after_s is None
        after_s, unreadable = self.after_s, self.unreadable
        for number, lines in file_blocks(path):
            if isinstance(lines, bytes):  # UNREADABLE
                if after_s is None:
                    unreadable.add(path, index, number)
                continue
            if fast and (records := compact_block(lines)) is not None:
                yield records
                continue
            chunk = [
                (at, line)
                for at, line in enumerate(lines, number)
                if line.strip()
                and (after_s is None or (t_s := quick_ts(line)) is None or t_s > after_s)
            ]
            for start in range(0, len(chunk), CHUNK_LINES):
                yield self._decoded(decode, path, index, chunk[start : start + CHUNK_LINES])

    def _decoded(
        self, decode: Decode, path: Path, index: int, chunk: list[tuple[int, bytes]]
    ) -> list[TimedRecord]:
        records: list[TimedRecord] = []
        count, _ = decode(path, chunk, records, 0, None)
        if count:  # which lines: decoded again one by one (rare: a torn or hostile line)
            for number, line in chunk:
                if parse_record(line) is None:
                    self.unreadable.add(path, index, number)
        if self.after_s is not None:
            records = [r for r in records if r[0] > self.after_s]
        return records
