"""``loadbalancer run``: the meter reader, the charger links and the control step, in one
asyncio TaskGroup.

This is the only place where the parts meet: it owns the event loop, the clock, the control
timer, the watchdog, the signals and systemd. Decisions come from the pure core
(:func:`loadbalancer.control.core.decide`); the fault handling that needs I/O lives
beside it (the fault table: docs/ARCHITECTURE.md §Faults and what the service does):

* the meter (:mod:`loadbalancer.meter_intake`): silent or only invalid telegrams for
  ``stale_after_s``, and the core sets every charger to ``safe_current_a``; ``meter_stale`` /
  ``meter_recovered`` records mark the episode;
* each charger (:mod:`loadbalancer.link`): offline and online again, its failsafe and
  keep-alive, a refused or unapplied limit, a car that ignores its limit (a rewrite, then the
  core's pause, then an ``alarm``);
* SIGTERM/SIGINT and every other signal that would end the process (:mod:`loadbalancer.shutdown`):
  every reachable charger to ``safe_current_a``, retried within the shutdown budget, a
  ``shutdown`` record with what each box acknowledged, exit 0; SIGHUP reopens the decision log
  and control goes on;
* a capacity tariff (a ``tariff:`` section, :mod:`loadbalancer.tariff_intake`): each valid
  telegram's register on the wall clock, the running interval for each decision, the month's
  peaks in a state file;
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
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loadbalancer.charger_open import OpenedCharger, gateway_gates, open_charger
from loadbalancer.chargers.modbus import CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S
from loadbalancer.config import ChargerConfig, SiteConfig
from loadbalancer.control.core import decide
from loadbalancer.control.decision import Decision
from loadbalancer.control.inputs import Inputs, TariffInput
from loadbalancer.control.state import ControllerState, initial_state
from loadbalancer.errors import ChargerError, UsageError
from loadbalancer.fresh_reads import TelegramReads, early_cuts
from loadbalancer.link import BOX_RESPONSE_S, ChargerLink, LinkContext
from loadbalancer.logwriter import DecisionLog, open_decision_log, stderr_report
from loadbalancer.meter.sources import ChunkSource, redact_key
from loadbalancer.meter_intake import MeterIntake
from loadbalancer.ocpp.site import (
    MISSING_EXTRA,
    OCPP_REQUEST_TIMEOUT_S,
    OcppChargerConfig,
    libraries_installed,
)
from loadbalancer.records import validated
from loadbalancer.sdnotify import Notifier
from loadbalancer.shutdown import (
    EXIT_GRACE_S,
    SHUTDOWN_RETRY_S,
    SHUTDOWN_WRITE_BUDGET_S,
    make_all_safe,
    signal_name,
    stop_signals,
)
from loadbalancer.startup_record import startup_fields
from loadbalancer.waiting import woken_or_timed_out

if TYPE_CHECKING:
    from loadbalancer.mqtt.bridge import MqttBridge
    from loadbalancer.ocpp.central import CentralSystem
    from loadbalancer.tariff_intake import TariffIntake

Clock = Callable[[], float]
Status = Callable[[str], None]

#: the control loop runs at least this often (stale detection, watchdog) even with no events
CONTROL_TICK_S = 1.0

#: one line on stderr; never raises (a terminal that hung up must not stop control)
stderr_status = stderr_report


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
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        box_response_s: float = BOX_RESPONSE_S,
        wall_clock: Clock = time.time,
        ocpp_timeout_s: float = OCPP_REQUEST_TIMEOUT_S,
    ) -> None:
        self.site = site
        self.shadow = shadow
        self.log = log if log is not None else open_decision_log(site.decisions_path)
        self.log.report = self._log_report
        self.notifier = notifier if notifier is not None else Notifier()
        self.status = status
        self.clock = clock
        self.intake = MeterIntake(site, self.log, status, clock, source, self._on_meter)
        #: the capacity tariff (issue 15), only with a ``tariff:`` section; on the wall clock
        self.tariff = _tariff_intake(site, self.log, status, clock, wall_clock)
        self.last_tariff: TariffInput | None = None  # what the last decision was given
        if self.tariff is not None:
            self.intake.on_valid = self.tariff.on_reading
        self._timeouts_s = (connect_timeout_s, request_timeout_s)
        context = LinkContext(
            site, self.log, status, clock, self._trigger_step, shadow, box_response_s
        )
        #: issue 18: the OCPP central system, only where a charger speaks OCPP
        self.central = _central_system(site, self.log, status, clock, ocpp_timeout_s)
        self._gates = gateway_gates(site.chargers)  # issue 20: boxes behind one gateway
        self.links = [self._link(c, context) for c in site.chargers]
        #: the shutdown's safe-current writes, started the moment a stop is asked for
        self._safe_writes: asyncio.Task[dict[str, Any]] | None = None
        self.state: ControllerState = initial_state(site.control)
        #: the name of the signal that stopped the service (None: not stopped by a signal)
        self.stop_signal: str | None = None
        self.decisions = 0
        self.last_decision: Decision | None = None
        self._trigger = asyncio.Event()
        #: each telegram's charger currents of the same moment (issue 20: and early cuts)
        self.fresh = TelegramReads(self.links, self._trigger.set)
        self._ready = False
        self._chargers_tried = False
        self._last_watchdog_s = -math.inf
        self.started_s = clock()
        #: when the control loop last stepped (``/livez``; None: not yet)
        self.last_step_s: float | None = None
        #: called with each decision (the HTTP status's events and counters)
        self.decision_listeners: list[Callable[[Decision], None]] = []
        self.mqtt = _mqtt_bridge(self)

    @property
    def writes(self) -> int:
        """Set-points written to the chargers (keep-alives not counted)."""
        return sum(link.writes for link in self.links)

    # ---- the run --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Run until ``stop`` is set; returns the exit code (0 after a clean shutdown)."""
        self.log.record("startup", **startup_fields(self.site, self.shadow))
        if self.tariff is not None:
            self.tariff.start()
        mode = " in shadow mode (no writes)" if self.shadow else ""
        meter = redact_key(self.site.meter.source.url)
        self.status(f"started{mode}: {len(self.links)} charger(s), meter {meter}")
        failed: BaseException | None = None
        if self.central is not None:
            await self.central.start()  # before the links' first reads; closed after the shutdown's
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.intake.run(), name="meter")
                group.create_task(self._control_task(), name="control")
                group.create_task(self._startup_chargers(), name="startup")
                for link in self.links:
                    group.create_task(link.poll_task(), name=f"poll {link.name}")
                    group.create_task(link.write_task(), name=f"write {link.name}")
                group.create_task(self._stop_on(stop), name="stop")
                if self.site.http is not None:  # issue 16: off by default, nothing imported
                    from loadbalancer.http.server import serve_http

                    group.create_task(serve_http(self, self.site.http), name="http")
                if self.mqtt is not None:
                    group.create_task(self.mqtt.run(), name="mqtt")
        except* _Stop:
            pass
        except* Exception as errors:  # a bug: still leave the chargers safe, then fail
            failed = errors.exceptions[0]
            self.status(f"internal error: {failed!r}; setting safe currents and stopping")
        await self._shutdown(failed)
        return 0 if failed is None else 1

    def _link(self, charger: ChargerConfig, context: LinkContext) -> ChargerLink:
        if not isinstance(charger, OcppChargerConfig):
            gate = self._gates.get(charger.name)
            return ChargerLink(charger, self._client_for(charger), context, gate=gate)
        # an OCPP limit may take the profile's time to show; the charge point's news (a value,
        # a dropped connection) has its link read it at once
        verify_s = charger.profile.writes.verify_s
        link = ChargerLink(
            charger, self._client_for(charger), replace(context, box_response_s=verify_s)
        )
        assert self.central is not None
        self.central.chargers[charger.key].notify = link.poll_now.set
        return link

    def _client_for(self, charger: ChargerConfig, *, retry_s: float | None = None) -> OpenedCharger:
        connect_s, request_s = self._timeouts_s
        ocpp = self.central.chargers if self.central is not None else None
        return open_charger(
            charger,
            ocpp,
            connect_timeout_s=connect_s,
            request_timeout_s=request_s,
            clock=self.clock,
            retry_s=retry_s,
        )

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        # the safe currents go out now, while the other tasks wind down: a request still in
        # flight on a slow box must not eat the shutdown's budget (a stop must exit within 5 s)
        self._start_safe_writes()
        raise _Stop

    def _start_safe_writes(self) -> None:
        if self._safe_writes is None and not self.shadow:
            deadline_s = asyncio.get_running_loop().time() + SHUTDOWN_WRITE_BUDGET_S
            self._safe_writes = asyncio.create_task(
                make_all_safe(
                    self.site.chargers,
                    lambda c: self._client_for(c, retry_s=SHUTDOWN_RETRY_S),
                    self.site.control.safe_current_a,
                    deadline_s,
                )
            )

    async def _startup_chargers(self) -> None:
        await asyncio.gather(*(link.poll_once() for link in self.links))
        self._chargers_tried = True
        self._trigger.set()

    def _on_meter(self) -> None:
        """A telegram gave a new meter value: what each car drew when it came, and a decision
        (:mod:`loadbalancer.fresh_reads`: it may wait for fresh reads; its cuts do not)."""
        self.fresh.on_meter(self._cut_early)

    def _cut_early(self) -> None:
        """The cuts for the fuse on the lowest house the awaited reads allow, written now."""
        if self.shadow:
            return
        control, paused = self.site.control, frozenset[str]()
        if self.mqtt is not None:
            control, paused = self.mqtt.commanded()
        reads = self.fresh.reads(lowest_house=True)
        inputs = Inputs(meter=self.intake.meter, chargers=reads, paused=paused)
        _, decision = decide(self.state, inputs, control, self.clock())  # state not kept
        cuts = early_cuts(self.links, decision)
        if cuts:
            self.log.record("early_cut", chargers=cuts, awaiting=sorted(self.fresh.awaiting))

    def _trigger_step(self) -> None:
        self._trigger.set()

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

    # ---- control --------------------------------------------------------------------------

    async def _control_task(self) -> None:
        while True:
            await woken_or_timed_out(self._trigger, self._next_wake_s())
            self.step()

    def _next_wake_s(self) -> float:
        wake = CONTROL_TICK_S
        if self.notifier.watchdog_interval_s is not None:
            wake = min(wake, self.notifier.watchdog_interval_s)
        stale_in_s = self.intake.stale_in_s(self.clock())
        if stale_in_s is not None:
            wake = min(wake, stale_in_s + 0.001)
        return wake

    def step(self) -> Decision:
        """One control decision: decide, log, hand set-points to the links, ping systemd."""
        now_s = self.clock()
        self.intake.flush_rejections(now_s)
        self.intake.check_stale(now_s)
        control, paused = self.site.control, frozenset[str]()
        if self.mqtt is not None:  # commands from Home Assistant (issue 17): inputs of the core
            control, paused = self.mqtt.commanded()
        tariff = self._tariff_input(now_s)
        inputs = Inputs(
            meter=self.intake.meter, chargers=self.fresh.reads(), tariff=tariff, paused=paused
        )
        self.state, decision = decide(self.state, inputs, control, now_s)
        changed = False
        for link, outcome in zip(self.links, decision.chargers, strict=True):
            changed = link.decided(outcome) or changed
        telegram = self.fresh.take_pending()
        if telegram or changed or self.decisions == 0:
            trigger = "telegram" if telegram else "event"
            fields = decision.to_record()
            if tariff is not None and self.tariff is not None:
                phases = self.site.fuse.phases
                fields["tariff"] = self.tariff.decision_fields(tariff, decision, phases, now_s)
            self.log.write(validated("decision", trigger=trigger, **fields))
        self.decisions += 1
        self.last_decision, self.last_tariff = decision, tariff
        self.last_step_s = now_s
        for listener in self.decision_listeners:
            listener(decision)
        self._watchdog(now_s)
        return decision

    def _tariff_input(self, now_s: float) -> TariffInput | None:
        """The capacity tariff's running interval for the core (None: none, or not limited)."""
        if self.tariff is None:
            return None
        latest = {link.name: link.read for link in self.links if link.read is not None}
        return self.tariff.input(now_s, latest)

    def _watchdog(self, now_s: float) -> None:
        if not self._ready and self.intake.meter is not None and self._chargers_tried:
            self._ready = True
            online = sum(1 for link in self.links if link.online)
            self.notifier.ready(f"controlling {online}/{len(self.links)} chargers")
            self.status(f"ready: meter ok, {online}/{len(self.links)} chargers online")
        interval = self.notifier.watchdog_interval_s
        if interval is not None and now_s - self._last_watchdog_s >= interval / 2:
            self._last_watchdog_s = now_s
            self.notifier.watchdog()

    # ---- shutdown -------------------------------------------------------------------------

    async def _shutdown(self, failed: BaseException | None) -> None:
        safe_a = self.site.control.safe_current_a
        self.notifier.stopping(f"setting every charger to {safe_a:g} A")
        results: dict[str, Any] = {}
        self._start_safe_writes()  # already under way after a signal; now after an error
        if self._safe_writes is not None:
            results = await self._safe_writes
        for link in self.links:
            with contextlib.suppress(ChargerError, OSError):
                await link.charger.close()
        if self.central is not None:
            await self.central.close()
        self.intake.flush_rejections()
        self.log.record(
            "shutdown",
            reason="internal error" if failed is not None else "signal",
            signal=self.stop_signal,
            safe_current_a=safe_a,
            chargers=results,
            valid_telegrams=self.intake.valid_telegrams,
            rejected_telegrams=self.intake.rejected_telegrams,
            log_dropped_records=self.log.dropped_total,
        )
        self.log.close()
        self.notifier.close()
        self.status("stopped")


