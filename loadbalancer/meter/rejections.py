"""Rejected telegrams, counted: one ``meter_rejected`` record per reason per window, not one per
telegram (a wrong baud rate rejects every telegram; a byte flood thousands a second).

Pure: the caller gives the time of each rejection and asks for the windows that are over. A
window opens with the first rejection of a reason and closes ``window_s`` later; its record keeps
the first telegram's reason, header and size, the count, the bytes and the first and last
time. Reasons are counted by kind, the text before the first colon (``bad CRC: got 1A2B,
computed 3C4D`` is a ``bad CRC``), since the particulars differ from telegram to telegram; up
to :data:`REASON_EXAMPLES` distinct reasons of a kind are kept (``reasons``), so that a window
of ``implausible`` telegrams still says which values were implausible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loadbalancer.meter.reading import Rejection

#: one record per reason per this many seconds at most
REJECTION_WINDOW_S = 60.0
#: distinct reasons kept per window (the rest are counted only)
REASON_EXAMPLES = 5


@dataclass(slots=True)
class _Window:
    """The rejections of one reason since ``first_s`` (mutable, owned by the tally)."""

    first: Rejection
    first_s: float
    first_wall: datetime
    last_s: float
    last_wall: datetime
    count: int = 1
    total_bytes: int = 0
    reasons: list[str] = field(default_factory=list)


class RejectionTally:
    """Counts rejections per reason; :meth:`due` hands out each window once it is over."""

    def __init__(self, window_s: float = REJECTION_WINDOW_S) -> None:
        self.window_s = window_s
        self._open: dict[str, _Window] = {}

    def add(self, rejection: Rejection, now_s: float, wall: datetime) -> list[dict[str, Any]]:
        """Count ``rejection`` (at monotonic ``now_s``, wall time ``wall``); returns the records
        of windows that were over before it (its own reason's included), oldest first."""
        out = self.due(now_s)
        kind = reason_kind(rejection.reason)
        window = self._open.get(kind)
        if window is None:
            self._open[kind] = _Window(
                rejection,
                now_s,
                wall,
                now_s,
                wall,
                total_bytes=rejection.size_bytes,
                reasons=[rejection.reason],
            )
        else:
            window.count += 1
            window.total_bytes += rejection.size_bytes
            window.last_s, window.last_wall = now_s, wall
            if len(window.reasons) < REASON_EXAMPLES and rejection.reason not in window.reasons:
                window.reasons.append(rejection.reason)
        return out

    def due(self, now_s: float) -> list[dict[str, Any]]:
        """The records of the windows that are over at ``now_s`` (each handed out once)."""
        over = [r for r, w in self._open.items() if now_s - w.first_s >= self.window_s]
        return [_record(self._open.pop(reason)) for reason in over]

    def flush(self) -> list[dict[str, Any]]:
        """The records of every open window (at shutdown)."""
        out = [_record(window) for window in self._open.values()]
        self._open.clear()
        return out

    @property
    def pending(self) -> int:
        """Rejections counted in windows not handed out yet."""
        return sum(window.count for window in self._open.values())


def reason_kind(reason: str) -> str:
    """``bad CRC: got 1A2B, computed 3C4D`` -> ``bad CRC``: the kind, without the particulars."""
    return reason.split(":", 1)[0].strip() or "unknown"


def _record(window: _Window) -> dict[str, Any]:
    """The fields of one ``meter_rejected`` record."""
    return {
        "reason": window.first.reason,
        "reasons": list(window.reasons),
        "count": window.count,
        "size_bytes": window.first.size_bytes,
        "header": window.first.header,
        "total_bytes": window.total_bytes,
        "first": window.first_wall.isoformat(timespec="milliseconds"),
        "last": window.last_wall.isoformat(timespec="milliseconds"),
        "span_s": round(window.last_s - window.first_s, 3),
    }
