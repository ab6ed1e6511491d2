"""Each telegram's charger currents of the same moment, and the cuts that need not wait for them.

The house is the meter minus what the chargers draw, and both must be of one moment. When a
telegram comes, a box whose latest read may predate its car's following the last set-point (a
car still drawing its old current, or already the new one; within
:data:`~loadbalancer.link.FOLLOW_WINDOW_S` of that write) is read again at once (an OCPP box is
asked for MeterValues where it can be), and the telegram's decision waits for those reads, at
most :data:`FRESH_READ_WAIT_S`: set against the
old read, a lowered car's old current understated the house (a load that came with the telegram
went without its cut) and a raised car's old current overstated it (a cut for nothing). A box
whose read is not back by then counts at no more than its written limit, which can only
overstate the house.

A cut never waits for those reads (issue 20): with each awaited box counted at the most it may
draw (its read or its written limit, whichever is higher: the house at its lowest), the cuts
the core already makes for the fuse go out at once (:func:`early_cuts`); the exact decision
follows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial

from loadbalancer.control.decision import Decision
from loadbalancer.control.inputs import ChargerRead
from loadbalancer.control.reasons import Reason
from loadbalancer.electric import PHASE_IN_USE_A
from loadbalancer.link import ChargerLink

#: a telegram's decision waits at most this long for the boxes read again for it (a read on a
#: LAN takes milliseconds; a box slower than this counts at no more than its written limit)
FRESH_READ_WAIT_S = 0.5


class TelegramReads:
    """What each car drew when the latest telegram came; ``wake`` asks for the decision."""

    def __init__(self, links: Sequence[ChargerLink], wake: Callable[[], None]) -> None:
        self.links = links
        self.wake = wake
        self.measured: dict[str, tuple[float, ...]] = {}
        #: per box the limit it had acknowledged when the telegram came (its car drew no more,
        #: unless it had not followed a cut yet)
        self.limits: dict[str, float | None] = {}
        self.telegrams = 0  # telegrams that gave a new meter value
        #: the boxes read again for the latest telegram whose reads are not back yet
        self.awaiting: set[str] = set()
        #: a telegram came whose decision has not been taken yet
        self.pending = False

    def on_meter(self, cut_early: Callable[[], None]) -> None:
        """A telegram came: if some boxes are to be read again, ``cut_early`` first (its writes
        go out before those reads), then the reads are asked for; the decision comes when
        they are in, or after :data:`FRESH_READ_WAIT_S`. Otherwise the decision now."""
        self.telegrams += 1
        self.measured, self.limits = {}, {}
        for link in self.links:
            if link.read is not None:
                self.measured[link.name] = link.read.measured_a
                self.limits[link.name] = link.written_a
        self.awaiting = {link.name for link in self.links if link.following()}
        self.pending = True
        for link in self.links:  # a box that reports by itself, unasked: its last report, now
            if link.name in self.awaiting and link.reports_unasked():
                link.read_again_for(partial(self._book, link.name, self.telegrams))
        if not self.awaiting:  # nothing to wait for: no early cut, the decision now
            self.wake()
            return
        for link in self.links:
            link.cut_early = False
        cut_early()
        for link in self.links:
            if link.name in self.awaiting:
                link.read_again_for(partial(self._book, link.name, self.telegrams))
        asyncio.get_running_loop().call_later(FRESH_READ_WAIT_S, self._late, self.telegrams)

    def _book(self, name: str, telegram: int, measured_a: tuple[float, ...]) -> None:
        """The currents of a read asked for by telegram number ``telegram``: what the car drew
        then (unless a newer telegram came in the meantime); the decision once all are in."""
        if telegram != self.telegrams:
            return
        self.measured[name] = measured_a
        self.awaiting.discard(name)
        if not self.awaiting:
            self.wake()

    def _late(self, telegram: int) -> None:
        if telegram == self.telegrams and self.pending:
            self.wake()

    def take_pending(self) -> bool:
        """Whether a telegram's decision is due (and no longer, once asked)."""
        pending, self.pending = self.pending, False
        return pending

    def reads(self, *, lowest_house: bool = False) -> dict[str, ChargerRead]:
        """Each online charger's latest read, with the current it drew when the latest telegram
        came; a box whose fresh read is awaited counts at no more than the limit it had then,
        or with ``lowest_house`` at no less (the early cuts)."""
        reads = {}
        for link in self.links:
            measured = self.measured.get(link.name)
            limit_a = self.limits.get(link.name)
            if link.name in self.awaiting and measured is not None and limit_a is not None:
                measured = _bounded(measured, limit_a, lowest_house=lowest_house)
            read = link.booked_read(measured)
            if read is not None:
                reads[link.name] = read
        return reads


def _bounded(
    measured: tuple[float, ...], limit_a: float, *, lowest_house: bool
) -> tuple[float, ...]:
    """An awaited box's currents counted at no more than its limit, or with ``lowest_house``
    at no less on the phases its car draws on (all of them if it draws on none): a one-phase
    car counted at its limit on three phases looked like a three-phase one to the core, which
    then cut it for a share of the other phases (an early cut undone by the exact decision)."""
    if not lowest_house:
        return tuple(min(value, limit_a) for value in measured)
    drawing = [value >= PHASE_IN_USE_A for value in measured]
    if not any(drawing):
        drawing = [True] * len(measured)
    return tuple(
        max(value, limit_a) if draws else value
        for value, draws in zip(measured, drawing, strict=True)
    )


#: the reason of a cut the fuse needs (a share cut only moves current between cars; a pause
#: waits for the exact decision: one that the fresh reads undo would cost a contactor cycle)
_FUSE_CUTS = (Reason.OVERLOAD_CUT,)


def early_cuts(links: Sequence[ChargerLink], decision: Decision) -> dict[str, float]:
    """The cuts of ``decision`` (taken on the lowest house) that the fuse needs, written at
    once, by charger: an overload cut (not a pause) of a charger with a phase whose offers do
    not fit even that house.
    The state of that decision is not kept: the telegram's own decision is the one."""
    over = {
        phase
        for phase, allowed_a in decision.allowed_a.items()
        if allowed_a is not None
        and sum(c.previous_a or 0.0 for c in decision.chargers if phase in c.phases) > allowed_a
    }
    return {
        link.name: outcome.setpoint_a
        for link, outcome in zip(links, decision.chargers, strict=True)
        if outcome.reason in _FUSE_CUTS and over & set(outcome.phases) and link.cut_now(outcome)
    }