def _tariff_intake(
    site: SiteConfig, log: DecisionLog, status: Status, clock: Clock, wall_clock: Clock
) -> TariffIntake | None:
    """The capacity tariff's intake, only with a ``tariff:`` section (imported only then)."""
    if site.tariff is None:
        return None
    from loadbalancer.tariff_intake import TariffIntake

    return TariffIntake(site, log, status, clock, wall_clock)


def _central_system(
    site: SiteConfig, log: DecisionLog, status: Status, clock: Clock, timeout_s: float
) -> CentralSystem | None:
    """The OCPP central system, only where a charger speaks OCPP (the library is imported
    only then)."""
    if site.ocpp is None:
        return None
    if not libraries_installed():
        raise UsageError(f"{site.file}: ocpp: {MISSING_EXTRA}")
    from loadbalancer.ocpp.central import central_for

    return central_for(site, log=log, status=status, clock=clock, request_timeout_s=timeout_s)


def _mqtt_bridge(service: Service) -> MqttBridge | None:
    """MQTT and Home Assistant (issue 17): off by default, nothing of it imported."""
    if service.site.mqtt is None:
        return None
    from loadbalancer.mqtt.bridge import MqttBridge

    return MqttBridge(service, service.site.mqtt)


class _Stop(Exception):
    """Raised inside the TaskGroup to end it when a stop was asked for."""


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
    # the 5 s a stop may take after the safe currents were already written and recorded
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
