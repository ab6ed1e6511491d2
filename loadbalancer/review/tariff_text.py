"""The capacity tariff's part of ``loadbalancer log``: the text and the JSON.

Shown when the log has ``tariff_interval`` records or decisions the tariff bound; the figures are
those of :mod:`.tariff_month` (the billed peaks) and :mod:`.tariff_cost` (what the limit cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.review.clock import duration
from loadbalancer.review.lines import Record, TimedRecord
from loadbalancer.review.tariff_cost import (
    CostTally,
    Limits,
    Step,
    TariffCost,
    charger_steps,
    house_kw,
    limited,
    tariff_cost,
)
from loadbalancer.review.tariff_month import TariffMonth, month_json, tariff_months
from loadbalancer.tariff.calendar import local_time
from loadbalancer.tariff.peaks import Peak

#: the highest interval energies the text lists per month
HIGHEST_SHOWN = 5

COST_METHOD = (
    "for each decision that said tariff_limit: what the fuse alone would have offered (allowed_a "
    "on its phases less the other chargers' set-points, up to its max_current_a) minus its "
    f"set-point, x its phases x {NOMINAL_VOLTAGE_V:g} V, over the time the decision was in force; "
    "an upper bound (a car may take less than it is offered, or take it later)"
)


@dataclass(frozen=True, slots=True)
class TariffSection:
    months: tuple[TariffMonth, ...]
    cost: TariffCost


def tariff_section(
    records: Sequence[TimedRecord], window: tuple[float, float]
) -> TariffSection | None:
    """The tariff's part of the summary of ``window``; None when the log shows no tariff."""
    months = tariff_months(records, window)
    cost = tariff_cost(records, window)
    if not months and not cost.decisions:
        return None
    return TariffSection(months, cost)


class TariffPass:
    """The tariff's part of the summary, made in the summary's walk over the records: the
    ``tariff_interval`` records are kept (one per interval), the decisions the tariff bound
    are counted as they come (the summary's :class:`~.summary.Consumer`)."""

    def __init__(self, window: tuple[float, float], startups: Sequence[TimedRecord]) -> None:
        self.window = window
        self.intervals: list[TimedRecord] = []
        self.tally = CostTally(window)
        self.limits = Limits(startups)

    def add(self, item: TimedRecord) -> None:
        if item[1]["event"] == "tariff_interval":
            self.intervals.append(item)

    def interval(self, start_s: float, end_s: float, record: Record) -> None:
        if limited(record):
            chargers = charger_steps(record, self.limits.at(start_s))
            self.tally.add(Step(start_s, end_s, house_kw(record), chargers))

    def section(self) -> TariffSection | None:
        """The section; None when the log shows no tariff."""
        months = tariff_months(self.intervals, self.window)
        cost = self.tally.cost()
        if not months and not cost.decisions:
            return None
        return TariffSection(months, cost)


def section_json(section: TariffSection) -> dict[str, Any]:
    cost = section.cost
    return {
        "months": [month_json(m) for m in section.months],
        "tariff_limit": {
            "decisions": cost.decisions,
            "limited_s": round(cost.limited_s, 3),
            "denied_kwh": round(cost.energy_kwh, 3),
            "denied_kwh_by_charger": {k: round(v, 3) for k, v in cost.by_charger.items()},
            "method": COST_METHOD,
        },
    }


def _when(peak_start_s: int) -> str:
    return local_time(peak_start_s).strftime("%Y-%m-%d %a %H:%M")


def peak_line(peak: Peak) -> str:
    weight = f" x weight {peak.weight:g}" if peak.weight != 1 else ""
    estimated = " (estimated)" if peak.estimated else ""
    return (
        f"    {_when(peak.start_s)}: {peak.energy_kwh:.2f} kWh{weight} = {peak.power_kw:.2f} kW"
        f"{estimated}"
    )


def month_lines(month: TariffMonth) -> list[str]:
    estimated = f", {month.estimated} estimated" if month.estimated else ""
    lines = [
        f"Capacity tariff {month.profile}, {month.month}: {len(month.intervals)} intervals"
        f"{estimated}"
    ]
    if month.problem is not None:
        lines.append(f"  billed peaks unknown: {month.problem}")
    for billed in month.billed:
        cost = "" if billed.cost_kr is None else f" x {billed.price_per_kw:g} kr/kW = "
        cost += "" if billed.cost_kr is None else f"{billed.cost_kr:.0f} kr"
        lines.append(
            f"  billed {billed.component}: {billed.billed_kw:.2f} kW, the mean of "
            f"{len(billed.peaks)} peak(s){cost}"
        )
        lines += [peak_line(p) for p in billed.peaks]
    highest = sorted(month.intervals, key=lambda r: (-r.energy_kwh, r.start_s))[:HIGHEST_SHOWN]
    if highest:
        lines.append(
            "  highest intervals: "
            + ", ".join(
                f"{local_time(r.start_s).strftime('%m-%d %H:%M')} {r.energy_kwh:.2f} kWh"
                + (" (est.)" if r.estimated else "")
                for r in highest
            )
        )
    budgets = sorted({r.budget_kw for r in month.intervals if r.budget_kw is not None})
    if budgets:
        lines.append("  budget: " + ", ".join(f"{b:g} kW" for b in budgets))
    return lines


def section_lines(section: TariffSection) -> list[str]:
    lines: list[str] = []
    for month in section.months:
        lines += month_lines(month)
    cost = section.cost
    if cost.decisions:
        each = ", ".join(f"{k} {v:.2f} kWh" for k, v in cost.by_charger.items())
        lines.append(
            f"Tariff limit: {cost.decisions} charger decisions, in force "
            f"{duration(cost.limited_s)}; energy denied about {cost.energy_kwh:.2f} kWh ({each})"
        )
        lines.append(f"  (estimate: {COST_METHOD})")
    else:
        lines.append("Tariff limit: it never bound")
    return lines
