"""The month's peaks rebuilt from the decision log, when the state file is missing or corrupt.

Each closed interval is in the log as a ``tariff_interval`` record (its start, its energy, whether
it was estimated, the profile's name); the month is those of the profile and the month, added
again in order. The log's current file is read and the rotated ones beside it
(``decisions.jsonl.1``, ``decisions.jsonl.2.gz``), skipping any file last written before the
month began: it cannot hold one of its intervals. A line that is not such a record is passed
over: a torn last line, another event, a later version's record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loadbalancer.errors import LoadBalancerError
from loadbalancer.review.lines import file_lines
from loadbalancer.tariff.calendar import STOCKHOLM, HolidayCheck, month_of
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks
from loadbalancer.tariff.profile import TariffProfile

#: what a rotated log beside the current one is called (logrotate: ``.1``, ``.2.gz``)
_ROTATED = re.compile(r"\.\d+(\.gz)?$")
_MARK = b'"tariff_interval"'


@dataclass(frozen=True, slots=True)
class Rebuilt:
    month: MonthPeaks
    #: the log files read
    files: int


def log_files(decisions_path: str) -> list[Path]:
    """The decision log's current file and the rotated ones beside it ("-": none)."""
    if decisions_path == "-":
        return []
    current = Path(decisions_path)
    found = [current] if current.is_file() else []
    if current.parent.is_dir():
        found += sorted(
            p
            for p in current.parent.iterdir()
            if p.name.startswith(current.name)
            and _ROTATED.fullmatch(p.name[len(current.name) :])
            and p.is_file()
        )
    return found


def rebuild_month(
    profile: TariffProfile, month: str, decisions_path: str, is_holiday: HolidayCheck
) -> Rebuilt:
    """``month`` (``YYYY-MM``) of ``profile`` from the ``tariff_interval`` records of the log."""
    began_s = datetime.fromisoformat(f"{month}-01T00:00:00").replace(tzinfo=STOCKHOLM).timestamp()
    files = [p for p in log_files(decisions_path) if _modified_s(p) >= began_s]
    intervals: dict[int, IntervalEnergy] = {}
    for path in files:
        for interval in _intervals(path, profile.name):
            if month_of(interval.start_s) == month:
                intervals[interval.start_s] = interval  # the same interval twice counts once
    rebuilt = MonthPeaks(month)
    for start_s in sorted(intervals):
        rebuilt = rebuilt.add(profile, intervals[start_s], is_holiday)
    return Rebuilt(rebuilt, len(files))


def _modified_s(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")


def _intervals(path: Path, profile_name: str) -> list[IntervalEnergy]:
    found = []
    try:
        for _number, line in file_lines(path):
            interval = _interval(line, profile_name) if _MARK in line else None
            if interval is not None:
                found.append(interval)
    except LoadBalancerError:  # the file went away or cannot be read: what it gave is kept
        pass
    return found


def _interval(line: bytes, profile_name: str) -> IntervalEnergy | None:
    """The interval of one ``tariff_interval`` line of this profile, None for any other line."""
    try:
        record = json.loads(line)
        if record.get("event") != "tariff_interval" or record.get("profile") != profile_name:
            return None
        start_s = int(datetime.fromisoformat(record["start"]).timestamp())
        energy_kwh = record["energy_kwh"]
        estimated = record["estimated"]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    if isinstance(energy_kwh, bool) or not isinstance(energy_kwh, int | float):
        return None
    if not isinstance(estimated, bool) or not 0 <= energy_kwh < 1e6:
        return None
    return IntervalEnergy(start_s, float(energy_kwh), estimated)
