"""The month's peaks on disk, so a restart (even ``kill -9``) keeps them.

One small JSON file under the state directory, replaced whole on each write: written to a
temporary file beside it, flushed to the disk, then renamed over the old one, so a crash leaves
either the old file or the new one, never half of one. A file that cannot be read back is
refused with one line (:class:`StateFileError`); rebuilding the month from the decision log is
the caller's (the service's) business.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from loadbalancer.errors import StateFileError
from loadbalancer.tariff.peaks import MonthPeaks, Peak

#: the file's name under the state directory
STATE_FILE = "tariff-month.json"
FORMAT = 1
#: a state file is a few KB (at most N peaks per day per component); anything larger is not one
MAX_STATE_BYTES = 256 * 1024


def state_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / STATE_FILE


def save_month(path: Path, profile_name: str, month: MonthPeaks) -> None:
    """Replace the state file with ``month``, crash-safe (temporary file, fsync, rename)."""
    data = {
        "format": FORMAT,
        "profile": profile_name,
        "month": month.month,
        "intervals": month.intervals,
        "estimated": month.estimated,
        "peaks": [_peak_record(p) for p in month.candidates],
    }
    text = json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n"
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(directory)  # the rename itself must survive a power cut
    finally:
        os.close(directory)


def load_month(path: Path, profile_name: str) -> MonthPeaks | None:
    """The month kept in ``path``; None when there is no file or it is another profile's (the
    month then starts afresh). A file that is there but unreadable is a :class:`StateFileError`."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_STATE_BYTES:
        raise StateFileError(str(path), "corrupt: larger than a tariff state file can be")
    try:
        data = json.loads(raw.decode("utf-8"))
        return _month(data, profile_name)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise StateFileError(str(path), f"corrupt tariff state ({problem[:120]})") from None


def _month(data: Any, profile_name: str) -> MonthPeaks | None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not format {FORMAT}")
    if data["profile"] != profile_name:
        return None
    month = _typed(data["month"], str, "month")
    date.fromisoformat(f"{month}-01")
    peaks = tuple(_peak(item) for item in _typed(data["peaks"], list, "peaks"))
    return MonthPeaks(
        month=month,
        candidates=peaks,
        intervals=_typed(data["intervals"], int, "intervals"),
        estimated=_typed(data["estimated"], int, "estimated"),
    )


def _peak_record(peak: Peak) -> dict[str, Any]:
    return {
        "component": peak.component,
        "start_s": peak.start_s,
        "day": peak.day.isoformat(),
        "power_kw": peak.power_kw,
        "energy_kwh": peak.energy_kwh,
        "weight": peak.weight,
        "estimated": peak.estimated,
    }


def _peak(item: Any) -> Peak:
    if not isinstance(item, dict):
        raise ValueError("a peak is not a mapping")
    number = (int, float)
    return Peak(
        component=_typed(item["component"], str, "component"),
        start_s=_typed(item["start_s"], int, "start_s"),
        day=date.fromisoformat(_typed(item["day"], str, "day")),
        power_kw=float(_typed(item["power_kw"], number, "power_kw")),
        energy_kwh=float(_typed(item["energy_kwh"], number, "energy_kwh")),
        weight=float(_typed(item["weight"], number, "weight")),
        estimated=_typed(item["estimated"], bool, "estimated"),
    )


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{what} is not a number")
    if not isinstance(value, kind):
        raise ValueError(f"{what} has the wrong type")
    return value
