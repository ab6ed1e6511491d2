"""``loadbalancer tariff --profile NAME --budget-kw KW LOG...``: the shell of
:mod:`.tariff_estimate` (read the logs, load the profile, print)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadbalancer import jsontext
from loadbalancer.errors import UsageError
from loadbalancer.review.read import read_logs
from loadbalancer.review.tariff_estimate import Case, Estimate, estimate
from loadbalancer.review.tariff_month import peak_json
from loadbalancer.review.tariff_text import peak_line
from loadbalancer.tariff.calendar import holiday_check, local_time
from loadbalancer.tariff.profile import describe, load_tariff_profile

#: the largest budget a household connection can use (as the site file's ``tariff.budget_kw``)
MAX_BUDGET_KW = 100.0

METHOD = (
    "from the decisions: house = house_a (meter − chargers) x 230 V per phase, the cars = their "
    "measured currents x 230 V, integrated over the time each decision was in force; without "
    "the limiter = house + what the cars drew + what the tariff limit denied them; with = a "
    "discrete model of the limiter on that house load (no ramp or resume delays, a denied car "
    "takes it later while it stays plugged in)"
)


@dataclass(frozen=True, slots=True)
class TariffRequest:
    files: Sequence[str]
    profile: str
    budget_kw: float
    margin_kw: float = 0.2
    month: str | None = None
    as_json: bool = False


def run_tariff(request: TariffRequest, *, prog: str = "loadbalancer tariff") -> int:
    """The command; returns the exit code (errors are raised as LoadBalancerError)."""
    if not (math.isfinite(request.budget_kw) and 0 < request.budget_kw <= MAX_BUDGET_KW):
        raise UsageError(f"--budget-kw {request.budget_kw:g}: expected 0 < kW <= {MAX_BUDGET_KW:g}")
    if not (math.isfinite(request.margin_kw) and 0 <= request.margin_kw < request.budget_kw):
        raise UsageError(f"--margin-kw {request.margin_kw:g}: expected 0 <= kW < the budget")
    if request.month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", request.month):
        raise UsageError(f"--month {request.month!r}: expected YYYY-MM")
    profile = load_tariff_profile(request.profile)
    is_holiday = holiday_check(profile.holidays)
    contents = read_logs(request.files)
    note = contents.report()
    if note is not None:
        print(f"{prog}: {note}", file=sys.stderr)
    if not contents.records:
        raise UsageError(f"{', '.join(request.files)}: no readable records")
    try:
        result = estimate(
            contents.records,
            profile,
            request.budget_kw,
            request.margin_kw,
            is_holiday,
            request.month,
        )
    except UsageError as exc:
        raise UsageError(f"{', '.join(request.files)}: {exc}") from None
    if request.as_json:
        print(jsontext.dumps(estimate_json(result), indent=2))
    else:
        print("\n".join(estimate_lines(result)))
    return 0


def _case_json(case: Case) -> dict[str, Any]:
    return {
        "billed_kw": round(case.billed_kw, 3),
        "cost_kr": None if case.cost_kr is None else round(case.cost_kr, 2),
        "cars_kwh": round(case.cars_kwh, 3),
        "billed": {b.component: [peak_json(p) for p in b.peaks] for b in case.billed},
    }


def estimate_json(result: Estimate) -> dict[str, Any]:
    return {
        "profile": result.profile.name,
        "budget_kw": result.budget_kw,
        "margin_kw": result.margin_kw,
        "month": result.month,
        "from": local_time(int(result.first_s)).isoformat(),
        "to": local_time(int(result.last_s)).isoformat(),
        "intervals": result.intervals,
        "incomplete_intervals": result.incomplete,
        "without_limiter": _case_json(result.without),
        "with_limiter": _case_json(result.limited),
        "as_logged": _case_json(result.logged),
        "log_had_limiter": result.log_had_limiter,
        "not_delivered_kwh": round(result.short_kwh, 3),
        "method": METHOD,
    }


def _row(label: str, case: Case, extra: str = "") -> str:
    cost = f"{case.cost_kr:8.0f} kr" if case.cost_kr is not None else "           "
    return f"  {label:<22}{case.billed_kw:7.2f} kW {cost} {case.cars_kwh:9.1f} kWh{extra}"


def estimate_lines(result: Estimate) -> list[str]:
    span = (
        f"{local_time(int(result.first_s)).strftime('%Y-%m-%d %H:%M')} to "
        f"{local_time(int(result.last_s)).strftime('%Y-%m-%d %H:%M')}"
    )
    partly = f" ({result.incomplete} only partly in the log)" if result.incomplete else ""
    short = (
        f" ({result.short_kwh:.1f} kWh not delivered before the cars left)"
        if result.short_kwh >= 0.05
        else ""
    )
    lines = [
        f"{describe(result.profile)}; budget {result.budget_kw:g} kW, margin "
        f"{result.margin_kw:g} kW",
        f"Month {result.month} in the log: {span}, {result.intervals} intervals{partly}",
        f"  {'':<22}{'billed':>10} {'cost':>11} {'to the cars':>13}",
        _row("without the limiter", result.without),
        _row("with the limiter", result.limited, short),
    ]
    if result.log_had_limiter:
        lines.append(_row("as logged (limiter on)", result.logged))
    for label, case in (("without", result.without), ("with", result.limited)):
        for billed in case.billed:
            lines.append(f"Billed intervals {label} the limiter ({billed.component}):")
            lines += [peak_line(p) for p in billed.peaks]
    lines.append(f"How: {METHOD}.")
    return lines
