"""The series ``log --plot`` draws (:mod:`loadbalancer.review.draw` draws them)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo

from loadbalancer.control.reasons import Reason
from loadbalancer.review.facts import (
    as_dict,
    as_list,
    charger_entries,
    num,
)
from loadbalancer.review.lines import (
    TimedRecord,
)
from loadbalancer.review.summary import summarize
from loadbalancer.review.timeline import (
    Episode,
    Site,
    decision_intervals,
)

#: points drawn at most per series: a 1200 px wide figure shows no more
MAX_PLOT_POINTS = 3000


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


def plot_data(
    records: Sequence[TimedRecord],
    *,
    since_s: float | None = None,
    until_s: float | None = None,
    charger: str | None = None,
) -> PlotData:
    """The series ``--plot`` draws, one point per decision in the window."""
    summary_window = summarize(records, since_s=since_s, until_s=until_s, charger=charger)
    window = (summary_window.from_s, summary_window.to_s)
    names = [c.name for c in summary_window.chargers]
    times: list[float] = []
    meter: dict[str, list[float]] = {}
    house: dict[str, list[float]] = {}
    limit: dict[str, list[float]] = {}
    setpoints: dict[str, list[float]] = {n: [] for n in names}
    measured: dict[str, list[float]] = {n: [] for n in names}
    cuts: dict[str, list[float]] = {n: [] for n in names}
    pauses: dict[str, list[float]] = {n: [] for n in names}
    nan = math.nan
    for start_s, end_s, record in decision_intervals(records):
        if end_s < window[0] or start_s > window[1]:
            continue
        times.append(max(start_s, window[0]))
        m, h, a = (as_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
        for phase in m:
            if phase not in meter:  # a phase first seen now: unknown before
                for by_phase in (meter, house, limit):
                    by_phase[phase] = [nan] * (len(times) - 1)
        for phase, series in meter.items():
            meter_a, house_a, allowed_a = (num(x.get(phase)) for x in (m, h, a))
            series.append(nan if meter_a is None else meter_a)
            house[phase].append(nan if house_a is None else house_a)
            total = None if house_a is None or allowed_a is None else house_a + allowed_a
            limit[phase].append(nan if total is None else total)
        entries = {str(c["name"]): c for c in charger_entries(record)}
        for name in names:
            entry = entries.get(name, {})
            setpoint = num(entry.get("setpoint_a"))
            values = [x for x in map(num, as_list(entry.get("measured_a"))) if x is not None]
            setpoints[name].append(nan if setpoint is None else setpoint)
            measured[name].append(max(values) if values else nan)
            if start_s >= window[0]:
                if entry.get("reason") == Reason.OVERLOAD_CUT:
                    cuts[name].append(start_s)
                elif entry.get("reason") == Reason.MIN_CURRENT_PAUSE:
                    pauses[name].append(start_s)
    bucket_s = 0.0
    if len(times) > MAX_PLOT_POINTS:
        bucket_s = (window[1] - window[0]) / MAX_PLOT_POINTS
        starts = _bucket_starts(times, window[0], bucket_s)

        def most(series: dict[str, list[float]]) -> dict[str, list[float]]:
            return {k: _reduced(v, starts, max) for k, v in series.items()}

        def least(series: dict[str, list[float]]) -> dict[str, list[float]]:
            return {k: _reduced(v, starts, min) for k, v in series.items()}

        meter, house, limit = most(meter), most(house), least(limit)
        setpoints, measured = least(setpoints), most(measured)
        times = [times[i] for i in starts]
    return PlotData(
        zone=summary_window.zone,
        site=summary_window.site,
        times_s=tuple(times),
        meter_a={p: tuple(v) for p, v in sorted(meter.items())},
        house_a={p: tuple(v) for p, v in sorted(house.items())},
        limit_a={p: tuple(v) for p, v in sorted(limit.items())},
        setpoint_a={n: tuple(v) for n, v in setpoints.items()},
        measured_a={n: tuple(v) for n, v in measured.items()},
        fallbacks=summary_window.fallbacks,
        outages={c.name: c.outages for c in summary_window.chargers},
        cuts={n: tuple(v) for n, v in cuts.items()},
        pauses={n: tuple(v) for n, v in pauses.items()},
        end_s=window[1],
        bucket_s=bucket_s,
    )


def _bucket_starts(times: Sequence[float], start_s: float, bucket_s: float) -> list[int]:
    """Index of the first point of each time bucket that has points."""
    starts: list[int] = []
    last = -1
    for index, t_s in enumerate(times):
        bucket = int((t_s - start_s) / bucket_s)
        if bucket != last:
            starts.append(index)
            last = bucket
    return starts


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
