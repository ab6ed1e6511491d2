"""``log --plot`` with a capacity tariff: a panel of each interval's mean power against the
budget (the series are pure; :func:`draw_panel` is handed a matplotlib axis by
:mod:`.draw`, which alone imports matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadbalancer.review.facts import num
from loadbalancer.review.lines import TimedRecord
from loadbalancer.review.tariff_month import overlaps, read_interval, tariff_months

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class TariffSeries:
    """Per closed interval (by start, POSIX seconds): its mean power, the budget in force and
    the most it may take (the budget divided by its weight: a night hour at half weight may
    take twice; None where it counts in no component); and the billed peaks' starts."""

    starts_s: tuple[float, ...]
    ends_s: tuple[float, ...]
    mean_kw: tuple[float, ...]
    budget_kw: tuple[float | None, ...]
    may_take_kw: tuple[float | None, ...]
    billed_s: tuple[float, ...]


def tariff_series(
    records: Sequence[TimedRecord], window: tuple[float, float]
) -> TariffSeries | None:
    """The intervals that start in ``window``; None when there are none."""
    rows = []
    for _, record in records:
        if record["event"] != "tariff_interval":
            continue
        found = read_interval(record)
        if found is None or not overlaps(found[1], window):
            continue
        weight = num(record.get("weight"))
        row = found[1]
        may_take = (
            None if row.budget_kw is None or not weight or weight <= 0 else row.budget_kw / weight
        )
        rows.append((row.start_s, row.end_s, row.mean_kw, row.budget_kw, may_take))
    if not rows:
        return None
    rows.sort()
    billed = sorted(
        {p.start_s for m in tariff_months(records, window) for b in m.billed for p in b.peaks}
    )
    return TariffSeries(
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
        tuple(r[4] for r in rows),
        tuple(float(s) for s in billed),
    )


def _day(t_s: float) -> float:
    return t_s / SECONDS_PER_DAY


def draw_panel(ax: Any, series: TariffSeries) -> None:
    """Interval power as bars over each interval, the budget and what each interval may take
    as steps, the billed peaks marked."""
    nan = float("nan")
    lefts = [_day(s) for s in series.starts_s]
    widths = [_day(e) - _day(s) for s, e in zip(series.starts_s, series.ends_s, strict=True)]
    ax.bar(
        lefts,
        series.mean_kw,
        width=widths,
        align="edge",
        color="tab:blue",
        alpha=0.6,
        label="interval mean power",
    )
    edges = [*lefts, _day(series.ends_s[-1])]

    def step(values: tuple[float | None, ...]) -> list[float]:
        out = [nan if v is None else v for v in values]
        return [*out, out[-1]]

    ax.step(edges, step(series.budget_kw), where="post", color="tab:red", lw=1.4, label="budget")
    if any(m != b for m, b in zip(series.may_take_kw, series.budget_kw, strict=True)):
        ax.step(
            edges,
            step(series.may_take_kw),
            where="post",
            color="tab:red",
            lw=1,
            ls=":",
            label="budget / weight (what the interval may take)",
        )
    by_start = dict(zip(series.starts_s, series.mean_kw, strict=True))
    if series.billed_s:
        ax.plot(
            [_day(s) for s in series.billed_s],
            [by_start.get(s, nan) for s in series.billed_s],
            "v",
            color="black",
            ms=7,
            ls="none",
            label="billed peaks",
        )
    ax.set_ylabel("interval power (kW)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.set_title("Capacity tariff", loc="left", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
