"""``log --explain`` when the capacity tariff bound: its ceiling in words.

From the decision's ``tariff`` object (the running interval as the core was told it): the
budget, the energy imported so far in the interval, the time left, and what the cars could
still take (the core's P: (budget × interval − energy so far) / time left − the house's draw −
the margin). The interval's length is the tariff profile's (the startup record names it), else
that of the log's ``tariff_interval`` records.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from loadbalancer.control.reasons import Reason
from loadbalancer.errors import LoadBalancerError
from loadbalancer.review.clock import clock, duration
from loadbalancer.review.facts import as_dict, as_list, num
from loadbalancer.review.lines import Record, TimedRecord, posix_s
from loadbalancer.tariff.profile import load_tariff_profile

TARIFF_REASONS = (Reason.TARIFF_LIMIT, Reason.TARIFF_OVERRIDE)


def interval_length_s(startup: Record | None, first_interval_s: int | None) -> int | None:
    """The billing interval's length: from the profile the last ``startup`` before the time
    asked names, else from the log's first ``tariff_interval`` record; None when the log does
    not say."""
    name = None if startup is None else as_dict(startup.get("tariff")).get("profile")
    if isinstance(name, str):
        try:
            return load_tariff_profile(name).interval_s
        except LoadBalancerError:
            pass
    return first_interval_s


def tariff_lines(
    length_s: int | None,
    decision: TimedRecord,
    zone: tzinfo,
    entry: Record,
    numbers: dict[str, Any],
) -> list[str]:
    """The tariff's ceiling in the ``decision`` in force for the charger ``entry``, when its
    reason is the tariff's (``length_s``: the interval's length, None where the log does not
    say it); the figures go into ``numbers``."""
    if entry.get("reason") not in TARIFF_REASONS:
        return []
    t_s, record = decision
    tariff = as_dict(record.get("tariff"))
    budget_kw, so_far_kwh = num(tariff.get("budget_kw")), num(tariff.get("energy_kwh_so_far"))
    cars_kw = num(tariff.get("cars_kw"))
    start = tariff.get("interval_start")
    start_s = posix_s(start) if isinstance(start, str) else None
    if budget_kw is None or so_far_kwh is None or start_s is None:
        return ["  The record carries no tariff figures (a log from before they were written)."]
    facts: dict[str, Any] = {
        "budget_kw": budget_kw,
        "interval_start": start,
        "energy_kwh_so_far": so_far_kwh,
        "cars_kw": cars_kw,
        "needed_kw": {k: v for k, v in as_dict(tariff.get("needed_kw")).items() if num(v)},
    }
    lines = []
    if length_s is None:
        lines.append(
            f"  Tariff ceiling: the interval from {clock(start_s, zone)} (its length is not in "
            f"this log) at a budget of {budget_kw:g} kW; {so_far_kwh:.2f} kWh imported so far."
        )
    else:
        budget_kwh = budget_kw * length_s / 3600.0
        left_s = max(start_s + length_s - t_s, 0.0)
        rest_kwh = budget_kwh - so_far_kwh
        facts |= {"interval_s": length_s, "budget_kwh": budget_kwh, "left_s": left_s}
        pace = (
            f" ({rest_kwh:.2f} kWh left for {duration(left_s)}: {rest_kwh * 3600 / left_s:.1f} kW "
            "on average for house and cars)"
            if left_s > 0
            else ""
        )
        lines.append(
            f"  Tariff ceiling: the interval {clock(start_s, zone)}-"
            f"{clock(start_s + length_s, zone)} may import {budget_kw:g} kW x "
            f"{length_s / 60:g} min = {budget_kwh:.2f} kWh; {so_far_kwh:.2f} kWh had been "
            f"imported by {clock(t_s, zone)}, {duration(left_s)} left{pace}."
        )
    numbers["tariff"] = facts
    lines.append("  " + _cars_line(entry, cars_kw, facts["needed_kw"]))
    return lines


def _cars_line(entry: Record, cars_kw: float | None, needed: dict[str, Any]) -> str:
    name = str(entry["name"])
    setpoint = num(entry.get("setpoint_a"))
    phases = len([p for p in as_list(entry.get("phases")) if isinstance(p, str)]) or 1
    room = (
        "an unknown power" if cars_kw is None else f"{max(cars_kw, 0.0):.1f} kW"
    ) + " (what the budget left after the house's present draw and the margin)"
    if entry.get("reason") == Reason.TARIFF_OVERRIDE:
        need = num(needed.get(name))
        need_text = f"{need:.1f} kW" if need is not None else "more power"
        return (
            f"The cars could still take {room}, but {name} must be ready by its time and needs "
            f"{need_text} from now: it may exceed the budget (the fuse still holds)."
        )
    held = (
        f"paused: its share is below its minimum on {phases} phase(s)"
        if setpoint == 0
        else f"held at {setpoint:g} A on {phases} phase(s)"
    )
    return f"The cars could still take {room}: {name} {held}."
