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
  stderr and in systemd's status and tries the file again (:mod:`loadbalancer.records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadbalancer import __version__
from loadbalancer.chargers.driver import ChargerClient, ChargerReading
from loadbalancer.config import ChargerConfig, SiteConfig
from loadbalancer.control.compliance import Action, ComplianceState, check_compliance
from loadbalancer.control.core import decide
from loadbalancer.control.decision import Decision
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput
from loadbalancer.control.state import ControllerState, initial_state
from loadbalancer.errors import ChargerError, ChargerUnsupported, LoadBalancerError
from loadbalancer.meter.flood import FLOOD_QUIET_S, FloodEnd, FloodGuard
from loadbalancer.meter.parsers import make_meter_parser
from loadbalancer.meter.plausibility import site_implausible
from loadbalancer.meter.reading import Reading, Rejection
from loadbalancer.meter.rejections import RejectionTally
from loadbalancer.meter.sources import ChunkSource, open_source, redact_key
from loadbalancer.records import DecisionLog, open_decision_log, stderr_report
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
    ) -> None:
        self.site = site
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
        self.chargers = [
            _Charger(
                c,
                ChargerClient(
                    c.profile,
                    c.host,
                    c.port,
                    c.unit_id,
                    connect_timeout_s=connect_timeout_s,
                    request_timeout_s=request_timeout_s,
                    clock=clock,
                ),
            )
            for c in site.chargers
        ]
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

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        raise _Stop

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
        for fields in self._rejections.add(rejection, self.clock(), self.log.wall_clock()):
            self.log.record("meter_rejected", **fields)

    def _flush_rejections(self, now_s: float | None = None) -> None:
        """Write the ``meter_rejected`` records that are due (all of them when ``now_s`` is
        None)."""
        due = self._rejections.flush() if now_s is None else self._rejections.due(now_s)
        for fields in due:
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
            if outcome.reason == "charger_offline_reserved":
                # the core books the box at its failsafe current because it has no fresh read
                # of it: an assumption about the box, not an order; its last limit stands
                continue
            if setpoint != charger.desired_a:
                changed = True
                charger.desired_a = setpoint
                charger.wake.set()
        telegram = self._telegram_pending
        self._telegram_pending = False
        if telegram or changed or self.decisions == 0:
            self.log.record("decision", trigger="telegram" if telegram else "event", **records)
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
            if charger.read is None or not charger.online:
                continue
            at_meter = self._measured_at_meter.get(charger.config.name)
            read = charger.read
            if at_meter is not None and len(at_meter) == len(read.measured_a):
                read = ChargerRead(at_meter, read.status, read.online, read.read_s)
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
            if charger.online is not False:
                charger.online = False
                self.log.record("charger_offline", charger=name, error=str(exc))
                self.status(f"charger {name}: offline: {exc}")
                self._trigger.set()
            return
        now_s = self.clock()
        came_back = charger.online is not True
        spec = charger.config.spec
        previous = charger.read
        charger.reading = reading
        charger.read = ChargerRead(
            measured_a=reading.current_a[: len(spec.phases)],
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
                measured_a=list(charger.read.measured_a),
            )
            self.status(f"charger {name}: online ({charger.config.endpoint})")
            charger.force_write = True  # it may have restarted or fallen back: re-assert
            if charger.failsafe_due:
                await self._configure_failsafe(charger)
            charger.wake.set()
            self._trigger.set()
        elif previous is None or previous.status != reading.status:
            self._trigger.set()
        self._check_compliance(charger, now_s)

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
        try:
            if desired is not None and (charger.force_write or desired != charger.written_a):
                charger.force_write = False
                charger.written_a = await charger.client.write_limit(desired)
                self.writes += 1
                # read it again once the car has had time to follow, so that the next telegram
                # is not set against a current the car drew before the change
                asyncio.get_running_loop().call_later(FOLLOW_CHECK_S, charger.poll_now.set)
                charger.last_keep_alive_s = now_s
            else:
                interval = charger.client.keep_alive_interval_s
                if interval is not None and now_s - charger.last_keep_alive_s >= interval * 0.9:
                    await charger.client.keep_alive()
                    charger.last_keep_alive_s = now_s
        except ChargerUnsupported as exc:
            self.log.record("write_failed", charger=name, setpoint_a=desired, error=str(exc))
        except ChargerError as exc:
            charger.force_write = True
            self.log.record("write_failed", charger=name, setpoint_a=desired, error=str(exc))
            if charger.online:
                charger.online = False
                self.log.record("charger_offline", charger=name, error=str(exc))
                self.status(f"charger {name}: offline: {exc}")
                self._trigger.set()

    # ---- shutdown -------------------------------------------------------------------------

    async def _shutdown(self, failed: BaseException | None) -> None:
        safe_a = self.site.control.safe_current_a
        self.notifier.stopping(f"setting every charger to {safe_a:g} A")
        results: dict[str, Any] = {}
        if not self.shadow:
            deadline_s = asyncio.get_running_loop().time() + SHUTDOWN_WRITE_BUDGET_S
            await asyncio.gather(
                *(self._make_safe(c, safe_a, deadline_s, results) for c in self.chargers)
            )
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

    async def _make_safe(
        self, charger: _Charger, safe_a: float, deadline_s: float, results: dict[str, Any]
    ) -> None:
        """Write ``safe_a`` to one charger, again and again until it is acknowledged or the
        budget is spent; each try may wait for the answer until the deadline (a slow box that
        answers in 2.5 s still gets its safe current). ``results`` gets what the box
        acknowledged, or why it did not."""
        loop = asyncio.get_running_loop()
        client = charger.client
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

    return asyncio.run(main())
