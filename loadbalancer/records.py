"""The decision log's schema: every record, as written and as read.

Every record starts with ``ts`` (ISO 8601 with the local UTC offset) and ``event``, then
``mono_s``, the monotonic clock in seconds; the fields of each event are declared once, here, as
a typed record (one msgspec Struct per event, tagged on ``event``). The writer is
:mod:`loadbalancer.logwriter`.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: record ``event`` names (docs/ARCHITECTURE.md §The decision record); a field once written keeps
#: its name and meaning
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
    # issue 17: a command from Home Assistant (MQTT), taken or refused
    "command",
    # issue 15: the capacity tariff (only with a ``tariff:`` section)
    "tariff_interval",
    "tariff_month",
    # issue 18: OCPP charge points (their central system)
    "ocpp_connected",
    "ocpp_disconnected",
    "ocpp_boot",
    "ocpp_refused",
    "ocpp_write_deferred",
    # issue 19: 1p/3p switching, the shell's sequence (the decision is phase_switch_down/up)
    "phase_switch_started",
    "phase_switch_done",
    "phase_switch_failed",
    "phase_switch_no_resume",
    # issue 20: cuts sent before a telegram's fresh reads, when even the lowest house needs them
    "early_cut",
)

# ---- the schema: every record as written --------------------------------------------------------
# One Struct per event, tagged on ``event``; the writer's fields are checked against these
# (tests/test_record_schema.py), and every reader decodes through :func:`decode` (strict, typed)
# or through a view marked with :func:`view_of` (the review, over logs that may be hostile or of
# a later version, reads each field defensively).


class LogRecord(msgspec.Struct, tag_field="event", forbid_unknown_fields=True, kw_only=True):
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
    #: 1 or 3: what the box is to be set to (issue 19); absent in logs before it
    phase_count: int | None = None


class DecisionTariff(msgspec.Struct, forbid_unknown_fields=True):
    """A decision's capacity tariff (issue 15): what the core was given and what it allowed."""

    #: the limit on the interval's mean power: the budget (follow_peak: raised), / the weight
    budget_kw: float
    #: the running interval's start, ISO 8601 Stockholm time with its offset
    interval_start: str
    energy_kwh_so_far: float
    #: what the cars may still take in the interval (the core's P); null without meter currents
    cars_kw: float | None
    #: per ``ready_by`` charger, the power it needs from now on to be ready in time
    needed_kw: dict[str, float]


class DecisionRecord(LogRecord, tag="decision", omit_defaults=True):
    trigger: str
    meter_a: ByPhase | None
    meter_age_s: float | None
    house_a: ByPhase | None
    allowed_a: ByPhase | None
    budget_used_s: ByPhase
    chargers: list[ChargerEntry]
    #: absent without a capacity tariff, or in an interval it does not limit
    tariff: DecisionTariff | None = None


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
    #: what ``simulate --replay`` needs to run the logged site again (absent in older logs)
    resume_delay_max_s: float | None = None
    telegram_period_s: float | None = None
    poll_interval_s: float | None = None
    failsafe_timeout_s: float | None = None


class StartupTariff(msgspec.Struct, forbid_unknown_fields=True):
    profile: str
    budget_kw: float
    mode: str
    margin_kw: float


class StartupRecord(LogRecord, tag="startup", omit_defaults=True):
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
    #: the capacity tariff (absent without one)
    tariff: StartupTariff | None = None


class ShutdownRecord(LogRecord, tag="shutdown"):
    reason: str
    signal: str | None
    safe_current_a: float
    #: what each box acknowledged (amperes), or why its safe write failed
    chargers: dict[str, float | str | None]
    valid_telegrams: int
    rejected_telegrams: int
    log_dropped_records: int


class MeterStale(LogRecord, tag="meter_stale"):
    meter_age_s: float | None
    rejected_telegrams: int


class MeterRecovered(LogRecord, tag="meter_recovered"):
    meter_time: str | None


class MeterRejected(LogRecord, tag="meter_rejected"):
    reason: str
    reasons: list[str]
    count: int
    size_bytes: int
    header: str
    total_bytes: int
    first: str
    last: str
    span_s: float


class MeterFlood(LogRecord, tag="meter_flood"):
    rate_bytes_s: int
    limit_bytes_s: int


class MeterFloodEnded(LogRecord, tag="meter_flood_ended"):
    duration_s: float
    received_bytes: int
    dropped_bytes: int
    telegrams_ignored: int


class ChargerRecord(LogRecord):
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


class LogResumed(LogRecord, tag="log_resumed"):
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


