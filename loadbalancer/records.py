"""The decision log (SPEC §6.2): one JSON object per line, through structlog.

Every record starts with ``ts`` (ISO 8601 with the local UTC offset) and ``event``. Each line
is handed to the kernel in a single ``write()`` on an ``O_APPEND`` descriptor, so a crash
leaves at most a torn last line and two writers never interleave inside a line. Before each
write the path is checked against the open file, so logrotate's rename-and-create works
without a signal (``copytruncate`` works too, thanks to ``O_APPEND``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

import structlog

WallClock = Callable[[], datetime]

#: record ``event`` names (SPEC §6.2); a field once written keeps its name and meaning
EVENTS = (
    "decision",
    "startup",
    "shutdown",
    "meter_stale",
    "meter_recovered",
    "meter_rejected",
    "charger_offline",
    "charger_online",
    "write_failed",
    "failsafe_configured",
    "failsafe_unverified",
    "setpoint_ignored",
    "alarm",
    # issue 11: devices that lie; each pair marks the start and the end of one episode
    "charger_implausible",
    "charger_plausible",
    "setpoint_not_applied",
    "setpoint_applied",
    "write_refused",
    "write_accepted",
    "keep_alive_failed",
)


def local_now() -> datetime:
    """The wall clock with the local UTC offset."""
    return datetime.now().astimezone()


class LineSink:
    """Writes whole lines to a path (reopened when rotated) or to a file descriptor."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        if path == "-":
            self._fd = sys.stdout.fileno()
        else:
            self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        stat = os.fstat(fd)
        self._fd, self._identity = fd, (stat.st_dev, stat.st_ino)
        if stat.st_size:
            # A crash may have left a torn last line: start ours on a line of its own.
            with open(self.path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                if existing.read(1) != b"\n":
                    os.write(fd, b"\n")

    def _rotated(self) -> bool:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._identity

    def write_line(self, line: str) -> None:
        if self.path != "-" and self._rotated():
            self.close()
            self._open()
        assert self._fd is not None
        data = (line + "\n").encode()
        written = os.write(self._fd, data)
        while written < len(data):  # only on a full disk or a pipe; finish the line
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        if self._fd is not None and self.path != "-":
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None

    # structlog calls the method named like the log call on the wrapped logger
    def msg(self, message: str) -> None:
        self.write_line(message)

    info = warning = error = msg


class DecisionLog:
    """``log.record(event, **fields)`` writes one record."""

    def __init__(self, sink: LineSink, *, wall_clock: WallClock = local_now) -> None:
        self.sink = sink
        self._wall_clock = wall_clock
        self._logger = structlog.wrap_logger(
            sink,
            processors=[self._stamp, structlog.processors.JSONRenderer()],
            cache_logger_on_first_use=True,
        )

    def _stamp(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        # ts and event first, then the fields in the order given
        event = event_dict.pop("event")
        return {
            "ts": self._wall_clock().isoformat(timespec="milliseconds"),
            "event": event,
            **event_dict,
        }

    def record(self, event: str, **fields: Any) -> None:
        self._logger.info(event, **fields)

    def close(self) -> None:
        self.sink.close()


def open_decision_log(path: str, *, wall_clock: WallClock = local_now) -> DecisionLog:
    return DecisionLog(LineSink(path), wall_clock=wall_clock)
