"""One connected charger as the service runs it: a :class:`ChargerLink` per box.

The link owns what the shell knows of its charger between decisions, as named states: whether
it answers (:class:`Reach`), what is due on it (:class:`Due`), and the problem episodes under
way (:class:`Episode`, each logged once when it starts and once when it ends). It runs the
charger's poll and write tasks: reads (the plausibility gate, the read-back check and the
compliance watch, :mod:`loadbalancer.link_checks`), set-point writes, the keep-alive, the
failsafe on every (re)connection, and the one place a charger is marked offline.

It talks to its box only through the :class:`~loadbalancer.chargers.charger.Charger`
protocol: the Modbus TCP driver or an OCPP charge point of the service's central system,
chosen by the charger's protocol (:mod:`loadbalancer.charger_open`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from loadbalancer.backoff import BACKOFF_MAX_S, Backoff
from loadbalancer.chargers.charger import Charger, ChargerReading
from loadbalancer.config import ChargerConfig, SiteConfig
from loadbalancer.control.compliance import ComplianceState
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.inputs import ChargerRead
from loadbalancer.control.reasons import Reason
from loadbalancer.errors import ChargerError, ChargerExceptionReply, ChargerUnsupported
from loadbalancer.link_checks import check_applied, check_compliance, check_plausible, finite
from loadbalancer.link_state import Due, Episode, Reach
from loadbalancer.logwriter import DecisionLog
from loadbalancer.phase_switch import PhaseSequence, phase_sequence
from loadbalancer.waiting import woken_or_timed_out

Clock = Callable[[], float]
Status = Callable[[str], None]

#: a charger is read again this long after a new limit: the pilot signal changes within 5 s and
#: most cars follow within a few more
FOLLOW_CHECK_S = 5.0
#: a car may still follow a new limit this long after it was written (20 s or more is no rarity):
#: a read taken in this window is not set against a later telegram; the box is read again for it
FOLLOW_WINDOW_S = 60.0
#: a box shows a new limit in its read-back register within this (it applies it at once; the
#: car takes longer, which is the compliance rule's ``response_time_s``)
BOX_RESPONSE_S = 3.0
#: the core's outcomes that book a box it has no usable read of: an assumption about the box,
#: not an order to write
_BOOKED_ONLY = (Reason.CHARGER_OFFLINE_RESERVED, Reason.CHARGER_UNKNOWN_RESERVED)
#: issue 19: a switch decision is logged even when the set-point stays (a paused car)
_SWITCHES = (Reason.PHASE_SWITCH_DOWN, Reason.PHASE_SWITCH_UP)


@dataclass(frozen=True, slots=True)
class LinkContext:
    """What every link shares with the service."""

    site: SiteConfig
    log: DecisionLog
    status: Status
    clock: Clock
    #: ask the control task for a decision now
    wake_control: Callable[[], None]
    shadow: bool = False
    box_response_s: float = BOX_RESPONSE_S


@dataclass(eq=False)
class ChargerLink:
    """One charger's runtime: its state, its poll and write tasks."""

    config: ChargerConfig
    charger: Charger
    context: LinkContext
    reach: Reach = Reach.UNTRIED
    due: set[Due] = field(default_factory=lambda: {Due.SETPOINT, Due.FAILSAFE})
    episodes: set[Episode] = field(default_factory=set)
    read: ChargerRead | None = None
    reading: ChargerReading | None = None
    desired_a: float | None = None  # the set-point decided last
    written_a: float | None = None  # the set-point the box acknowledged last
    written_at_s: float | None = None  # when ``written_a`` was acknowledged
    #: when the latest read's currents were measured (the read's request, or the box's own
    #: time of them where it says, as OCPP's MeterValues)
    measured_s: float = -math.inf
    compliance: ComplianceState = field(default_factory=ComplianceState)
    last_keep_alive_s: float = -math.inf
    retry_at_s: float = -math.inf  # no write before this (back-off after a refusal)
    #: between retries of a refused write (doubles up to the maximum)
    refused_backoff: Backoff = field(default_factory=Backoff)
    #: between rewrites of a limit the box does not apply (from the box's response time)
    applied_backoff: Backoff = field(init=False)
    writes: int = 0  # set-points written (keep-alives not counted)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # the writer: something to do
    poll_now: asyncio.Event = field(default_factory=asyncio.Event)  # read before the next poll
    #: shared by the boxes behind one Modbus gateway: bounds their requests in flight
    gate: asyncio.Semaphore | None = None
    #: who gets the currents of the first read asked for at or after a time
    #: (:meth:`read_again_for`)
    _read_wanted: (
        tuple[float, Callable[[tuple[float, ...]], None], tuple[float | None, float | None]] | None
    ) = None
    #: cut by the latest telegram's early cuts (:meth:`cut_now`): not asked for a report for it
    cut_early: bool = False
    #: issue 19: its 1p/3p switching sequence (None: the box stays as wired)
    phase: PhaseSequence | None = field(init=False)

    def __post_init__(self) -> None:
        self.applied_backoff = Backoff(self.context.box_response_s, BACKOFF_MAX_S)
        context = self.context
        self.phase = phase_sequence(self.config, self.charger, context.log, context.clock)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def online(self) -> bool:
        return self.reach is Reach.ONLINE

    def _gated(self) -> contextlib.AbstractAsyncContextManager[object]:
        """A request to the box: through its gateway's bound, if it shares one."""
        return self.gate if self.gate is not None else contextlib.nullcontext()

    # ---- what the core gets and what it decided -------------------------------------------

    def following(self) -> bool:
        """Whether the latest read may predate the car's following the last set-point (it
        was taken before :data:`FOLLOW_WINDOW_S` after that write was over: a slow car's
        current may change between that read and the telegram)."""
        if self.read is None or self.written_at_s is None:
            return False
        return self.measured_s < self.written_at_s + FOLLOW_WINDOW_S

    def _measured_for_telegram(
        self,
        read: ChargerRead,
        written: tuple[float | None, float | None],
        follow_s: float = 0.0,
    ) -> tuple[float, ...]:
        """``read``'s currents for the telegram that asked for it: counted at no more than the
        limit written by then (``written``: that limit and when it was acknowledged) while
        they were measured before that write, or less than ``follow_s`` after it (a box that
        reports its currents only now and then: what it said may be the car's old current).
        A limit written after the telegram (an early cut) bounds nothing its car drew when
        the telegram came."""
        limit_a, written_at_s = written
        if (
            limit_a is not None
            and written_at_s is not None
            and self.measured_s < written_at_s + follow_s
        ):
            return tuple(min(value, limit_a) for value in read.measured_a)
        return read.measured_a

    def cut_now(self, outcome: ChargerDecision) -> bool:
        """Write the outcome's set-point at once if it is below what was decided last (an
        early cut, before the telegram's decision); True if it was."""
        desired_a = self.desired_a
        if outcome.reason in _BOOKED_ONLY or not self.online or desired_a is None:
            return False
        if outcome.setpoint_a >= desired_a:
            return False
        self.desired_a = outcome.setpoint_a
        self.cut_early = True
        self.wake.set()
        return True

    def reports_by_itself(self) -> bool:
        """Whether the box reports its currents by itself (OCPP MeterValues)."""
        return self.reading is not None and self.reading.measured_at_s is not None

    def reports_unasked(self) -> bool:
        """A box that reports by itself and cannot be asked for a report now: its last report
        is all a telegram gets (booked at once, nothing to wait for)."""
        can_ask: Callable[[], bool] | None = getattr(self.charger, "can_be_asked", None)
        return self.reports_by_itself() and (can_ask is None or not can_ask())

    def read_again_for(self, booked: Callable[[tuple[float, ...]], None]) -> None:
        """Read the box now; ``booked`` gets the currents of the first read measured from now
        on (not one already under way, nor a box's report from before; see
        :meth:`_measured_for_telegram`), unless the box stops answering first."""
        written = (self.written_a, self.written_at_s)
        if self.read is not None and self.reports_by_itself():
            # a box that reports by itself (OCPP MeterValues): asked for a report where it can
            # be (not after an early cut's write: it may show the car after that cut), whose
            # currents are booked when it comes; else its last report, which may predate its
            # car's following the last limit: no more than that limit
            ask: Callable[[], bool] | None = getattr(self.charger, "ask_meter_values_now", None)
            if ask is None or self.cut_early or not ask():
                booked(self._measured_for_telegram(self.read, written, FOLLOW_WINDOW_S))
                return
        self._read_wanted = (self.context.clock(), booked, written)
        self.poll_now.set()

    def booked_read(self, measured_at_meter: tuple[float, ...] | None) -> ChargerRead | None:
        """The read the core gets (None while offline): the limit the box may apply, whether
        it obeys, whether the car ignores its limit, and the currents it drew when the meter's
        latest telegram came (house = meter - measured only holds for the same moment)."""
        if self.read is None or not self.online:
            return None
        limits = [self.written_a]
        if self.reading is not None:
            limits.append(self.reading.limit_a)
        known = [value for value in limits if value is not None]
        read = replace(
            self.read,
            limit_a=max(known) if known else None,
            controlled=not self.episodes & {Episode.WRITE_REFUSED, Episode.NOT_APPLIED},
            ignores_limit=self.compliance.stage >= 2 and self.compliance.over_since_s is not None,
        )
        if measured_at_meter is not None and len(measured_at_meter) == len(read.measured_a):
            read = replace(read, measured_a=measured_at_meter)
        return read if self.phase is None else self.phase.booked(read)

    def decided(self, outcome: ChargerDecision) -> bool:
        """The core's outcome for this charger; True if its set-point changed or it is a phase
        switch (the service logs the decision then)."""
        if self.compliance.stage >= 2 and outcome.reason is not Reason.SETPOINT_IGNORED_PAUSE:
            self.compliance = ComplianceState()  # the core's pause is over: a new watch
        if self.phase is not None and self.phase.wants(outcome.phase_count):
            self.wake.set()  # the switching sequence is due (issue 19)
        if outcome.reason in _BOOKED_ONLY or outcome.setpoint_a == self.desired_a:
            return outcome.reason in _SWITCHES
        self.desired_a = outcome.setpoint_a
        self.wake.set()
        return True

    # ---- reading --------------------------------------------------------------------------

    async def poll_task(self) -> None:
        while True:
            await woken_or_timed_out(self.poll_now, self.context.site.poll_interval_s)
            await self.poll_once()

    async def poll_once(self) -> None:
        asked_s = self.context.clock()
        try:
            async with self._gated():
                reading = await self.charger.read(failsafe=False)
        except ChargerError as exc:
            self._read_wanted = None
            self.went_offline(exc)
            return
        now_s = self.context.clock()
        came_back = self.reach is not Reach.ONLINE
        previous = self.read
        self.reading = reading
        self.measured_s = asked_s if reading.measured_at_s is None else reading.measured_at_s
        measured = reading.current_a[: len(self.config.spec.phases)]
        self.read = ChargerRead(
            # "not available" reaches the core as NaN, which its plausibility gate refuses
            measured_a=tuple(math.nan if value is None else value for value in measured),
            status=reading.status,
            online=True,
            read_s=now_s,
        )
        self.reach = Reach.ONLINE
        if came_back:
            await self._came_back(reading)
        elif previous is None or previous.status != reading.status:
            self.context.wake_control()
        if self.phase is not None and self.phase.after_read(self.read, now_s):
            self.context.wake_control()
        if check_plausible(self, measured):
            check_applied(self, now_s)
            check_compliance(self, now_s)
        wanted = self._read_wanted
        if wanted is not None and self.measured_s >= wanted[0]:
            self._read_wanted = None
            wanted[1](self._measured_for_telegram(self.read, wanted[2]))

    async def _came_back(self, reading: ChargerReading) -> None:
        assert self.read is not None
        self.context.log.record(
            "charger_online",
            charger=self.name,
            status=reading.status,
            measured_a=finite(self.read.measured_a),
        )
        self.context.status(f"charger {self.name}: online ({self.config.endpoint})")
        self.due.add(Due.SETPOINT)  # it may have restarted or fallen back: re-assert
        if self.phase is not None:
            await self.phase.refresh()
        if Due.FAILSAFE in self.due:
            await self.configure_failsafe()
        self.wake.set()
        self.context.wake_control()

    def went_offline(self, exc: ChargerError) -> None:
        """No answer: offline (once per episode); its failsafe is configured again when it
        answers (it may have restarted and lost it)."""
        self.due.add(Due.FAILSAFE)
        if self.reach is not Reach.OFFLINE:
            self.reach = Reach.OFFLINE
            self.context.log.record("charger_offline", charger=self.name, error=str(exc))
            self.context.status(f"charger {self.name}: offline: {exc}")
            self.context.wake_control()

    async def configure_failsafe(self) -> None:
        self.due.discard(Due.FAILSAFE)
        log, name = self.context.log, self.name
        if self.context.shadow:
            log.record("failsafe_unverified", charger=name, reason="shadow mode: not written")
            return
        site = self.context.site
        try:
            async with self._gated():
                result = await self.charger.configure_failsafe(
                    site.control.safe_current_a, site.failsafe_timeout_s
                )
        except ChargerError as exc:
            self.due.add(Due.FAILSAFE)
            log.record("failsafe_unverified", charger=name, reason=str(exc))
            self.context.status(f"charger {name}: failsafe not configured: {exc}")
            return
        settings = {"current_a": result.settings.current_a, "timeout_s": result.settings.timeout_s}
        if result.verified:
            log.record("failsafe_configured", charger=name, **settings)
        else:
            log.record("failsafe_unverified", charger=name, reason=result.reason, **settings)
            self.context.status(f"charger {name}: failsafe unverified: {result.reason}")

    # ---- writing --------------------------------------------------------------------------

    async def write_task(self) -> None:
        while True:
            await woken_or_timed_out(self.wake, self.charger.keep_alive_interval_s)
            if self.context.shadow or not self.online:
                continue
            await self.write_once()

    async def write_once(self) -> None:
        desired = self.desired_a
        now_s = self.context.clock()
        if now_s < self.retry_at_s:
            return  # a refused write is retried after its back-off (a wake is scheduled)
        if self.phase is not None and self.phase.due():  # issue 19: the switch first
            await self.phase.run(lambda: self._write_setpoint(0.0, self.context.clock()))
            self.due.add(Due.SETPOINT)
            self.context.wake_control()
            return
        setpoint = desired is not None and (Due.SETPOINT in self.due or desired != self.written_a)
        log = self.context.log
        try:
            if desired is not None and setpoint:
                await self._write_setpoint(desired, now_s)
            elif not await self._keep_alive(now_s):
                return
        except ChargerUnsupported as exc:
            log.record("write_failed", charger=self.name, setpoint_a=desired, error=str(exc))
        except ChargerExceptionReply as exc:
            self._refused(exc, desired if setpoint else None, now_s)
        except ChargerError as exc:
            self.due.add(Due.SETPOINT)
            if setpoint:
                log.record("write_failed", charger=self.name, setpoint_a=desired, error=str(exc))
            else:
                log.record("keep_alive_failed", charger=self.name, error=str(exc))
            self.went_offline(exc)
        else:
            self._accepted(setpoint)

    async def _write_setpoint(self, desired_a: float, now_s: float) -> None:
        self.due.discard(Due.SETPOINT)
        async with self._gated():
            self.written_a = await self.charger.write_limit(desired_a)
        self.written_at_s = self.context.clock()
        self.writes += 1
        if self.phase is not None:
            self.phase.offered(self.written_a, self.written_at_s)
        # read it again once the car has had time to follow, so that the next telegram is not
        # set against a current the car drew before the change
        loop = asyncio.get_running_loop()
        loop.call_later(FOLLOW_CHECK_S, self.poll_now.set)
        loop.call_later(self.context.box_response_s, self.poll_now.set)
        self.last_keep_alive_s = now_s

    async def _keep_alive(self, now_s: float) -> bool:
        """The keep-alive, if it is due; False if it was not."""
        interval = self.charger.keep_alive_interval_s
        if interval is None or now_s - self.last_keep_alive_s < interval * 0.9:
            return False
        async with self._gated():
            await self.charger.keep_alive()
        self.last_keep_alive_s = now_s
        return True

    def _refused(self, exc: ChargerExceptionReply, setpoint_a: float | None, now_s: float) -> None:
        """The box answered a write with a Modbus exception: it is online, its limit is not
        what we asked; booked conservatively (the core) and retried with back-off. One record
        per episode."""
        name, log = self.name, self.context.log
        delay_s = self.refused_backoff.next_delay_s()
        self.retry_at_s = now_s + delay_s
        asyncio.get_running_loop().call_later(delay_s, self.wake.set)
        if setpoint_a is None:
            if Episode.KEEP_ALIVE_REFUSED not in self.episodes:
                self.episodes.add(Episode.KEEP_ALIVE_REFUSED)
                log.record(
                    "keep_alive_failed",
                    charger=name,
                    exception_code=exc.exception_code,
                    error=str(exc),
                )
                self.context.status(f"charger {name}: keep-alive refused: {exc}")
            return
        self.due.add(Due.SETPOINT)
        if Episode.WRITE_REFUSED not in self.episodes:
            self.episodes.add(Episode.WRITE_REFUSED)
            log.record(
                "write_refused",
                charger=name,
                setpoint_a=setpoint_a,
                exception_code=exc.exception_code,
                error=str(exc),
            )
            self.context.status(f"charger {name}: write refused: {exc}; retrying with back-off")
            self.context.wake_control()

    def _accepted(self, setpoint: bool) -> None:
        """A write went through: a refusal episode ends."""
        self.refused_backoff.reset()
        self.retry_at_s = -math.inf
        if setpoint and Episode.WRITE_REFUSED in self.episodes:
            self.episodes.discard(Episode.WRITE_REFUSED)
            self.context.log.record("write_accepted", charger=self.name, setpoint_a=self.written_a)
            self.context.wake_control()
        if not setpoint:
            self.episodes.discard(Episode.KEEP_ALIVE_REFUSED)
