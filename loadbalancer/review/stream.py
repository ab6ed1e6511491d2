"""Decision logs as one stream of records in time order, read lazily (constant memory).

The service appends in time order and logrotate renames whole files (``decisions.jsonl.1``,
``decisions.jsonl.2.gz``), so each file is in order and the files follow each other: the stream
merges the files by time, holding one record per file and a small reorder window
(:data:`REORDER_RECORDS`) that puts back in order the few records a step of the wall clock (NTP
setting the clock) leaves out of it. The stream can be walked again (each walk reads the files
anew), so a review that needs two passes keeps no record between them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loadbalancer.review.lines import UNREADABLE, TimedRecord, file_lines, parse_record

#: records held per file to put back in order those a little out of it
REORDER_RECORDS = 256


@dataclass
class Unreadable:
    """Lines that are not a usable record, counted while a stream is walked."""

    count: int = 0
    #: ``file:line`` of the first one
    first: str | None = None

    def add(self, path: Path, number: int) -> None:
        self.count += 1
        if self.first is None:
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
    """The records of ``paths`` in time order; iterate it (again) to read the files (again)."""

    paths: tuple[Path, ...]
    unreadable: Unreadable = field(default_factory=Unreadable)

    @classmethod
    def of(cls, paths: Iterable[str | Path]) -> LogStream:
        return cls(tuple(Path(p) for p in paths))

    def __iter__(self) -> Iterator[TimedRecord]:
        self.unreadable = Unreadable()
        order = itertools.count()
        files = [_ordered(_file_records(path, self.unreadable), order) for path in self.paths]
        for _, _, record in heapq.merge(*files):
            yield record


def _file_records(path: Path, unreadable: Unreadable) -> Iterator[TimedRecord]:
    for number, line in file_lines(path):
        if line is UNREADABLE:
            unreadable.add(path, number)
            continue
        if not line.strip():
            continue
        record = parse_record(line)
        if record is None:
            unreadable.add(path, number)
        else:
            yield record


def _ordered(
    records: Iterator[TimedRecord], order: Iterator[int]
) -> Iterator[tuple[float, int, TimedRecord]]:
    """``(time, sequence, record)`` in time order, within a window of :data:`REORDER_RECORDS`
    (records of the same instant keep their order: the sequence breaks ties)."""
    window: list[tuple[float, int, TimedRecord]] = []
    for record in records:
        item = (record[0], next(order), record)
        if len(window) < REORDER_RECORDS:
            heapq.heappush(window, item)
        else:
            yield heapq.heappushpop(window, item)
    while window:
        yield heapq.heappop(window)
