"""The series ``log --plot`` draws (:mod:`loadbalancer.review.draw` draws them)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from loadbalancer.control.reasons import Reason
from loadbalancer.errors import LoadBalancerError
from loadbalancer.review.facts import (
    MAX_CURRENT_A,
    as_dict,
    as_list,
    charger_entries,
    num,
)
from loadbalancer.review.lines import Record, TimedRecord
from loadbalancer.review.scan import Bounds
from loadbalancer.review.summary import summarize, summary_window
from loadbalancer.review.tariff_plot import TariffSeries, tariff_series
from loadbalancer.review.timeline import (
    Episode,
    Site,
)

#: points drawn at most per series: a 1200 px wide figure shows no more
MAX_PLOT_POINTS = 3000


#: points a time bucket holds before those it has are reduced to one (memory: a bucket of a
#: year's log has a thousand)
BUCKET_POINTS = 64


@dataclass(frozen=True, slots=True)
class PlotData:
    """Series for ``--plot``: times in POSIX seconds, currents in amperes (NaN = unknown)."""

    zone: tzinfo
    site: Site
    times_s: tuple[float, ...]
    meter_a: Mapping[str, tuple[float, ...]]
    house_a: Mapping[str, tuple[float, ...]]
    #: what the phase may carry in total: house + what the chargers are allowed
    limit_a: Mapping[str, tuple[float, ...]]
    setpoint_a: Mapping[str, tuple[float, ...]]
    measured_a: Mapping[str, tuple[float, ...]]
    fallbacks: tuple[Episode, ...]
    outages: Mapping[str, tuple[Episode, ...]]
    cuts: Mapping[str, tuple[float, ...]]
    pauses: Mapping[str, tuple[float, ...]]
    end_s: float
    #: 0, or the length of the time buckets a long log was reduced to: per bucket the highest
    #: currents and the lowest limits and set-points, so that no peak and no cut is lost
    bucket_s: float = 0.0
    #: with a capacity tariff, each interval's power and the budget (None: no tariff records)
    tariff: TariffSeries | None = None


def plot_data(
    records: Iterable[TimedRecord],
    *,
    since_s: float | None = None,
    until_s: float | None = None,
    charger: str | None = None,
    bounds: Bounds | None = None,
) -> PlotData:
    """The series ``--plot`` draws, one point per decision in the window, or per time bucket
    for a long log: from a list of records sorted by time, or a :class:`~.stream.LogStream`
    with the ``bounds`` of a first look (walked once: the summary of the window and the series
    are made in the same walk; the records are not kept)."""
    if bounds is None:
        records = records if isinstance(records, Sequence) else list(records)
        bounds = Bounds.of(records)
    if bounds is None:
        raise LoadBalancerError("the log has no records")
    window = summary_window(bounds, since_s, until_s)
    walk = _SeriesPass(window)
    summary = summarize(
        records, since_s=since_s, until_s=until_s, charger=charger, bounds=bounds, also=[walk]
    )
    names = [c.name for c in summary.chargers]
    kept, bucket_s = walk.series.result()
    nan = [math.nan] * len(kept.times)
    return PlotData(
        zone=summary.zone,
        site=summary.site,
        times_s=tuple(kept.times),
        meter_a={p: tuple(v) for p, v in sorted(kept.meter.items())},
        house_a={p: tuple(v) for p, v in sorted(kept.house.items())},
        limit_a={p: tuple(v) for p, v in sorted(kept.limit.items())},
        setpoint_a={n: tuple(kept.setpoints.get(n, nan)) for n in names},
        measured_a={n: tuple(kept.measured.get(n, nan)) for n in names},
        fallbacks=summary.fallbacks,
        outages={c.name: c.outages for c in summary.chargers},
        cuts={n: tuple(kept.cuts.get(n, ())) for n in names},
        pauses={n: tuple(kept.pauses.get(n, ())) for n in names},
        end_s=window[1],
        bucket_s=bucket_s,
        tariff=tariff_series(walk.tariff, window),
    )


class _SeriesPass:
    """The series, made in the summary's walk (its :class:`~.summary.Consumer`): each decision
    interval in the window a point, and the ``tariff_interval`` records (one per interval)."""

    def __init__(self, window: tuple[float, float]) -> None:
        self.window = window
        self.series = _Reduced(window)
        self.tariff: list[TimedRecord] = []

    def add(self, item: TimedRecord) -> None:
        if item[1]["event"] == "tariff_interval":
            self.tariff.append(item)

    def interval(self, start_s: float, end_s: float, record: Record) -> None:
        if end_s < self.window[0] or start_s > self.window[1]:
            return
        self.series.add(start_s, record)


class _Reduced:
    """The series as the decisions come, in bounded memory: every point while there are at
    most :data:`MAX_PLOT_POINTS`, and at the same time one point per time bucket (a pixel
    column: the highest currents and the lowest limits and set-points of its points, so that no
    peak and no cut is lost), which is what a longer log draws."""

    def __init__(self, window: tuple[float, float]) -> None:
        self.start_s = window[0]
        self.bucket_s = (window[1] - window[0]) / MAX_PLOT_POINTS
        self.every: _Series | None = _Series()
        self.buckets = _Series()
        self.current = _Series()
        self.bucket = -1
        self.count = 0

    def add(self, start_s: float, record: Record) -> None:
        self.count += 1
        if self.every is not None:
            self.every.add(start_s, record, self.start_s)
            if self.count > MAX_PLOT_POINTS:
                self.every = None
        if self.bucket_s > 0:
            bucket = int((max(start_s, self.start_s) - self.start_s) / self.bucket_s)
            if bucket != self.bucket:
                self._flush()
                self.bucket = bucket
        self.current.add(start_s, record, self.start_s)
        if len(self.current.times) >= BUCKET_POINTS:  # the bucket so far as one point: the
            self.current.reduce([0])  # highest of the highest is the highest of all

    def _flush(self) -> None:
        """The bucket being filled, as one point of :attr:`buckets`."""
        current, out = self.current, self.buckets
        if not current.times:
            return
        current.reduce([0])
        for phase in current.meter:
            if phase not in out.meter:
                for by_phase in (out.meter, out.house, out.limit):
                    by_phase[phase] = [math.nan] * len(out.times)
        for name in current.setpoints:
            if name not in out.setpoints:
                out.first_seen(name, len(out.times))
        out.times += current.times
        for mine, theirs in (
            (out.meter, current.meter),
            (out.house, current.house),
            (out.limit, current.limit),
            (out.setpoints, current.setpoints),
            (out.measured, current.measured),
        ):
            for key, values in mine.items():
                values += theirs.get(key, [math.nan])
        for marks, new in ((out.cuts, current.cuts), (out.pauses, current.pauses)):
            for key, values in marks.items():
                values += new.get(key, [])
        self.current = _Series()

    def result(self) -> tuple[_Series, float]:
        """Every point, or one per bucket for a long log, and the bucket's length (0: none)."""
        if self.every is not None:
            return self.every, 0.0
        self._flush()
        return self.buckets, self.bucket_s


