"""``loadbalancer run``: the meter reader, the charger pollers and writers and the control step,
in one asyncio TaskGroup (SPEC §3-§6).

This is the only place where the parts meet: it owns the event loop, the clock, the timers
(stale meter, poll, keep-alive, watchdog), the signals and systemd. Decisions come from the
pure core (:func:`loadbalancer.control.core.decide`); everything here is plumbing and the
fault table of SPEC §5:

* meter silent or only invalid telegrams for ``stale_after_s``: the core sets every charger to
  ``safe_current_a``; ``meter_stale`` / ``meter_recovered`` records mark the episode;
* a charger that does not answer: ``charger_offline``, its failsafe current stays reserved (the
  core), the driver reconnects with back-off; back online: ``charger_online``, its failsafe is
  configured again and its set-point re-asserted;
* a charger drawing more than its limit for longer than a car needs to follow: a rewrite, then
  a pause, then an ``alarm`` (:mod:`loadbalancer.control.compliance`);
* start-up configures and verifies each charger's failsafe (``failsafe_configured``) or says it
  cannot (``failsafe_unverified``), and keeps it held off with the keep-alive the box needs;
* SIGTERM/SIGINT and every other signal that would end the process (SIGUSR1, SIGQUIT, SIGPWR...,
  :data:`STOP_SIGNALS`): every reachable charger to ``safe_current_a``, retried within the
  shutdown budget, a ``shutdown`` record with what each box acknowledged, exit 0; SIGHUP reopens
  the decision log and control goes on;
* the decision log cannot be written (a full disk): control goes on, the log says so once on
  stderr and in systemd's status and tries the file again (:mod:`loadbalancer.logwriter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from loadbalancer import __version__
from loadbalancer.chargers.driver import (
    BACKOFF_INITIAL_S,
    BACKOFF_MAX_S,
    ChargerClient,
    ChargerReading,
)
from loadbalancer.config import ChargerConfig, SiteConfig
from loadbalancer.control.compliance import Action, ComplianceState, check_compliance
from loadbalancer.control.core import decide
from loadbalancer.control.decision import Decision
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput
from loadbalancer.control.plausibility import implausible_current
from loadbalancer.control.state import ControllerState, initial_state
from loadbalancer.errors import (
    ChargerError,
    ChargerExceptionReply,
    ChargerUnsupported,
    LoadBalancerError,
)
from loadbalancer.logwriter import DecisionLog, open_decision_log, stderr_report
from loadbalancer.meter.flood import FLOOD_QUIET_S, FloodEnd, FloodGuard
from loadbalancer.meter.parsers import make_meter_parser
from loadbalancer.meter.plausibility import site_implausible
from loadbalancer.meter.reading import Reading, Rejection
from loadbalancer.meter.rejections import RejectionTally
from loadbalancer.meter.sources import Backoff, ChunkSource, open_source, redact_key
from loadbalancer.records import validated
from loadbalancer.sdnotify import Notifier

Clock = Callable[[], float]
Status = Callable[[str], None]

#: the control loop runs at least this often (stale detection, watchdog) even with no events
CONTROL_TICK_S = 1.0
#: connect and request timeouts for chargers: a LAN answers in milliseconds (chargers.md §3)
CHARGER_CONNECT_TIMEOUT_S = 3.0
CHARGER_REQUEST_TIMEOUT_S = 2.0
#: a charger is read again this long after a new limit: the pilot signal changes within 5 s and
#: most cars follow within a few more (control.md §2.2)
FOLLOW_CHECK_S = 5.0
#: what the shutdown may spend writing safe currents, retries included (SPEC §5: exit within
#: 5 s; the rest is for closing, the shutdown record and the interpreter's exit)
SHUTDOWN_WRITE_BUDGET_S = 4.0
#: after the shutdown record, what tasks left over get to end before the process exits
EXIT_GRACE_S = 0.3
#: a failed shutdown write is tried again after this pause, while the budget lasts
SHUTDOWN_RETRY_S = 0.1

#: one line on stderr; never raises (a terminal that hung up must not stop control)
stderr_status = stderr_report

#: signals whose default action ends the process: each gets the SIGTERM shutdown (SIGHUP
#: reopens the decision log instead). Not here: SIGKILL and SIGSTOP (cannot be caught), the
#: faults of the process itself (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP: a
#: handler could not run safely), and SIGPIPE and SIGXFSZ, which Python ignores so that the
#: write fails with an OSError instead (the decision log copes with those).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name)
    for name in (
        "SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGALRM", "SIGVTALRM",
        "SIGPROF", "SIGXCPU", "SIGPWR", "SIGIO", "SIGSTKFLT",
    )
    if hasattr(signal, name)
)  # fmt: skip
#: the meter task parses at most this much before it lets the loop run timers and polls
METER_SLICE_BYTES = 4096
#: while a flooding source's bytes are dropped, it is read at most every this long
FLOOD_READ_PAUSE_S = 0.001
#: a box shows a new limit in its read-back register within this (it applies it at once; the
#: car takes longer, which is the compliance rule's ``response_time_s``)
BOX_RESPONSE_S = 3.0
#: a read-back limit this far above the one written is "not applied" (float and mA rounding)
APPLIED_TOLERANCE_A = 0.5
#: back-off between retries of a refused write (doubles up to the maximum)
REFUSED_RETRY_INITIAL_S = 1.0
REFUSED_RETRY_MAX_S = 30.0


def stop_signals() -> list[int]:
    """:data:`STOP_SIGNALS` and the real-time signals (their default action ends the process)."""
    realtime = range(signal.SIGRTMIN, signal.SIGRTMAX + 1) if hasattr(signal, "SIGRTMIN") else ()
    return [int(sig) for sig in STOP_SIGNALS] + list(realtime)


@dataclass
class _Charger:
    """What the shell knows of one charger between decisions (mutable, owned by the service)."""

    config: ChargerConfig
    client: ChargerClient
    read: ChargerRead | None = None
    reading: ChargerReading | None = None
    online: bool | None = None  # None: not tried yet
    desired_a: float | None = None  # the set-point decided last
    written_a: float | None = None  # the set-point the box acknowledged last
    force_write: bool = True  # write even if unchanged (start, reconnect, rewrite)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    compliance: ComplianceState = field(default_factory=ComplianceState)
    override_until_s: float | None = None  # paused for ignoring its limit until then
    failsafe_due: bool = True  # (re)configure the failsafe on the next connection
    last_keep_alive_s: float = -math.inf
    poll_now: asyncio.Event = field(default_factory=asyncio.Event)  # read before the next poll
    implausible: str | None = None  # why its last read cannot be its draw (an episode)
    written_at_s: float | None = None  # when ``written_a`` was acknowledged
    not_applied: bool = False  # its read-back limit is above the one written (an episode)
    not_applied_retry_s: float = 0.0  # rewrite again this long after the last write
    refused_code: int | None = None  # Modbus exception of the refused writes (an episode)
    keep_alive_refused: bool = False
    retry_at_s: float = -math.inf  # no write before this (back-off after a refusal)
    refused_backoff: Backoff = field(
        default_factory=lambda: Backoff(REFUSED_RETRY_INITIAL_S, REFUSED_RETRY_MAX_S)
    )

    def booked_read(self) -> ChargerRead | None:
        """The read the core gets: with the limit the box may apply and whether it obeys."""
        if self.read is None:
            return None
        limits = [self.written_a]
        if self.reading is not None:
            limits.append(self.reading.limit_a)
        known = [value for value in limits if value is not None]
        return replace(
            self.read,
            limit_a=max(known) if known else None,
            controlled=self.refused_code is None and not self.not_applied,
        )


class Service:
    """One running instance; ``await run(stop)`` until ``stop`` is set, then a safe shutdown."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        shadow: bool = False,
        log: DecisionLog | None = None,
        notifier: Notifier | None = None,
        status: Status = stderr_status,
        clock: Clock = time.monotonic,
        source: ChunkSource | None = None,
        connect_timeout_s: float = CHARGER_CONNECT_TIMEOUT_S,
        request_timeout_s: float = CHARGER_REQUEST_TIMEOUT_S,
        box_response_s: float = BOX_RESPONSE_S,
    ) -> None:
        self.site = site
        self.box_response_s = box_response_s
        self.shadow = shadow
        self.log = log if log is not None else open_decision_log(site.decisions_path)
        self.log.report = self._log_report
        self.notifier = notifier if notifier is not None else Notifier()
        self.status = status
        self.clock = clock
        self.source = (
            source
            if source is not None
            else open_source(
                site.meter.source, notify=status, paced=True, period_s=site.meter.telegram_period_s
            )
        )
        self.parser = make_meter_parser(site.meter.protocol, site.meter.options)
        self._connect_timeout_s = connect_timeout_s
        self._request_timeout_s = request_timeout_s
        self.chargers = [_Charger(c, self._client_for(c)) for c in site.chargers]
        #: the shutdown's safe-current writes, started the moment a stop is asked for
        self._safe_writes: asyncio.Task[dict[str, Any]] | None = None
        self.state: ControllerState = initial_state(site.control)
        self.meter: MeterInput | None = None
        self.meter_stale = False
        self.rejected_telegrams = 0
        self._rejections = RejectionTally()
        #: the name of the signal that stopped the service (None: not stopped by a signal)
        self.stop_signal: str | None = None
        self.valid_telegrams = 0
        self.decisions = 0
        self.writes = 0  # set-points written (keep-alives not counted)
        self.last_decision: Decision | None = None
        self._trigger = asyncio.Event()
        self._measured_at_meter: dict[str, tuple[float, ...]] = {}
        self._telegram_pending = False
        self._ready = False
        self._chargers_tried = False
        self._last_watchdog_s = -math.inf
        self._started_s = clock()

    # ---- the run --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Run until ``stop`` is set; returns the exit code (0 after a clean shutdown)."""
        site = self.site
        self.log.record(
            "startup",
            version=__version__,
            site=site.file,
            shadow=self.shadow,
            fuse=site.fuse.name,
            # what ``loadbalancer log --explain`` needs to tell the rule behind a limit
            fuse_rating_a=site.fuse.rating_a,
            fuse_margin_a=site.fuse.margin_a,
            fuse_phases=site.fuse.phases,
            meter=redact_key(site.meter.source.url),
            chargers=[
                {
                    "name": c.name,
                    "profile": c.profile.name,
                    "endpoint": c.endpoint,
                    "phases": list(c.spec.phases),
                    "min_current_a": c.spec.min_current_a,
                    "max_current_a": c.spec.max_current_a,
                    "priority": c.spec.priority,
                }
                for c in site.chargers
            ],
            control={
                "safe_current_a": site.control.safe_current_a,
                "ramp_up_delay_s": site.control.ramp_up_delay_s,
                "resume_delay_s": site.control.resume_delay_s,
                "stale_after_s": site.control.stale_after_s,
                "resume_margin_a": site.control.resume_margin_a,
            },
        )
        mode = " in shadow mode (no writes)" if self.shadow else ""
        meter = redact_key(site.meter.source.url)
        self.status(f"started{mode}: {len(self.chargers)} charger(s), meter {meter}")
        failed: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._meter_task(), name="meter")
                group.create_task(self._control_task(), name="control")
                group.create_task(self._startup_chargers(), name="startup")
                for charger in self.chargers:
                    group.create_task(self._poll_task(charger), name=f"poll {charger.config.name}")
                    group.create_task(
                        self._write_task(charger), name=f"write {charger.config.name}"
                    )
                group.create_task(self._stop_on(stop), name="stop")
        except* _Stop:
            pass
        except* Exception as errors:  # a bug: still leave the chargers safe, then fail
            failed = errors.exceptions[0]
            self.status(f"internal error: {failed!r}; setting safe currents and stopping")
        await self._shutdown(failed)
        return 0 if failed is None else 1

    def _client_for(self, charger: ChargerConfig, *, retry_s: float | None = None) -> ChargerClient:
        """A client for one box; ``retry_s``: a fixed pause between failed tries instead of
        the growing back-off (the shutdown's)."""
        first_s, most_s = (BACKOFF_INITIAL_S, BACKOFF_MAX_S) if retry_s is None else (retry_s,) * 2
        return ChargerClient(
            charger.profile,
            charger.host,
            charger.port,
            charger.unit_id,
            connect_timeout_s=self._connect_timeout_s,
            request_timeout_s=self._request_timeout_s,
            clock=self.clock,
            backoff_initial_s=first_s,
            backoff_max_s=most_s,
        )

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        # the safe currents go out now, while the other tasks wind down: a request still in
        # flight on a slow box must not eat the shutdown's budget (SPEC §5: exit within 5 s)
        self._start_safe_writes()
        raise _Stop

    def _start_safe_writes(self) -> None:
        if self._safe_writes is None and not self.shadow:
            deadline_s = asyncio.get_running_loop().time() + SHUTDOWN_WRITE_BUDGET_S
            self._safe_writes = asyncio.create_task(self._make_all_safe(deadline_s))

    # ---- meter ----------------------------------------------------------------------------

    async def _meter_task(self) -> None:
        flood = FloodGuard(self.clock, quiet_s=FLOOD_QUIET_S)
        watch = asyncio.create_task(self._flood_watch(flood), name="meter flood watch")
        try:
            while True:
                try:
                    async for chunk in self.source.chunks():
                        await self._meter_chunk(chunk, flood)
                except LoadBalancerError as exc:
                    self.status(f"meter: {exc}")
                    await asyncio.sleep(60)  # the source failed to open: try it again later
                    continue
                # a replayed file ended: the meter is silent from now on (the stale rule
                # applies); replaying it again would send its counters backwards
                self.status("meter: the capture ended; no more telegrams")
                await asyncio.Future()
        finally:
            watch.cancel()
            self._flood_ended(flood.finish())

    async def _meter_chunk(self, chunk: bytes, flood: FloodGuard) -> None:
        """Parse what the flood budget lets through, a slice at a time, yielding to the loop
        after each so that timers, polls and writes run whatever the source sends."""
        self._flood_ended(flood.check())
        passed, started = flood.admit(len(chunk))
        if started is not None:
            self.log.record(
                "meter_flood",
                rate_bytes_s=round(started.rate_bytes_s),
                limit_bytes_s=round(started.limit_bytes_s),
            )
            self.status(
                f"meter: {started.rate_bytes_s:.0f} bytes/s, more than a meter sends "
                f"(at most {started.limit_bytes_s:.0f}): the excess is dropped and no "
                "telegram is used until it ends"
            )
        for at in range(0, passed, METER_SLICE_BYTES):
            piece = chunk[at : min(at + METER_SLICE_BYTES, passed)]
            for event in self.parser.feed(piece, self.clock()):
                if isinstance(event, Reading):
                    if flood.flooding:
                        flood.ignored()
                    else:
                        self._on_reading(event)
                else:
                    self._on_rejection(event)
            await asyncio.sleep(0)
        # while bytes are dropped, the source is read at a bounded rate, not as fast as it comes
        await asyncio.sleep(FLOOD_READ_PAUSE_S if passed < len(chunk) else 0)

    async def _flood_watch(self, flood: FloodGuard) -> None:
        """End an episode on time even when the source has gone quiet."""
        while True:
            await asyncio.sleep(1.0)
            self._flood_ended(flood.check())

    def _flood_ended(self, end: FloodEnd | None) -> None:
        if end is None:
            return
        self.log.record(
            "meter_flood_ended",
            duration_s=round(end.duration_s, 3),
            received_bytes=end.received_bytes,
            dropped_bytes=end.dropped_bytes,
            telegrams_ignored=end.telegrams_ignored,
        )
        self.status(
            f"meter: the flood ended after {end.duration_s:.0f} s "
            f"({end.dropped_bytes} of {end.received_bytes} bytes dropped)"
        )

    def _on_reading(self, reading: Reading) -> None:
        # the site-aware half of the plausibility gate: the parser cannot know the fuse
        problem = site_implausible(reading.current_a, self.site.fuse.rating_a)
        if problem is not None:
            reason = f"implausible: {problem}"
            self._on_rejection(
                Rejection(reading.received_s, reason, reading.size_bytes, reading.header)
            )
            return
        self.valid_telegrams += 1
        if all(current is None for current in reading.current_a):
            # a list without currents (Kaifa and Aidon list 1: power only, every 2 s between
            # the full lists): nothing to control on, and it must not hide the last currents
            return
        self.meter = MeterInput.from_reading(reading)
        # what each car drew when this telegram came: the meter includes exactly that draw
        self._measured_at_meter = {
            c.config.name: c.read.measured_a for c in self.chargers if c.read is not None
        }
        if self.meter_stale:
            self.meter_stale = False
            self.log.record("meter_recovered", meter_time=_iso(reading))
            self.status("meter: valid telegrams again, normal control")
        self._telegram_pending = True
        self._trigger.set()

    def _on_rejection(self, rejection: Rejection) -> None:
        self.rejected_telegrams += 1
        # one record per reason per minute, with counts: a flood must not fill the disk
        self._record_rejections(
            self._rejections.add(rejection, self.clock(), self.log.wall_clock())
        )

    def _flush_rejections(self, now_s: float | None = None) -> None:
        """Write the ``meter_rejected`` records that are due (all of them when ``now_s`` is
        None)."""
        self._record_rejections(
            self._rejections.flush() if now_s is None else self._rejections.due(now_s)
        )

    def _record_rejections(self, windows: list[dict[str, Any]]) -> None:
        for fields in windows:
            self.log.record("meter_rejected", **fields)

    def _log_report(self, message: str) -> None:
        """The decision log failed or works again: stderr and systemd's status line."""
        self.status(message)
        self.notifier.status(message)

    def request_stop(self, signal_name: str | None = None) -> None:
        """Remember why the service stops (the caller sets the stop event)."""
        if self.stop_signal is None:
            self.stop_signal = signal_name

    def reopen_log(self) -> None:
        """SIGHUP: open the decision log's file again (and try it now if writing failed)."""
        self.log.reopen()
        self.status(f"decision log {self.log.sink.path}: reopened (SIGHUP)")

    def _meter_age_s(self, now_s: float) -> float | None:
        return None if self.meter is None else now_s - self.meter.received_s

    # ---- control --------------------------------------------------------------------------

    async def _control_task(self) -> None:
        while True:
            timeout = self._next_wake_s()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._trigger.wait()
            self._trigger.clear()
            self.step()

    def _next_wake_s(self) -> float:
        wake = CONTROL_TICK_S
        if self.notifier.watchdog_interval_s is not None:
            wake = min(wake, self.notifier.watchdog_interval_s)
        age = self._meter_age_s(self.clock())
        if age is not None and not self.meter_stale:
            wake = min(wake, max(self.site.meter.stale_after_s - age, 0.0) + 0.001)
        return wake

    def step(self) -> Decision:
        """One control decision: decide, log, hand set-points to the writers, ping systemd."""
        now_s = self.clock()
        self._flush_rejections(now_s)
        self._check_stale(now_s)
        inputs = Inputs(meter=self.meter, chargers=self._reads())
        self.state, decision = decide(self.state, inputs, self.site.control, now_s)
        records = decision.to_record()
        changed = False
        for charger, outcome, record in zip(
            self.chargers, decision.chargers, records["chargers"], strict=True
        ):
            setpoint = outcome.setpoint_a
            if charger.override_until_s is not None:
                # paused for ignoring its limit: until resume_delay_s has passed and the car
                # has stopped drawing (while it draws on, the compliance check raises the alarm)
                still_drawing = charger.compliance.over_since_s is not None
                if charger.online and (now_s < charger.override_until_s or still_drawing):
                    setpoint = 0.0
                    record["setpoint_a"] = 0.0
                    record["reason"] = "setpoint_ignored_pause"
                else:
                    charger.override_until_s = None
                    charger.compliance = ComplianceState()
            if outcome.reason in ("charger_offline_reserved", "charger_unknown_reserved"):
                # the core books the box at its failsafe current (or its last limit) because it
                # has no usable read of it: an assumption about the box, not an order
                continue
            if setpoint != charger.desired_a:
                changed = True
                charger.desired_a = setpoint
                charger.wake.set()
        telegram = self._telegram_pending
        self._telegram_pending = False
        if telegram or changed or self.decisions == 0:
            trigger = "telegram" if telegram else "event"
            self.log.write(validated("decision", trigger=trigger, **records))
        self.decisions += 1
        self.last_decision = decision
        self._watchdog(now_s)
        return decision

    def _reads(self) -> dict[str, ChargerRead]:
        """Each online charger's latest read, with the current it drew when the meter's
        latest telegram came: house = meter - measured only holds for the same moment (a car
        that followed a cut since would otherwise make the house look bigger than it is)."""
        reads = {}
        for charger in self.chargers:
            read = charger.booked_read()
            if read is None or not charger.online:
                continue
            at_meter = self._measured_at_meter.get(charger.config.name)
            if at_meter is not None and len(at_meter) == len(read.measured_a):
                read = replace(read, measured_a=at_meter)
            reads[charger.config.name] = read
        return reads

    def _check_stale(self, now_s: float) -> None:
        age = self._meter_age_s(now_s)
        stale = age is None or age > self.site.meter.stale_after_s
        # before the first telegram the meter counts as stale only once stale_after_s has passed
        waited = age is not None or now_s - self._started_s > self.site.meter.stale_after_s
        if stale and not self.meter_stale and waited:
            self.meter_stale = True
            self.log.record(
                "meter_stale",
                meter_age_s=None if age is None else round(age, 3),
                rejected_telegrams=self.rejected_telegrams,
            )
            self.status(
                f"meter: no valid telegram for {self.site.meter.stale_after_s:g} s, every charger "
                f"to {self.site.control.safe_current_a:g} A"
            )

    def _watchdog(self, now_s: float) -> None:
        if not self._ready and self.meter is not None and self._chargers_tried:
            self._ready = True
            online = sum(1 for c in self.chargers if c.online)
            self.notifier.ready(f"controlling {online}/{len(self.chargers)} chargers")
            self.status(f"ready: meter ok, {online}/{len(self.chargers)} chargers online")
        interval = self.notifier.watchdog_interval_s
        if interval is not None and now_s - self._last_watchdog_s >= interval / 2:
            self._last_watchdog_s = now_s
            self.notifier.watchdog()

    # ---- chargers -------------------------------------------------------------------------

    async def _startup_chargers(self) -> None:
        await asyncio.gather(*(self._poll_once(c) for c in self.chargers))
        self._chargers_tried = True
        self._trigger.set()

    async def _configure_failsafe(self, charger: _Charger) -> None:
        charger.failsafe_due = False
        name = charger.config.name
        safe_a = self.site.control.safe_current_a
        timeout_s = self.site.failsafe_timeout_s
        if self.shadow:
            self.log.record("failsafe_unverified", charger=name, reason="shadow mode: not written")
            return
        try:
            result = await charger.client.configure_failsafe(safe_a, timeout_s)
        except ChargerError as exc:
            charger.failsafe_due = True
            self.log.record("failsafe_unverified", charger=name, reason=str(exc))
            self.status(f"charger {name}: failsafe not configured: {exc}")
            return
        settings = {"current_a": result.settings.current_a, "timeout_s": result.settings.timeout_s}
        if result.verified:
            self.log.record("failsafe_configured", charger=name, **settings)
        else:
            self.log.record("failsafe_unverified", charger=name, reason=result.reason, **settings)
            self.status(f"charger {name}: failsafe unverified: {result.reason}")

    async def _poll_task(self, charger: _Charger) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.site.poll_interval_s):
                    await charger.poll_now.wait()
            charger.poll_now.clear()
            await self._poll_once(charger)

    async def _poll_once(self, charger: _Charger) -> None:
        name = charger.config.name
        try:
            reading = await charger.client.read(failsafe=False)
        except ChargerError as exc:
            self._went_offline(charger, exc)
            return
        now_s = self.clock()
        came_back = charger.online is not True
        spec = charger.config.spec
        previous = charger.read
        charger.reading = reading
        measured = reading.current_a[: len(spec.phases)]
        charger.read = ChargerRead(
            # "not available" reaches the core as NaN, which its plausibility gate refuses
            measured_a=tuple(math.nan if value is None else value for value in measured),
            status=reading.status,
            online=True,
            read_s=now_s,
        )
        charger.online = True
        if came_back:
            self.log.record(
                "charger_online",
                charger=name,
                status=reading.status,
                measured_a=_finite(charger.read.measured_a),
            )
            self.status(f"charger {name}: online ({charger.config.endpoint})")
            charger.force_write = True  # it may have restarted or fallen back: re-assert
            if charger.failsafe_due:
                await self._configure_failsafe(charger)
            charger.wake.set()
            self._trigger.set()
        elif previous is None or previous.status != reading.status:
            self._trigger.set()
        if self._check_plausible(charger, measured):
            self._check_applied(charger, now_s)
            self._check_compliance(charger, now_s)

    def _went_offline(self, charger: _Charger, exc: ChargerError) -> None:
        """No answer: offline (once per episode); its failsafe is configured again when it
        answers (it may have restarted and lost it)."""
        charger.failsafe_due = True
        if charger.online is not False:
            charger.online = False
            name = charger.config.name
            self.log.record("charger_offline", charger=name, error=str(exc))
            self.status(f"charger {name}: offline: {exc}")
            self._trigger.set()

    def _check_plausible(self, charger: _Charger, measured: tuple[float | None, ...]) -> bool:
        """The plausibility gate, logged once per episode; False while the read is implausible
        (the core then books the charger, see :mod:`loadbalancer.control.plausibility`)."""
        name = charger.config.name
        problem = implausible_current(measured, charger.config.spec.plausible_max_a)
        if problem is not None and charger.implausible is None:
            charger.implausible = problem
            self.log.record(
                "charger_implausible", charger=name, reason=problem, measured_a=_finite(measured)
            )
            self.status(f"charger {name}: implausible read ({problem}); booked at its limit")
            self._trigger.set()
        elif problem is None and charger.implausible is not None:
            charger.implausible = None
            self.log.record("charger_plausible", charger=name, measured_a=_finite(measured))
            self.status(f"charger {name}: plausible reads again")
            self._trigger.set()
        return problem is None

    def _check_applied(self, charger: _Charger, now_s: float) -> None:
        """The box's read-back limit against the one it acknowledged (issue 11, item 5): above
        it for longer than the box's response time, a rewrite, and the charger is booked at its
        read-back limit until it applies what it was told (the compliance rule watches the car).
        """
        assert charger.reading is not None
        applied, written = charger.reading.limit_a, charger.written_a
        if applied is None or written is None or charger.written_at_s is None:
            return
        name = charger.config.name
        if applied <= written + APPLIED_TOLERANCE_A:
            charger.not_applied_retry_s = 0.0
            if charger.not_applied:
                charger.not_applied = False
                self.log.record("setpoint_applied", charger=name, setpoint_a=written)
                self._trigger.set()
            return
        if now_s - charger.written_at_s < max(self.box_response_s, charger.not_applied_retry_s):
            return
        charger.force_write = True  # a rewrite; then again after a growing back-off
        charger.wake.set()
        charger.not_applied_retry_s = min(
            2 * max(charger.not_applied_retry_s, self.box_response_s), REFUSED_RETRY_MAX_S
        )
        if not charger.not_applied:
            charger.not_applied = True
            self.log.record(
                "setpoint_not_applied",
                charger=name,
                setpoint_a=written,
                limit_a=round(applied, 3),
                action="rewrite; booked at its read-back limit until it applies its limit",
            )
            self.status(
                f"charger {name}: acknowledged {written:g} A but applies {applied:g} A; "
                "rewriting, booked at the higher limit"
            )
            self._trigger.set()

    def _check_compliance(self, charger: _Charger, now_s: float) -> None:
        assert charger.read is not None
        charger.compliance, action = check_compliance(
            charger.compliance,
            setpoint_a=charger.written_a,
            measured_a=charger.read.measured_a,
            now_s=now_s,
            response_time_s=self.site.control.ev_response_allowance_s,
        )
        if action is Action.NONE:
            return
        name = charger.config.name
        details: dict[str, Any] = {
            "charger": name,
            "setpoint_a": charger.written_a,
            "measured_a": [round(x, 3) for x in charger.read.measured_a],
        }
        if action is Action.REWRITE:
            self.log.record("setpoint_ignored", action="rewrite", **details)
            charger.force_write = True
            charger.wake.set()
        elif action is Action.PAUSE:
            self.log.record("setpoint_ignored", action="pause", **details)
            charger.override_until_s = now_s + self.site.control.resume_delay_s
            self._trigger.set()
        else:
            self.log.record("alarm", problem="charger ignores its limit and its pause", **details)
            self.status(f"ALARM: charger {name} draws more than its limit and ignores the pause")

    async def _write_task(self, charger: _Charger) -> None:
        while True:
            interval = charger.client.keep_alive_interval_s
            timeout = interval if interval is not None else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await charger.wake.wait()
            charger.wake.clear()
            if self.shadow or not charger.online:
                continue
            await self._write_once(charger)

    async def _write_once(self, charger: _Charger) -> None:
        desired = charger.desired_a
        name = charger.config.name
        now_s = self.clock()
        if now_s < charger.retry_at_s:
            return  # a refused write is retried after its back-off (a wake is scheduled)
        setpoint = desired is not None and (charger.force_write or desired != charger.written_a)
        try:
            if setpoint:
                assert desired is not None
                charger.force_write = False
                charger.written_a = await charger.client.write_limit(desired)
                charger.written_at_s = self.clock()
                self.writes += 1
                # read it again once the car has had time to follow, so that the next telegram
                # is not set against a current the car drew before the change
                loop = asyncio.get_running_loop()
                loop.call_later(FOLLOW_CHECK_S, charger.poll_now.set)
                loop.call_later(self.box_response_s, charger.poll_now.set)
                charger.last_keep_alive_s = now_s
            else:
                interval = charger.client.keep_alive_interval_s
                if interval is None or now_s - charger.last_keep_alive_s < interval * 0.9:
                    return
                await charger.client.keep_alive()
                charger.last_keep_alive_s = now_s
        except ChargerUnsupported as exc:
            self.log.record("write_failed", charger=name, setpoint_a=desired, error=str(exc))
        except ChargerExceptionReply as exc:
            self._refused(charger, exc, desired if setpoint else None, now_s)
        except ChargerError as exc:
            charger.force_write = True
            if setpoint:
                self.log.record("write_failed", charger=name, setpoint_a=desired, error=str(exc))
            else:
                self.log.record("keep_alive_failed", charger=name, error=str(exc))
            self._went_offline(charger, exc)
        else:
            self._accepted(charger, setpoint)

    def _refused(
        self, charger: _Charger, exc: ChargerExceptionReply, setpoint_a: float | None, now_s: float
    ) -> None:
        """The box answered a write with a Modbus exception: it is online, its limit is not
        what we asked; booked conservatively (the core) and retried with back-off. One record
        per episode."""
        name = charger.config.name
        delay_s = charger.refused_backoff.next_delay_s()
        charger.retry_at_s = now_s + delay_s
        asyncio.get_running_loop().call_later(delay_s, charger.wake.set)
        if setpoint_a is None:
            if not charger.keep_alive_refused:
                charger.keep_alive_refused = True
                self.log.record(
                    "keep_alive_failed",
                    charger=name,
                    exception_code=exc.exception_code,
                    error=str(exc),
                )
                self.status(f"charger {name}: keep-alive refused: {exc}")
            return
        charger.force_write = True
        if charger.refused_code is None:
            charger.refused_code = exc.exception_code
            self.log.record(
                "write_refused",
                charger=name,
                setpoint_a=setpoint_a,
                exception_code=exc.exception_code,
                error=str(exc),
            )
            self.status(f"charger {name}: write refused: {exc}; retrying with back-off")
            self._trigger.set()

    def _accepted(self, charger: _Charger, setpoint: bool) -> None:
        """A write went through: a refusal episode ends."""
        charger.refused_backoff.reset()
        charger.retry_at_s = -math.inf
        if setpoint and charger.refused_code is not None:
            charger.refused_code = None
            self.log.record(
                "write_accepted", charger=charger.config.name, setpoint_a=charger.written_a
            )
            self._trigger.set()
        if not setpoint:
            charger.keep_alive_refused = False

    # ---- shutdown -------------------------------------------------------------------------

    async def _shutdown(self, failed: BaseException | None) -> None:
        safe_a = self.site.control.safe_current_a
        self.notifier.stopping(f"setting every charger to {safe_a:g} A")
        results: dict[str, Any] = {}
        self._start_safe_writes()  # already under way after a signal; now after an error
        if self._safe_writes is not None:
            results = await self._safe_writes
        for charger in self.chargers:
            with contextlib.suppress(ChargerError, OSError):
                await charger.client.close()
        self._flush_rejections()
        self.log.record(
            "shutdown",
            reason="internal error" if failed is not None else "signal",
            signal=self.stop_signal,
            safe_current_a=safe_a,
            chargers=results,
            valid_telegrams=self.valid_telegrams,
            rejected_telegrams=self.rejected_telegrams,
            log_dropped_records=self.log.dropped_total,
        )
        self.log.close()
        self.notifier.close()
        self.status("stopped")

    async def _make_all_safe(self, deadline_s: float) -> dict[str, Any]:
        """Every charger to ``safe_current_a`` by ``deadline_s``: what each acknowledged."""
        results: dict[str, Any] = {}
        safe_a = self.site.control.safe_current_a
        await asyncio.gather(
            *(self._make_safe(c, safe_a, deadline_s, results) for c in self.chargers)
        )
        return results

    async def _make_safe(
        self, charger: _Charger, safe_a: float, deadline_s: float, results: dict[str, Any]
    ) -> None:
        """Write ``safe_a`` to one charger, again and again until it is acknowledged or the
        budget is spent; each try may wait for the answer until the deadline (a slow box that
        answers in 2.5 s still gets its safe current). ``results`` gets what the box
        acknowledged, or why it did not.

        It uses a connection of its own, with no back-off: the running service's connection
        may be busy with a request the box is slow to answer, or waiting out a back-off, and
        this is the last chance to reach the box."""
        client = self._client_for(charger.config, retry_s=SHUTDOWN_RETRY_S)
        try:
            await self._make_safe_with(client, charger, safe_a, deadline_s, results)
        finally:
            with contextlib.suppress(ChargerError, OSError):
                await client.close()

    async def _make_safe_with(
        self,
        client: ChargerClient,
        charger: _Charger,
        safe_a: float,
        deadline_s: float,
        results: dict[str, Any],
    ) -> None:
        loop = asyncio.get_running_loop()
        attempts = 0
        error = "no answer in time"
        while (left_s := deadline_s - loop.time()) > 0.05:
            attempts += 1
            # the whole budget for this request (and the connection, if it must be reopened)
            client.request_timeout_s = client.connect_timeout_s = left_s
            try:
                async with asyncio.timeout(left_s):
                    results[charger.config.name] = await client.write_limit(safe_a)
                return
            except ChargerUnsupported as exc:
                error = str(exc)
                break
            except ChargerError as exc:
                error = str(exc)
            except TimeoutError:
                break
            await asyncio.sleep(min(SHUTDOWN_RETRY_S, max(deadline_s - loop.time(), 0.0)))
        tries = "try" if attempts == 1 else "tries"
        results[charger.config.name] = f"failed after {attempts} {tries}: {error}"


