"""Writing the decision log: one JSON object per line, through structlog.

Every record starts with ``ts`` (ISO 8601 with the local UTC offset) and ``event``; its fields
are those :mod:`loadbalancer.records` declares. Each line is handed to the kernel in a single
``write()`` on an ``O_APPEND`` descriptor, so a crash leaves at most a torn last line and two
writers never interleave inside a line. Before each write the path is checked against the open
file, so logrotate's rename-and-create works without a signal (``copytruncate`` works too,
thanks to ``O_APPEND``).

Every record also carries ``mono_s``, the monotonic clock in seconds (its zero is arbitrary,
usually the boot): durations taken from it survive a step of the wall clock (a Pi without a
real-time clock that sets its time from the network after the service started).

The log never stops control: a write that fails (a full disk, a read-only remount, an I/O
error) drops the record, counts it and says so once (:attr:`DecisionLog.report`); later records
try the file again, with back-off, and the first that is written is preceded by a
``log_resumed`` record with the count of records dropped. :attr:`DecisionLog.healthy` tells
whether the last write worked.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

import msgspec
import structlog

from loadbalancer.jsontext import finite
from loadbalancer.records import ENVELOPE, LogRecord

WallClock = Callable[[], datetime]
MonoClock = Callable[[], float]


class LineSink:
    """Writes whole lines to a path (reopened when rotated) or to a file descriptor."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        if path == "-":
            self._fd = sys.stdout.fileno()

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

    def reopen(self) -> None:
        """Close the file: the next line opens the path again (SIGHUP, a failed write)."""
        self.close()

    def write_line(self, line: str) -> None:
        """Write one line; OSError when it cannot (the file is then opened again next time)."""
        if self.path != "-" and (self._fd is None or self._rotated()):
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


#: after a failed write the file is tried again on the next record this long after the failure,
#: doubling up to the maximum (a full disk is not freed in a millisecond)
LOG_RETRY_FIRST_S = 1.0
LOG_RETRY_MAX_S = 60.0


def local_now() -> datetime:
    """The wall clock with the local UTC offset."""
    return datetime.now().astimezone()


def stderr_report(message: str) -> None:
    """The default way the log says it failed or resumed: one line on stderr, never raising."""
    with contextlib.suppress(OSError, ValueError):
        print(f"loadbalancer: {message}", file=sys.stderr, flush=True)


class DecisionLog:
    """``log.record(event, **fields)`` writes one record; it never raises for the file's sake."""

    def __init__(
        self,
        sink: LineSink,
        *,
        wall_clock: WallClock = local_now,
        mono_clock: MonoClock = time.monotonic,
        report: Callable[[str], None] = stderr_report,
    ) -> None:
        self.sink = sink
        self.wall_clock = wall_clock
        self.mono_clock = mono_clock
        #: told once when writing starts failing and once when it works again
        self.report = report
        #: records dropped since the last write that worked
        self.dropped = 0
        self.dropped_total = 0
        self._failed_since_s: float | None = None
        self._retry_at_s = -float("inf")
        self._retry_delay_s = LOG_RETRY_FIRST_S
        self._error = ""
        self._logger = structlog.wrap_logger(
            sink,
            processors=[
                self._stamp,
                _finite_fields,
                structlog.processors.JSONRenderer(allow_nan=False),
            ],
            cache_logger_on_first_use=True,
        )

    @property
    def healthy(self) -> bool:
        """False from a failed write until a record is written again (for health reports)."""
        return self._failed_since_s is None

    @property
    def error(self) -> str:
        """Why the last write failed ("" while healthy)."""
        return self._error if not self.healthy else ""

    def _stamp(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        # ts and event first, then mono_s, then the fields in the order given
        event = event_dict.pop("event")
        return {
            "ts": self.wall_clock().isoformat(timespec="milliseconds"),
            "event": event,
            "mono_s": round(self.mono_clock(), 3),
            **event_dict,
        }

    def record(self, event: str, **fields: Any) -> bool:
        """Write one record; False when it was dropped (the file cannot be written now)."""
        if self._failed_since_s is not None:
            now_s = self.mono_clock()
            if now_s < self._retry_at_s:
                self._drop()
                return False
            if not self._write(
                "log_resumed",
                dropped_records=self.dropped,
                failed_for_s=round(now_s - self._failed_since_s, 3),
                error=self._error,
            ):
                self._drop()
                return False
            self.report(
                f"decision log {self.sink.path}: writing again ({self.dropped} record(s) "
                f"dropped meanwhile)"
            )
            self._failed_since_s = None
            self.dropped = 0
            self._retry_delay_s = LOG_RETRY_FIRST_S
        if self._write(event, **fields):
            return True
        self._drop()
        return False

    def write(self, record: LogRecord) -> bool:
        """Write one typed record (its ``ts`` and ``mono_s`` are stamped now, as for
        :meth:`record`)."""
        fields = msgspec.to_builtins(record)
        event = fields.pop("event")
        for name in ENVELOPE:
            fields.pop(name, None)
        return self.record(event, **fields)

    def _write(self, event: str, **fields: Any) -> bool:
        try:
            self._logger.info(event, **fields)
        except OSError as exc:
            self._failed(exc)
            return False
        return True

    def _drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def _failed(self, exc: OSError) -> None:
        self.sink.reopen()
        now_s = self.mono_clock()
        self._error = exc.strerror or str(exc)
        if self._failed_since_s is None:
            self._failed_since_s = now_s
            self.report(
                f"decision log {self.sink.path}: cannot write ({self._error}); control goes "
                f"on, records are dropped and counted, the file is tried again"
            )
        else:
            self._retry_delay_s = min(self._retry_delay_s * 2, LOG_RETRY_MAX_S)
        self._retry_at_s = now_s + self._retry_delay_s

    def reopen(self) -> None:
        """Open the file again on the next record (SIGHUP), and try it at once if it failed."""
        self.sink.reopen()
        self._retry_at_s = -float("inf")

    def close(self) -> None:
        self.sink.close()


def _finite_fields(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """No ``NaN``/``Infinity`` in the log (invalid JSON): each becomes null, and the record
    names the fields so mapped in ``non_finite`` (a bug upstream, not a value to hide)."""
    found: list[str] = []
    clean = finite(dict(event_dict), found=found)
    if found:
        clean["non_finite"] = found
    return clean


def open_decision_log(
    path: str, *, wall_clock: WallClock = local_now, mono_clock: MonoClock = time.monotonic
) -> DecisionLog:
    """The decision log at ``path`` ("-": stdout); the file is opened by the first record."""
    return DecisionLog(LineSink(path), wall_clock=wall_clock, mono_clock=mono_clock)
