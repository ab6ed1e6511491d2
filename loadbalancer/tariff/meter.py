"""Each interval's energy from the meter's import register (pure: the caller passes the time).

The bill uses the meter's import register (OBIS 1-0:1.8.0) read at interval edges, so the
energy of an interval is the register at its end minus the register at its start. An edge
falls between two telegrams; the register there is interpolated from the two readings around
it, and counts as measured when they are at most ``max_gap_s`` apart. When they are not (the
meter was silent, a telegram at the edge was lost, or the meter sends its register only now and
then, like list 3 of Kamstrup and Aidon), the edge is estimated: from the readings on both sides
when there are, else from the last register reading plus the active power integrated since.
An interval with an estimated edge is marked estimated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loadbalancer.tariff.calendar import interval_start
from loadbalancer.tariff.peaks import IntervalEnergy

#: two register readings at most this far apart fix the edge between them (P1 sends every 1-10 s)
DEFAULT_MAX_GAP_S = 60.0
#: a silence longer than this (a month) starts afresh instead of walking its intervals
MAX_BRIDGE_S = 31 * 86400.0


@dataclass(frozen=True, slots=True)
class MeterSample:
    #: wall clock, seconds since the epoch (UTC)
    t_s: float
    #: the import register, None when this telegram has none
    import_kwh: float | None
    #: active power imported, None when not sent
    import_w: float | None


@dataclass(frozen=True, slots=True)
class _Edge:
    """The register at the start of the open interval."""

    kwh: float
    estimated: bool


@dataclass(frozen=True, slots=True)
class IntervalMeter:
    """The open interval and what is needed to close it. ``step`` returns the next state and
    the intervals it closed (usually none, one at an edge, several after a long silence)."""

    interval_s: int
    max_gap_s: float = DEFAULT_MAX_GAP_S
    #: the open interval's start, None before the first sample
    start_s: int | None = None
    edge: _Edge | None = None
    last: MeterSample | None = None
    #: the last register reading (time, kWh) and the power integrated since it (kWh)
    anchor: tuple[float, float] | None = None
    since_anchor_kwh: float = 0.0

    def step(self, sample: MeterSample) -> tuple[IntervalMeter, tuple[IntervalEnergy, ...]]:
        if self.last is not None and sample.t_s <= self.last.t_s:
            return self, ()  # the wall clock went back or repeated: wait for it
        if self.last is None or sample.t_s - self.last.t_s > MAX_BRIDGE_S:
            return self._first(sample), ()
        closed: list[IntervalEnergy] = []
        state = self
        assert state.start_s is not None
        edge_s = state.start_s + self.interval_s
        while edge_s <= sample.t_s:
            at_edge = state._register_at(edge_s, sample)
            if state.edge is not None and at_edge is not None:
                energy = max(0.0, at_edge.kwh - state.edge.kwh)
                estimated = state.edge.estimated or at_edge.estimated
                closed.append(IntervalEnergy(state.start_s or 0, energy, estimated))
            state = replace(state, start_s=edge_s, edge=at_edge)
            edge_s += self.interval_s
        return state._advance(sample), tuple(closed)

    def so_far_kwh(self) -> float | None:
        """The energy imported in the open interval up to the last sample (None: unknown yet)."""
        now = self._register_now()
        if self.edge is None or now is None:
            return None
        return max(0.0, now - self.edge.kwh)

    def _first(self, sample: MeterSample) -> IntervalMeter:
        start = interval_start(sample.t_s, self.interval_s)
        fresh = IntervalMeter(self.interval_s, self.max_gap_s, start, None, sample)
        if sample.import_kwh is None:
            return fresh
        # started inside the interval: its start is the register less the power held back to it
        back_kwh = _kw(sample) * (sample.t_s - start) / 3600.0
        edge = _Edge(sample.import_kwh - back_kwh, estimated=sample.t_s > start)
        return replace(fresh, edge=edge, anchor=(sample.t_s, sample.import_kwh))

    def _register_now(self) -> float | None:
        return None if self.anchor is None else self.anchor[1] + self.since_anchor_kwh

    def _register_at(self, edge_s: float, sample: MeterSample) -> _Edge | None:
        """The register at ``edge_s``, between the last sample and ``sample``."""
        last = self.last
        assert last is not None
        before, after = last.import_kwh, sample.import_kwh
        if before is not None and after is not None and after >= before:
            share = (edge_s - last.t_s) / (sample.t_s - last.t_s)
            kwh = before + share * (after - before)
            return _Edge(kwh, estimated=sample.t_s - last.t_s > self.max_gap_s)
        if self.anchor is None:
            return None
        to_edge_kwh = self.since_anchor_kwh + _integral_kwh(last, sample, last.t_s, edge_s)
        anchor_kwh = self.anchor[1]
        if after is not None and after >= anchor_kwh:
            # registers on both sides (a meter that sends it now and then): the power's shape
            # shares out what the registers say was imported between them
            to_sample_kwh = self.since_anchor_kwh + _integral_kwh(
                last, sample, last.t_s, sample.t_s
            )
            if to_sample_kwh > 0:
                share = min(1.0, to_edge_kwh / to_sample_kwh)
            else:
                share = (edge_s - self.anchor[0]) / (sample.t_s - self.anchor[0])
            return _Edge(anchor_kwh + share * (after - anchor_kwh), estimated=True)
        return _Edge(anchor_kwh + to_edge_kwh, estimated=True)

    def _advance(self, sample: MeterSample) -> IntervalMeter:
        last = self.last
        assert last is not None
        if sample.import_kwh is not None:
            # against the last register read, not the estimate since: power that reads a
            # little high must not make a register that is on time look like one that went back
            previous = None if self.anchor is None else self.anchor[1]
            if previous is not None and sample.import_kwh < previous - 1e-6:
                # the register went back (a meter swapped): the open interval cannot be measured
                return replace(
                    self,
                    last=sample,
                    edge=None,
                    anchor=(sample.t_s, sample.import_kwh),
                    since_anchor_kwh=0.0,
                )
            return replace(
                self, last=sample, anchor=(sample.t_s, sample.import_kwh), since_anchor_kwh=0.0
            )
        grown = self.since_anchor_kwh + _integral_kwh(last, sample, last.t_s, sample.t_s)
        return replace(self, last=sample, since_anchor_kwh=grown)


def _kw(sample: MeterSample) -> float:
    return max(0.0, sample.import_w or 0.0) / 1000.0


def _integral_kwh(a: MeterSample, b: MeterSample, from_s: float, to_s: float) -> float:
    """Active power integrated from ``from_s`` to ``to_s`` (inside [a, b]), linear between
    the two samples (one without power: the other's power held)."""
    if to_s <= from_s:
        return 0.0
    pa = _kw(a) if a.import_w is not None else _kw(b)
    pb = _kw(b) if b.import_w is not None else pa
    span = b.t_s - a.t_s

    def at(t: float) -> float:
        return pa + (pb - pa) * (t - a.t_s) / span

    return (at(from_s) + at(to_s)) / 2.0 * (to_s - from_s) / 3600.0