class _Stop(Exception):
    """Raised inside the TaskGroup to end it when a stop was asked for."""


def _finite(values: tuple[float | None, ...]) -> list[float | None]:
    """Currents for a record: rounded, and null where not available or not finite (JSON has
    no NaN or Infinity)."""
    return [None if v is None or not math.isfinite(v) else round(v, 3) for v in values]


def _iso(reading: Reading) -> str | None:
    return reading.meter_time.isoformat() if reading.meter_time is not None else None


def signal_name(signum: int) -> str:
    """``SIGUSR1``; ``SIGRTMIN+3`` for a real-time signal without a name of its own."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}"


def run_service(site: SiteConfig, *, shadow: bool) -> int:
    """``loadbalancer run``: the service until a signal stops it (SIGTERM, SIGINT and every
    other one that would end the process; SIGHUP reopens the log); the exit code."""

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        service = Service(site, shadow=shadow)

        def on_stop(signum: int) -> None:
            service.request_stop(signal_name(signum))
            stop.set()

        for signum in stop_signals():
            with contextlib.suppress(ValueError, OSError, RuntimeError):  # not on this kernel
                loop.add_signal_handler(signum, on_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, service.reopen_log)
        return await service.run(stop)

    # not asyncio.run: it waits, without a bound, for every task left over to end, and a
    # request the Modbus library keeps alive on a slow box's old connection held the exit past
    # the 5 s of SPEC §5 after the safe currents were already written and recorded
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        left = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left, timeout=EXIT_GRACE_S))
        loop.close()
