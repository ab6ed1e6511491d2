"""Times as the review reads them from the command line and shows them: in the log's offset."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from loadbalancer.errors import UsageError
from loadbalancer.review.lines import (
    TimedRecord,
)
from loadbalancer.review.scan import Bounds

_CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def log_timezone(records: Sequence[TimedRecord]) -> tzinfo:
    """The UTC offset of the log's last record: the review shows local time as the log has it."""
    if not records:
        return UTC
    try:
        zone = datetime.fromisoformat(str(records[-1][1].get("ts"))).tzinfo
    except ValueError:
        zone = None
    return zone if zone is not None else UTC


def parse_when(text: str, records: Sequence[TimedRecord] | Bounds, option: str) -> float:
    """``--since``/``--until``/``--explain`` as POSIX seconds.

    ISO 8601 (a time without an offset is in the log's offset), or ``HH:MM[:SS]``: that time on
    the log's last day. ``records``: the log's records sorted by time, or its :class:`Bounds`.
    """
    last: TimedRecord | None
    if isinstance(records, Bounds):
        zone, last = records.zone, records.last
    else:
        zone, last = log_timezone(records), records[-1] if records else None
    if _CLOCK_TIME.fullmatch(text.strip()):
        if last is None:
            raise UsageError(f"{option} {text}: the log has no records to take the day from")
        day = datetime.fromtimestamp(last[0], zone).date()
        parts = [float(part) for part in text.strip().split(":")]
        hour, minute, second = int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else 0.0
        if hour > 23 or minute > 59 or second >= 60:
            raise UsageError(f"{option} {text}: not a time of day")
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        return (midnight + timedelta(hours=hour, minutes=minute, seconds=second)).timestamp()
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: not a time; use ISO 8601 (2026-01-14T18:03:00+01:00) or HH:MM[:SS]"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.timestamp()


def clock(t_s: float, zone: tzinfo, *, date: bool = False) -> str:
    """A time as a person reads it in the log's offset."""
    stamp = datetime.fromtimestamp(t_s, zone)
    return stamp.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def iso(t_s: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(t_s, zone).isoformat(timespec="milliseconds")


def duration(seconds: float) -> str:
    """``12 s``, ``4 min 10 s``, ``3 h 5 min``, ``2 d 3 h``."""
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