class _Series:
    """The series of :class:`PlotData` as the decisions are walked (private, mutable); a
    charger first seen in a later decision is unknown (NaN) before it, as a phase is."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.meter: dict[str, list[float]] = {}
        self.house: dict[str, list[float]] = {}
        self.limit: dict[str, list[float]] = {}
        self.setpoints: dict[str, list[float]] = {}
        self.measured: dict[str, list[float]] = {}
        self.cuts: dict[str, list[float]] = {}
        self.pauses: dict[str, list[float]] = {}

    def first_seen(self, name: str, points: int) -> None:
        """A charger first seen after ``points`` points: unknown in them."""
        self.setpoints[name] = [math.nan] * points
        self.measured[name] = [math.nan] * points
        self.cuts[name], self.pauses[name] = [], []

    def add(self, start_s: float, record: Record, window_start_s: float) -> None:
        """One point: the decision in force from ``start_s`` (clipped to the window)."""
        self.times.append(max(start_s, window_start_s))
        m = as_dict(record.get("meter_a"))
        h = as_dict(record.get("house_a"))
        a = as_dict(record.get("allowed_a"))
        for phase in m:
            if phase not in self.meter:  # a phase first seen now: unknown before
                for by_phase in (self.meter, self.house, self.limit):
                    by_phase[phase] = [math.nan] * (len(self.times) - 1)
        house, limit = self.house, self.limit
        for phase, series in self.meter.items():
            house_a = _amps(h.get(phase))
            series.append(_amps(m.get(phase)))
            house[phase].append(house_a)
            limit[phase].append(house_a + _amps(a.get(phase)))  # NaN where either is unknown
        entries = {str(c["name"]): c for c in charger_entries(record)}
        for name in entries:
            if name not in self.setpoints:
                self.first_seen(name, len(self.times) - 1)
        measured = self.measured
        for name, setpoints in self.setpoints.items():
            entry = entries.get(name, {})
            setpoints.append(_amps(entry.get("setpoint_a")))
            values = [x for x in map(num, as_list(entry.get("measured_a"))) if x is not None]
            measured[name].append(max(values) if values else math.nan)
            if start_s >= window_start_s:
                reason = entry.get("reason")
                if reason == Reason.OVERLOAD_CUT:
                    self.cuts[name].append(start_s)
                elif reason == Reason.MIN_CURRENT_PAUSE:
                    self.pauses[name].append(start_s)

    def reduce(self, starts: list[int]) -> None:
        """To one point per time bucket (``starts``: the first point of each): the highest
        currents and the lowest limits and set-points, so that no peak and no cut is lost."""

        def most(series: dict[str, list[float]]) -> dict[str, list[float]]:
            return {k: _reduced(v, starts, max) for k, v in series.items()}

        def least(series: dict[str, list[float]]) -> dict[str, list[float]]:
            return {k: _reduced(v, starts, min) for k, v in series.items()}

        self.meter, self.house, self.limit = most(self.meter), most(self.house), least(self.limit)
        self.setpoints, self.measured = least(self.setpoints), most(self.measured)
        self.times = [self.times[i] for i in starts]


def _amps(value: object) -> float:
    """A current as drawn: NaN where it is unknown (null, not a number, not a size a current
    can have: :func:`~loadbalancer.review.facts.num`)."""
    if type(value) is float and -MAX_CURRENT_A < value < MAX_CURRENT_A:
        return value
    number = num(value)
    return math.nan if number is None else number


def _reduced(
    values: Sequence[float], starts: Sequence[int], pick: Callable[[list[float]], float]
) -> list[float]:
    """Per bucket the ``pick`` (max or min) of its known values; NaN where none is known."""
    out = []
    ends = [*starts[1:], len(values)]
    for begin, end in zip(starts, ends, strict=True):
        known = [v for v in values[begin:end] if v == v]  # NaN != NaN
        out.append(pick(known) if known else math.nan)
    return out
