"""Reading decision logs for ``loadbalancer log``: plain, rotated (``.1``) and gzip (``.gz``) files.

The thin I/O half of the review: it turns files into records sorted by time and leaves all
meaning to the rest of :mod:`loadbalancer.review`. A line that is not a usable record
(:mod:`loadbalancer.review.lines`) is skipped and counted, with the first such place kept for
the one line the command prints; a torn last line (the service was killed mid-write) is one of
those. With ``compact`` (the summary alone) each decision is decoded to the few facts the
summary counts (:mod:`loadbalancer.review.facts`), and a large file is read in two halves at
once (:mod:`loadbalancer.review.halves`); any line that way does not take is read as above.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from loadbalancer.review.facts import (
    decode_compact,
)
from loadbalancer.review.halves import read_halves, split_point
from loadbalancer.review.lines import (
    UNREADABLE,
    TimedRecord,
    decode_whole,
    file_lines,
)


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
    decode = decode_compact if compact else decode_whole
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
    if decode is decode_compact and (split := split_point(path)) is not None:
        halves = read_halves(path, *split)
        if halves is not None:
            records += halves[0]
            return unreadable + halves[1], first if first is not None else halves[2]
    chunk: list[tuple[int, bytes]] = []
    for number, line in file_lines(path):
        if line is UNREADABLE:
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