class PhaseSwitchStarted(ChargerRecord, tag="phase_switch_started"):
    """The car has stopped drawing: the phase register is written now (issue 19)."""

    from_count: int | None
    to_count: int


class PhaseSwitchDone(ChargerRecord, tag="phase_switch_done"):
    """The box reads back the new count and its own wait is over."""

    phase_count: int
    took_s: float


class PhaseSwitchFailed(ChargerRecord, tag="phase_switch_failed"):
    """No switch: the car kept drawing, the box refused or its read-back stayed, or its count
    could not be read; switching ends for the session (until the car is unplugged)."""

    error: str
    to_count: int | None


class PhaseSwitchNoResume(ChargerRecord, tag="phase_switch_no_resume"):
    """A car that drew before a switch drew nothing ``waited_s`` after the box offered current
    again: switching ends for the session."""

    phase_count: int | None
    waited_s: float


class CommandRecord(LogRecord, tag="command"):
    """A command (issue 17): where it came from (``source``: ``mqtt`` and its topic, or the
    state file of ``persist: true`` at start), what it sets (``charger`` null for the site's
    budget), the payload as received (shortened), whether it was taken, the value in force
    before and after, and why it was refused."""

    source: str
    command: str
    charger: str | None
    payload: str
    accepted: bool
    previous: float | bool | None
    value: float | bool | None
    problem: str | None


class TariffInterval(LogRecord, tag="tariff_interval"):
    """A billing interval closed (issue 15)."""

    profile: str
    #: the interval's edges, ISO 8601 Stockholm time with the offset
    start: str
    end: str
    interval_s: int
    #: from the meter's import register at the edges
    energy_kwh: float
    mean_kw: float
    #: an edge was estimated (a gap in the register: active power integrated)
    estimated: bool
    #: the component it counted in (null: none, a free interval) and its weight there (0: none)
    component: str | None
    weight: float
    #: the limit on its mean power while it ran, as in the decision's ``tariff.budget_kw``
    budget_kw: float | None
    #: its place among the month's N billed peaks of its component now (null: not among them)
    peak_rank: int | None


class TariffMonth(LogRecord, tag="tariff_month"):
    """At start: where the month's peaks came from (issue 15)."""

    month: str
    #: ``state_file``, or ``decision_log`` when the file was missing, another profile's or corrupt
    source: str
    state_file: str
    #: why the state file was refused (null: it was read, or there was none)
    problem: str | None
    intervals: int
    #: each component's billed figure so far (the mean of its N highest peaks)
    billed_kw: dict[str, float]


# ---- issue 18: OCPP charge points ---------------------------------------------------------------


class OcppConnected(ChargerRecord, tag="ocpp_connected"):
    charge_point_id: str


class OcppDisconnected(ChargerRecord, tag="ocpp_disconnected"):
    reason: str


class OcppBoot(ChargerRecord, tag="ocpp_boot"):
    """The charge point's BootNotification (who it says it is)."""

    vendor: str
    model: str
    firmware: str | None


class OcppRefused(LogRecord, tag="ocpp_refused"):
    """A connection refused before the WebSocket opened (HTTP 404 or 401)."""

    charge_point_id: str
    peer: str
    reason: str


class OcppWriteDeferred(ChargerRecord, tag="ocpp_write_deferred"):
    """A raise the write economy holds back (one record per episode; a cut never waits)."""

    setpoint_a: float
    in_force_a: float | None
    reason: str
    writes_24h: int
    wait_s: float


class EarlyCut(LogRecord, tag="early_cut"):
    """Cuts written at once for a telegram whose decision waits for fresh reads of some boxes:
    with each of those counted at the most it may draw (the house at its lowest), the core
    already cut these (issue 20). The telegram's decision follows once the reads are in."""

    chargers: dict[str, float]
    awaiting: list[str]


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
    | PhaseSwitchStarted
    | PhaseSwitchDone
    | PhaseSwitchFailed
    | PhaseSwitchNoResume
    | CommandRecord
    | TariffInterval
    | TariffMonth
    | OcppConnected
    | OcppDisconnected
    | OcppBoot
    | OcppRefused
    | OcppWriteDeferred
    | EarlyCut
)

#: the record type of each event name
RECORD_TYPES: dict[str, type[LogRecord]] = {
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


def validated(event: str, **fields: Any) -> LogRecord:
    """The record ``event`` with ``fields`` as the writer gives them, checked against its type
    (a field it does not know or of the wrong type is a bug: ValidationError)."""
    return msgspec.convert(fields, RECORD_TYPES[event])
