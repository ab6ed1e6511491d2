"""A month of a Swedish winter house with a car, with and without the capacity tariff's limiter.

    .venv/bin/python benchmarks/tariff_month.py [--days 30] [--budget-kw 5] [--interval-min 60]
        [--margin-kw 0.05] [--price-kr-per-kw 81] [--seed 1] [--site SITE.yaml] [--no-night]

The month is :func:`loadbalancer.sim.month.month`: each evening 17-23 runs second by second
through the real core (the fast model), the car plugged in on most evenings; the other hours are
the house alone. A generic hourly (or 15-minute) tariff: the billed peak is the mean of the
3 highest daily maxima of the interval power, all hours alike. Prints the billed peak (kW and
kr at the given price), the energy delivered, the same month without the limiter, the house
alone, the perfect-knowledge limiter's energy (an upper bound: see the module), the pauses
(a contactor opening under a drawing car) and the wall time; then one night of the month
(17:00-07:00) with a car that must have 60 kWh by 07:00 (``ready_by``), with the override and
on the budget alone. The bar of issue 15: billed peak <= budget + 2 % (where the house alone
stays within the budget), energy >= 95 % of the perfect-knowledge limiter's, well under a
minute; each is printed with "ok" or "MISSED", and the exit status is 1 if one is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from loadbalancer.config import load_site
from loadbalancer.sim.month import (
    READY_BY_DAY,
    NightReport,
    month,
    night_report,
    ready_by_night,
    run_month,
)
from loadbalancer.sim.run import default_site_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--budget-kw", type=float, default=5.0)
    parser.add_argument("--interval-min", type=int, choices=(15, 60), default=60)
    parser.add_argument("--margin-kw", type=float, default=0.05)
    parser.add_argument("--price-kr-per-kw", type=float, default=81.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--site", type=Path, default=default_site_path())
    parser.add_argument("--no-night", action="store_true", help="leave out the ready-by night")
    parser.add_argument(
        "--any-house",
        action="store_true",
        help="keep every load of the catalogue (default: the household keeps its own intervals "
        "within the budget, as it keeps within its fuse)",
    )
    args = parser.parse_args()
    site = load_site(args.site)
    started = time.monotonic()
    interval_s = args.interval_min * 60.0
    days = month(
        args.seed,
        args.days,
        charger=site.chargers[0].name,
        fuse_rating_a=site.fuse.rating_a,
        house_within_kw=None if args.any_house else args.budget_kw,
        interval_s=interval_s,
    )
    night = None
    if not args.no_night and args.days > READY_BY_DAY + 1:
        night = ready_by_night(
            args.seed,
            charger=site.chargers[0].name,
            fuse_rating_a=site.fuse.rating_a,
            house_within_kw=None if args.any_house else args.budget_kw,
            interval_s=interval_s,
        )
    report = run_month(days, site.control, args.budget_kw, interval_s, margin_kw=args.margin_kw)
    month_s = time.monotonic() - started
    price = args.price_kr_per_kw
    with_limit, without = report.limited, report.unlimited
    plugged = sum(1 for day in days if day.evening.cars)
    print(
        f"{args.days} days (car plugged in on {plugged} evenings), budget {args.budget_kw:g} kW, "
        f"{args.interval_min}-min intervals, margin {args.margin_kw:g} kW, site {args.site}"
    )
    for name, figures in (("limiter", with_limit), ("no limiter", without)):
        print(
            f"  {name:<11} billed peak {figures.billed_peak_kw:.2f} kW "
            f"({figures.billed_peak_kw * price:.0f} kr), highest interval "
            f"{figures.worst_interval_kw:.2f} kW, car energy {figures.energy_kwh:.1f} kWh, "
            f"pauses {figures.pauses}, overload {figures.overload_s:g} s"
        )
    print(f"  house alone billed peak {report.house_billed_peak_kw:.2f} kW")
    ratio = with_limit.energy_kwh / report.perfect_kwh if report.perfect_kwh else 1.0
    over = with_limit.billed_peak_kw / args.budget_kw - 1.0
    print(
        f"  perfect-knowledge limiter (upper bound) {report.perfect_kwh:.1f} kWh: "
        f"the limiter delivers {ratio:.1%} of it; billed peak {over:+.1%} against the budget"
    )
    peak_ok = with_limit.billed_peak_kw <= args.budget_kw * 1.02
    energy_ok = ratio >= 0.95
    print(f"  bar: billed peak <= budget + 2 %: {'ok' if peak_ok else 'MISSED'}")
    print(
        f"  bar: energy >= 95 % of the perfect-knowledge limiter: {'ok' if energy_ok else 'MISSED'}"
    )
    print(f"  wall time {month_s:.1f} s (the month with and without the limiter)")
    if night is not None:
        started = time.monotonic()
        nights = night_report(
            report, night, site.control, args.budget_kw, interval_s, args.margin_kw
        )
        _print_night(nights, args.budget_kw, price)
        print(f"  wall time {time.monotonic() - started:.1f} s (the night, twice)")
    return 0 if peak_ok and energy_ok else 1


def _print_night(report: NightReport, budget_kw: float, price: float) -> None:
    asked = report.night.ready_by
    print(
        f"  ready-by night (day {report.night.day + 1}, 17:00-07:00, "
        f"{asked.energy_kwh:g} kWh asked by 07:00), the month's billed peak with it:"
    )
    for name, figures in (("override", report.override), ("budget only", report.budget_only)):
        print(
            f"    {name:<11} {figures.ready_kwh:.1f} kWh by 07:00, billed peak "
            f"{figures.billed_peak_kw:.2f} kW ({figures.billed_peak_kw * price:.0f} kr), highest "
            f"interval of the night {figures.worst_interval_kw:.2f} kW, "
            f"{figures.over_budget} intervals over {budget_kw:g} kW + 2 %, pauses {figures.pauses}"
        )


if __name__ == "__main__":
    sys.exit(main())
