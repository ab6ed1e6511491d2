"""Reading decision logs for ``loadbalancer log``: plain, rotated (``.1``) and gzip (``.gz``) files.

The thin I/O half of the review: it turns files into records sorted by time and leaves all
meaning to :mod:`loadbalancer.review`. A line that is not a JSON object with a ``ts`` (ISO 8601
with a UTC offset) and an ``event`` is skipped and counted, with the first such place kept for
the one line the command prints; a torn last line (the service was killed mid-write) is one
of those. Every other field is left as written, unknown ones included.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from loadbalancer.errors import UsageError

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
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError on bytes that are not UTF-8
        return None
    if not isinstance(record, dict):
        return None
    ts, event = record.get("ts"), record.get("event")
    if not isinstance(ts, str) or not isinstance(event, str):
        return None
    try:
        stamp = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if stamp.tzinfo is None:  # SPEC §6.2: ts carries its offset; without one it is not ours
        return None
    return stamp.timestamp(), record


def read_logs(paths: Iterable[str | Path]) -> LogContents:
    """Every record of ``paths`` (any order), sorted by ``ts``; a missing file is a usage error."""
    records: list[TimedRecord] = []
    unreadable = 0
    first: str | None = None
    for path in paths:
        for number, line in _lines(Path(path)):
            if not line.strip():
                continue
            parsed = parse_record(line) if line is not _UNREADABLE else None
            if parsed is None:
                unreadable += 1
                if first is None:
                    first = f"{path}:{number}"
                continue
            records.append(parsed)
    records.sort(key=_time)  # stable: records of the same instant keep their file order
    return LogContents(records, unreadable, first)


def _time(record: TimedRecord) -> float:
    return record[0]


#: stands for the rest of a compressed file that is cut off or corrupt
_UNREADABLE = b"\x00"


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
    with stream:
        try:
            for number, line in enumerate(stream, start=1):
                yield number, line
        except (EOFError, OSError, zlib.error):
            yield number + 1, _UNREADABLE
