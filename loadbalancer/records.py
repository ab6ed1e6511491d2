"""The decision log (SPEC §6.2): its schema, and the writer (one JSON object per line).

Every record starts with ``ts`` (ISO 8601 with the local UTC offset) and ``event``; the fields of
each event are declared once, below, as a typed record. The lines go to a
:class:`~loadbalancer.linesink.LineSink` (whole lines, ``O_APPEND``, rotation followed).

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
import sys
import time
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import structlog

from loadbalancer.jsontext import finite
from loadbalancer.linesink import LineSink

WallClock = Callable[[], datetime]
MonoClock = Callable[[], float]

#: record ``event`` names (SPEC §6.2); a field once written keeps its name and meaning
EVENTS = (
    "decision",
    "startup",
    "shutdown",
    "meter_stale",
    "meter_recovered",
    "meter_rejected",
    "meter_flood",
    "meter_flood_ended",
    "charger_offline",
    "charger_online",
    "write_failed",
    "failsafe_configured",
    "failsafe_unverified",
    "setpoint_ignored",
    "alarm",
    "log_resumed",
    # issue 11: devices that lie; each pair marks the start and the end of one episode
    "charger_implausible",
    "charger_plausible",
    "setpoint_not_applied",
    "setpoint_applied",
    "write_refused",
    "write_accepted",
    "keep_alive_failed",
)

# ---- the schema: every record as written (SPEC §6.2) --------------------------------------------
# One Struct per event, tagged on ``event``; the writer's fields are checked against these
# (tests/test_records.py), and every reader decodes through :func:`decode` (strict, typed) or a
# :func:`view_of` them (the review, over logs that may be hostile or of a later version).


class Record(msgspec.Struct, tag_field="event", forbid_unknown_fields=True, kw_only=True):
    """What every record carries; ``ts`` and ``mono_s`` are stamped by :class:`DecisionLog`."""

    ts: str = ""
    mono_s: float | None = None
    #: the fields whose NaN or infinity became null (a bug upstream, named rather than hidden)
    non_finite: list[str] | None = None


#: the fields :class:`DecisionLog` adds to every record, not given by the writer
ENVELOPE = ("ts", "event", "mono_s", "non_finite")

#: a figure by grid phase (``L1``..``L3``); null where it is unknown
ByPhase = dict[str, float | None]


class ChargerEntry(msgspec.Struct, forbid_unknown_fields=True):
    """One charger's outcome in a ``decision`` (``measured_a`` in the charger's phase order)."""

    name: str
    measured_a: list[float | None]
    previous_a: float | None
    setpoint_a: float | None
    reason: str
    phases: list[str]


class DecisionRecord(Record, tag="decision"):
    trigger: str
    meter_a: ByPhase | None
    meter_age_s: float | None
    house_a: ByPhase | None
    allowed_a: ByPhase | None
    budget_used_s: ByPhase
    chargers: list[ChargerEntry]


class StartupCharger(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    profile: str
    endpoint: str
    phases: list[str]
    min_current_a: float
    max_current_a: float
    priority: int


class StartupControl(msgspec.Struct, forbid_unknown_fields=True):
    safe_current_a: float
    ramp_up_delay_s: float
    resume_delay_s: float
    stale_after_s: float
    resume_margin_a: float


class StartupRecord(Record, tag="startup"):
    version: str
    site: str | None
    shadow: bool
    fuse: str
    fuse_rating_a: float
    fuse_margin_a: float
    fuse_phases: int
    meter: str
    chargers: list[StartupCharger]
    control: StartupControl


class ShutdownRecord(Record, tag="shutdown"):
    reason: str
    signal: str | None
    safe_current_a: float
    #: what each box acknowledged (amperes), or why its safe write failed
    chargers: dict[str, float | str | None]
    valid_telegrams: int
    rejected_telegrams: int
    log_dropped_records: int


class MeterStale(Record, tag="meter_stale"):
    meter_age_s: float | None
    rejected_telegrams: int


class MeterRecovered(Record, tag="meter_recovered"):
    meter_time: str | None


class MeterRejected(Record, tag="meter_rejected"):
    reason: str
    reasons: list[str]
    count: int
    size_bytes: int
    header: str
    total_bytes: int
    first: str
    last: str
    span_s: float


class MeterFlood(Record, tag="meter_flood"):
    rate_bytes_s: int
    limit_bytes_s: int


class MeterFloodEnded(Record, tag="meter_flood_ended"):
    duration_s: float
    received_bytes: int
    dropped_bytes: int
    telegrams_ignored: int


class ChargerRecord(Record):
    """A record about one charger."""

    charger: str


class ChargerOffline(ChargerRecord, tag="charger_offline"):
    error: str


class ChargerOnline(ChargerRecord, tag="charger_online"):
    status: str | None
    measured_a: list[float | None]


class WriteFailed(ChargerRecord, tag="write_failed"):
    setpoint_a: float | None
    error: str


class FailsafeConfigured(ChargerRecord, tag="failsafe_configured"):
    current_a: float | None
    timeout_s: float | None


class FailsafeUnverified(ChargerRecord, tag="failsafe_unverified"):
    reason: str
    #: what the box reports, where it could be read
    current_a: float | None = None
    timeout_s: float | None = None


class SetpointIgnored(ChargerRecord, tag="setpoint_ignored"):
    action: str
    setpoint_a: float | None
    measured_a: list[float | None]


class Alarm(ChargerRecord, tag="alarm"):
    problem: str
    setpoint_a: float | None
    measured_a: list[float | None]


class LogResumed(Record, tag="log_resumed"):
    dropped_records: int
    failed_for_s: float
    error: str


class ChargerImplausible(ChargerRecord, tag="charger_implausible"):
    reason: str
    measured_a: list[float | None]


class ChargerPlausible(ChargerRecord, tag="charger_plausible"):
    measured_a: list[float | None]


class SetpointNotApplied(ChargerRecord, tag="setpoint_not_applied"):
    setpoint_a: float
    limit_a: float
    action: str


class SetpointApplied(ChargerRecord, tag="setpoint_applied"):
    setpoint_a: float


class WriteRefused(ChargerRecord, tag="write_refused"):
    setpoint_a: float | None
    exception_code: int
    error: str


class WriteAccepted(ChargerRecord, tag="write_accepted"):
    setpoint_a: float | None


class KeepAliveFailed(ChargerRecord, tag="keep_alive_failed"):
    error: str
    #: the Modbus exception code where the box refused it (absent: no answer)
    exception_code: int | None = None


#: any record of the log
AnyRecord = (
    DecisionRecord
    | StartupRecord
    | ShutdownRecord
    | MeterStale
    | MeterRecovered
    | MeterRejected
    | MeterFlood
    | MeterFloodEnded
    | ChargerOffline
    | ChargerOnline
    | WriteFailed
    | FailsafeConfigured
    | FailsafeUnverified
    | SetpointIgnored
    | Alarm
    | LogResumed
    | ChargerImplausible
    | ChargerPlausible
    | SetpointNotApplied
    | SetpointApplied
    | WriteRefused
    | WriteAccepted
    | KeepAliveFailed
)

#: the record type of each event name
RECORD_TYPES: dict[str, type[Record]] = {
    cls.__struct_config__.tag: cls for cls in AnyRecord.__args__
}

_DECODER = msgspec.json.Decoder(AnyRecord)


def decode(line: bytes | str) -> AnyRecord:
    """One log line as its typed record; :class:`msgspec.ValidationError` (a field the schema
    does not know, a value of the wrong type, an unknown event) or :class:`msgspec.DecodeError`
    (not JSON) otherwise."""
    return _DECODER.decode(line)


def fields_of(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    """The field names of a record type as written (envelope first)."""
    return cls.__struct_fields__


def validated(event: str, **fields: Any) -> Record:
    """The record ``event`` with ``fields`` as the writer gives them, checked against its type
    (a field it does not know or of the wrong type is a bug: ValidationError)."""
    return msgspec.convert(fields, RECORD_TYPES[event])


_View = TypeVar("_View", bound=type[msgspec.Struct])


def view_of(schema: type[msgspec.Struct]) -> Callable[[_View], _View]:
    """Marks a class as a reading view of a record type: a Struct that decodes only the fields a
    reader takes, each as loosely as it needs (a log may be hostile or of a later version). Each
    of its field names must be a field of ``schema`` (or ``event``): a renamed field fails at
    import, not silently in a reader."""

    def check(view: _View) -> _View:
        known = {"event", *schema.__struct_fields__}
        unknown = [field for field in view.__struct_fields__ if field not in known]
        if unknown:
            raise TypeError(
                f"{view.__name__}: {', '.join(unknown)}: not fields of {schema.__name__}"
            )
        return view

    return check


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

    def write(self, record: Record) -> bool:
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
