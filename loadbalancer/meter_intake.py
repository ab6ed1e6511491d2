"""The service's meter input: bytes from the source, through the parser and the plausibility
gate, to the meter value the core decides on.

It owns the source, the parser, the flood guard, the tally of rejected telegrams and the stale
rule's episode (``meter_stale`` / ``meter_recovered``): a meter silent, or sending only invalid
telegrams, for ``stale_after_s`` is stale, and the core then sets every charger to
``safe_current_a``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from loadbalancer.config import SiteConfig
from loadbalancer.control.inputs import MeterInput
from loadbalancer.errors import LoadBalancerError
from loadbalancer.logwriter import DecisionLog
from loadbalancer.meter.flood import FLOOD_QUIET_S, FloodEnd, FloodGuard
from loadbalancer.meter.parsers import make_meter_parser
from loadbalancer.meter.plausibility import site_implausible
from loadbalancer.meter.reading import Reading, Rejection
from loadbalancer.meter.rejections import RejectionTally, reason_kind
from loadbalancer.meter.sources import ChunkSource, open_source

Clock = Callable[[], float]
Status = Callable[[str], None]

#: the meter task parses at most this much before it lets the loop run timers and polls
METER_SLICE_BYTES = 4096
#: while a flooding source's bytes are dropped, it is read at most every this long
FLOOD_READ_PAUSE_S = 0.001
#: a source that failed to open is tried again after this long
REOPEN_AFTER_S = 60.0


class MeterIntake:
    """The latest usable meter value (``meter``), its age and the counts of telegrams.

    ``on_meter`` is called after each telegram that gives the core a new meter value."""

    def __init__(
        self,
        site: SiteConfig,
        log: DecisionLog,
        status: Status,
        clock: Clock,
        source: ChunkSource | None,
        on_meter: Callable[[], None],
    ) -> None:
        self.site = site
        self.log = log
        self.status = status
        self.clock = clock
        self.on_meter = on_meter
        self.source = (
            source
            if source is not None
            else open_source(
                site.meter.source, notify=status, paced=True, period_s=site.meter.telegram_period_s
            )
        )
        self.parser = make_meter_parser(site.meter.protocol, site.meter.options)
        self.meter: MeterInput | None = None
        self.meter_stale = False
        self.valid_telegrams = 0
        self.rejected_telegrams = 0
        #: rejected telegrams by kind of reason (``bad CRC``, ``implausible``, …)
        self.rejected_by_kind: Counter[str] = Counter()
        self._rejections = RejectionTally()
        self._started_s = clock()
        #: called with every valid reading, currents or not (the capacity tariff's register)
        self.on_valid: Callable[[Reading], None] | None = None

    # ---- the task -------------------------------------------------------------------------

    async def run(self) -> None:
        flood = FloodGuard(self.clock, quiet_s=FLOOD_QUIET_S)
        watch = asyncio.create_task(self._flood_watch(flood), name="meter flood watch")
        try:
            while True:
                try:
                    async for chunk in self.source.chunks():
                        await self._chunk(chunk, flood)
                except LoadBalancerError as exc:
                    self.status(f"meter: {exc}")
                    await asyncio.sleep(REOPEN_AFTER_S)  # the source failed to open
                    continue
                # a replayed file ended: the meter is silent from now on (the stale rule
                # applies); replaying it again would send its counters backwards
                self.status("meter: the capture ended; no more telegrams")
                await asyncio.Future()
        finally:
            watch.cancel()
            self._flood_ended(flood.finish())

    async def _chunk(self, chunk: bytes, flood: FloodGuard) -> None:
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
                        self.on_reading(event)
                else:
                    self.on_rejection(event)
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

    # ---- one telegram ---------------------------------------------------------------------

    def on_reading(self, reading: Reading) -> None:
        # the site-aware half of the plausibility gate: the parser cannot know the fuse
        problem = site_implausible(reading.current_a, self.site.fuse.rating_a)
        if problem is not None:
            reason = f"implausible: {problem}"
            self.on_rejection(
                Rejection(reading.received_s, reason, reading.size_bytes, reading.header)
            )
            return
        self.valid_telegrams += 1
        if self.on_valid is not None:
            self.on_valid(reading)
        if all(current is None for current in reading.current_a):
            # a list without currents (Kaifa and Aidon list 1: power only, every 2 s between
            # the full lists): nothing to control on, and it must not hide the last currents
            return
        self.meter = MeterInput.from_reading(reading)
        if self.meter_stale:
            self.meter_stale = False
            meter_time = reading.meter_time.isoformat() if reading.meter_time is not None else None
            self.log.record("meter_recovered", meter_time=meter_time)
            self.status("meter: valid telegrams again, normal control")
        self.on_meter()

    def on_rejection(self, rejection: Rejection) -> None:
        self.rejected_telegrams += 1
        self.rejected_by_kind[reason_kind(rejection.reason)] += 1
        # one record per reason per minute, with counts: a flood must not fill the disk
        self._record_rejections(
            self._rejections.add(rejection, self.clock(), self.log.wall_clock())
        )

    def flush_rejections(self, now_s: float | None = None) -> None:
        """Write the ``meter_rejected`` records that are due (all of them when ``now_s`` is
        None)."""
        self._record_rejections(
            self._rejections.flush() if now_s is None else self._rejections.due(now_s)
        )

    def _record_rejections(self, windows: list[dict[str, Any]]) -> None:
        for fields in windows:
            self.log.record("meter_rejected", **fields)

    # ---- the stale rule -------------------------------------------------------------------

    def age_s(self, now_s: float) -> float | None:
        return None if self.meter is None else now_s - self.meter.received_s

    def check_stale(self, now_s: float) -> None:
        age = self.age_s(now_s)
        stale_after_s = self.site.meter.stale_after_s
        stale = age is None or age > stale_after_s
        # before the first telegram the meter counts as stale only once stale_after_s has passed
        waited = age is not None or now_s - self._started_s > stale_after_s
        if stale and not self.meter_stale and waited:
            self.meter_stale = True
            self.log.record(
                "meter_stale",
                meter_age_s=None if age is None else round(age, 3),
                rejected_telegrams=self.rejected_telegrams,
            )
            self.status(
                f"meter: no valid telegram for {stale_after_s:g} s, every charger "
                f"to {self.site.control.safe_current_a:g} A"
            )

    def stale_in_s(self, now_s: float) -> float | None:
        """How long until the stale rule may fire (None: no telegram yet, or already stale)."""
        age = self.age_s(now_s)
        if age is None or self.meter_stale:
            return None
        return max(self.site.meter.stale_after_s - age, 0.0)
