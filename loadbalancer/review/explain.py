"""``log --explain``: why the limits were what they were at a time, told in words."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from loadbalancer.control.reasons import Reason
from loadbalancer.errors import LoadBalancerError, UsageError
from loadbalancer.review.clock import clock, duration, iso, log_timezone
from loadbalancer.review.facts import (
    as_dict,
    as_list,
    charger_entries,
    num,
)
from loadbalancer.review.lines import (
    Record,
    TimedRecord,
)
from loadbalancer.review.timeline import (
    Episode,
    Site,
    charger_names,
    find_episodes,
    last_startup,
    record_time,
)

#: a reason the service writes itself (not the core): the compliance watch paused the charger
SETPOINT_IGNORED_PAUSE = "setpoint_ignored_pause"


#: every reason code with its meaning, as documented in :mod:`loadbalancer.control.reasons`
#: (a test keeps the two in step)
REASON_MEANINGS: Mapping[str, str] = {
    Reason.OVERLOAD_CUT: "lowered in this decision because the offers no longer fit what one of "
    "its phases allows",
    Reason.SHARE_CUT: "lowered in this decision (no phase over) to make room for another "
    "charger's share",
    Reason.RAMP_UP: "raised, because the headroom has lasted ramp_up_delay_s (raised to the "
    "lowest level seen)",
    Reason.HOLD_RAMP_DELAY: "there is headroom, but it has not yet lasted ramp_up_delay_s: the "
    "set-point is kept",
    Reason.MIN_CURRENT_HOLD: "even its minimum does not fit, but the fuse allows it: within the "
    "rating while the budget lasts, above it for a spike (spike_hold_s) or on little budget, above"
    " the hard limit for one telegram (gG): kept at its minimum",
    Reason.MIN_CURRENT_PAUSE: "paused (0) because even its minimum does not fit and the overload "
    "budget cannot hold it",
    Reason.PAUSED_WAIT_RESUME: "stays paused until its minimum has fitted for resume_delay_s "
    "(doubled per recent pause)",
    Reason.RESUME: "resumed after the wait, in one step to the lowest share seen while it waited",
    Reason.START: "first decision for it since start: offered its minimum, which fits",
    Reason.METER_STALE_FALLBACK: "the meter is stale (none yet, too old, or a phase missing): "
    "set to safe_current_a",
    Reason.CHARGER_OFFLINE_RESERVED: "charger offline: its failsafe current is what it draws, "
    "reserved on its phases",
    Reason.CHARGER_UNKNOWN_RESERVED: "charger answers, but its currents are implausible or it "
    "refuses or ignores its limit: booked at the highest limit it may apply",
    Reason.AT_MAX: "at its maximum (charger or installation) and the allowance would give it "
    "that or more",
    Reason.STEADY: "kept: the allowance gives it exactly its current set-point",
    Reason.NO_CAR: "no car able to charge (IEC 61851 status A, E or F): its minimum from what the "
    "cars leave (else 0), no higher",
    SETPOINT_IGNORED_PAUSE: "paused by the service because the car drew more than its limit "
    "after a rewrite (setpoint_ignored); it resumes after resume_delay_s once the car stops",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The decision in force at a time, told in words; ``facts`` are the numbers behind it."""

    at_s: float
    lines: tuple[str, ...]
    facts: Mapping[str, Any]

    def text(self) -> str:
        return "\n".join(self.lines)


def explain(
    records: Sequence[TimedRecord], at_s: float, *, charger: str | None = None
) -> Explanation:
    """Why the limits were what they were at ``at_s``."""
    if not records:
        raise LoadBalancerError("the log has no records")
    zone = log_timezone(records)
    names = charger_names(records)
    if charger is not None and charger not in names:
        known = ", ".join(names) or "none"
        raise UsageError(f"--charger {charger}: no such charger in the log (chargers: {known})")
    if at_s < records[0][0]:
        raise LoadBalancerError(
            f"--explain {iso(at_s, zone)}: before the log starts ({iso(records[0][0], zone)})"
        )
    index = bisect.bisect_right(records, at_s, key=record_time) - 1
    found: TimedRecord | None = None
    boundary: TimedRecord | None = None
    for t_s, record in reversed(records[: index + 1]):
        if record["event"] == "decision":
            found = (t_s, record)
            break
        if record["event"] in ("startup", "shutdown"):
            boundary = (t_s, record)
            break
    head = f"At {clock(at_s, zone, date=True)}"
    if found is None:
        if boundary is not None and boundary[1]["event"] == "shutdown":
            later = _next(records, index + 1, "startup")
            back = f"; it started again at {clock(later[0], zone)}" if later else ""
            line = (
                f"{head} the service was not running: it shut down at "
                f"{clock(boundary[0], zone, date=True)} and had set every charger to its safe "
                f"current{back}."
            )
        else:
            since = f" (started at {clock(boundary[0], zone)})" if boundary is not None else ""
            line = f"{head} no decision had been made yet{since}."
        return Explanation(at_s, (line,), {"decision": None})

    t_s, record = found
    site = Site.from_startup(last_startup(records, t_s))
    episodes = find_episodes(records)
    trigger = record.get("trigger")
    age = num(record.get("meter_age_s"))
    basis = f"{trigger} " if isinstance(trigger, str) else ""
    aged = f", meter reading {age:.1f} s old" if age is not None else ""
    lines = [f"{head}: the {basis}decision of {clock(t_s, zone)} was in force{aged}."]
    for e in episodes.fallbacks:
        if e.start_s <= at_s <= e.end_s:
            until = f"until {clock(e.end_s, zone)}" if e.ended else "to the end of the log"
            lines.append(
                f"Meter fallback from {clock(e.start_s, zone)} ({e.detail}) {until}: "
                "every charger was set to its safe current"
                + (f" ({site.safe_current_a:g} A)" if site.safe_current_a is not None else "")
                + "; normal control resumes with the next valid telegram."
            )
    per_phase = _per_phase(record)
    if per_phase:
        lines.append(f"Per phase (meter / house / allowed for the chargers): {per_phase}.")
    facts: dict[str, Any] = {"decision": iso(t_s, zone), "chargers": {}}
    entries = [c for c in charger_entries(record) if charger is None or c["name"] == charger]
    if not entries:
        lines.append(
            "This decision carries no charger" + (f" named {charger}." if charger else ".")
        )
    for entry in entries:
        name = str(entry["name"])
        outage = next(
            (e for e in episodes.outages.get(name, ()) if e.start_s <= at_s <= e.end_s), None
        )
        text, numbers = _explain_charger(
            records, index, t_s, record, entry, site, outage, zone, charger_entries(record)
        )
        lines += text
        facts["chargers"][name] = numbers
    return Explanation(at_s, tuple(lines), facts)


def _per_phase(record: Record) -> str:
    meter, house, allowed = (as_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
    return "; ".join(
        f"{phase} {_a(num(meter.get(phase)))} / {_a(num(house.get(phase)))} / "
        f"{_a(num(allowed.get(phase)))}"
        for phase in meter
    )


def _next(records: Sequence[TimedRecord], start: int, event: str) -> TimedRecord | None:
    for item in records[start:]:
        if item[1]["event"] == event:
            return item
    return None


def _a(value: float | None, digits: int = 1) -> str:
    return "unknown" if value is None else f"{value:.{digits}f} A"


def _sp(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} A"


def _explain_charger(
    records: Sequence[TimedRecord],
    index: int,
    t_s: float,
    record: Record,
    entry: dict[str, Any],
    site: Site,
    outage: Episode | None,
    zone: tzinfo,
    everyone: list[dict[str, Any]],
) -> tuple[list[str], dict[str, Any]]:
    name = str(entry["name"])
    setpoint = num(entry.get("setpoint_a"))
    previous = num(entry.get("previous_a"))
    reason = str(entry.get("reason", "unknown"))
    meaning = REASON_MEANINGS.get(reason, "a reason this version does not know")
    phases = [p for p in as_list(entry.get("phases")) if isinstance(p, str)]
    was = (
        f" (was {_sp(previous)})"
        if previous is not None and setpoint is not None and previous != setpoint
        else ""
    )
    state = "paused (0 A)" if setpoint == 0 else f"at {_sp(setpoint)}"
    lines = [f"{name} was {state}{was}. Rule: {reason}: {meaning}."]
    numbers: dict[str, Any] = {"setpoint_a": setpoint, "previous_a": previous, "reason": reason}
    if outage is not None:
        back = f"came back at {clock(outage.end_s, zone)}" if outage.ended else "had not come back"
        lines.append(
            f"  {name} was offline from {clock(outage.start_s, zone)}"
            + (f" ({outage.detail})" if outage.detail else "")
            + f" and {back}; its failsafe current stays reserved on "
            + ("/".join(phases) or "its phases")
            + " so the others cannot use it."
        )
    meter, house, allowed = (as_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
    phase = _limiting_phase(entry, everyone, allowed, reason)
    if phase is not None:
        meter_a, house_a = num(meter.get(phase)), num(house.get(phase))
        allowed_a = num(allowed.get(phase))
        cars_a = None if meter_a is None or house_a is None else meter_a - house_a
        sharing = [
            f"{c['name']} {_a(_measured_on(c, phase))}"
            for c in everyone
            if phase in as_list(c.get("phases")) and _measured_on(c, phase) is not None
        ]
        over = reason == Reason.OVERLOAD_CUT
        lines.append(
            f"  {'Overloaded' if over else 'Limiting'} phase {phase}: the meter showed "
            f"{_a(meter_a)}, of which the house {_a(house_a)} and the car(s) {_a(cars_a)}"
            + (f" ({', '.join(sharing)})" if sharing else "")
            + "."
        )
        lines.append("  " + _allowed_line(phase, allowed_a, house_a, site))
        if over and allowed_a is not None:
            offered = _offered_on(everyone, phase)
            lines.append(
                f"  The set-points offered on {phase} ({offered:g} A) no longer fitted the "
                f"{allowed_a:.1f} A allowed: cut at once to {_sp(setpoint)}."
            )
        numbers.update(
            phase=phase, meter_a=meter_a, house_a=house_a, cars_a=cars_a, allowed_a=allowed_a
        )
    if reason == Reason.MIN_CURRENT_HOLD:
        used = as_dict(record.get("budget_used_s"))
        spent = ", ".join(f"{p} {v:.0f} s" for p in phases if (v := num(used.get(p))) is not None)
        lines.append(
            "  Held at its minimum on the fuse's overload budget"
            + (f" (used so far: {spent})" if spent else "")
            + "; when the budget runs out it is paused."
        )
    elif reason == Reason.SHARE_CUT:
        others = [
            f"{c['name']} {_sp(num(c.get('setpoint_a')))}" for c in everyone if c is not entry
        ]
        if others:
            lines.append(f"  Shared with: {', '.join(others)} (higher priority is served first).")
    elif reason == Reason.METER_STALE_FALLBACK:
        lines.append("  No meter figures: the limit is the safe current, not a share of the fuse.")
    lines.append("  " + _next_rise(records, index, t_s, name, setpoint, reason, site, zone))
    return lines, numbers


def _measured_on(entry: dict[str, Any], phase: str) -> float | None:
    phases = as_list(entry.get("phases"))
    measured = as_list(entry.get("measured_a"))
    if phase in phases and phases.index(phase) < len(measured):
        return num(measured[phases.index(phase)])
    return None


def _offered_on(everyone: list[dict[str, Any]], phase: str) -> float:
    return sum(
        num(c.get("previous_a")) or 0.0
        for c in everyone
        if phase in as_list(c.get("phases"))
        and c.get("reason")
        not in (Reason.CHARGER_OFFLINE_RESERVED, Reason.CHARGER_UNKNOWN_RESERVED)
    )


def _limiting_phase(
    entry: dict[str, Any], everyone: list[dict[str, Any]], allowed: dict[str, Any], reason: str
) -> str | None:
    """For a cut the phase most over; otherwise the charger's phase with the least room left
    next to the other chargers' set-points."""
    candidates = [
        (p, a)
        for p in as_list(entry.get("phases"))
        if isinstance(p, str) and (a := num(allowed.get(p))) is not None
    ]
    if not candidates:
        return None
    if reason == Reason.OVERLOAD_CUT:
        return max(candidates, key=lambda pa: _offered_on(everyone, pa[0]) - pa[1])[0]

    def room_a(phase: str, allowed_a: float) -> float:
        """What the phase leaves for this charger next to the others' set-points."""
        others = (c for c in everyone if c is not entry and phase in as_list(c.get("phases")))
        return allowed_a - sum(num(c.get("setpoint_a")) or 0.0 for c in others)

    return min(candidates, key=lambda pa: room_a(*pa))[0]


def _allowed_line(phase: str, allowed_a: float | None, house_a: float | None, site: Site) -> str:
    if allowed_a is None:
        return f"Allowed on {phase}: unknown (the record has no allowed_a there)."
    if house_a is None:
        return f"Allowed for the chargers on {phase}: {allowed_a:.1f} A."
    target_a = allowed_a + house_a
    if site.rating_a is not None and site.margin_a is not None:
        reserved_a = site.rating_a - site.margin_a - target_a
        reserved = (
            f" − {reserved_a:.1f} A reserved for offline chargers" if reserved_a > 0.05 else ""
        )
        return (
            f"Allowed for the chargers on {phase}: {site.rating_a:g} A rating − "
            f"{site.margin_a:g} A margin − {house_a:.1f} A house{reserved} = {allowed_a:.1f} A."
        )
    rating = f" (fuse rating {site.rating_a:g} A)" if site.rating_a is not None else ""
    return (
        f"Allowed for the chargers on {phase}: {target_a:.1f} A (rating − margin − any "
        f"reserve{rating}) − {house_a:.1f} A house = {allowed_a:.1f} A."
    )


def _next_rise(
    records: Sequence[TimedRecord],
    index: int,
    t_s: float,
    name: str,
    setpoint: float | None,
    reason: str,
    site: Site,
    zone: tzinfo,
) -> str:
    """When the limit may rise again, and when (per the log) it did."""
    if reason == Reason.AT_MAX:
        return "It was at its maximum: it could not rise."
    if reason == Reason.METER_STALE_FALLBACK:
        rule = "Normal control (and any raise) resumes with the next valid telegram."
    elif reason == Reason.CHARGER_OFFLINE_RESERVED:
        rule = "Its limit is set again once it answers (charger_online)."
    elif reason == Reason.CHARGER_UNKNOWN_RESERVED:
        rule = "Normal control resumes once its reads are plausible and it applies its limit."
    elif setpoint == 0:
        delay = (
            f"{site.resume_delay_s:g} s, from the startup record"
            if site.resume_delay_s is not None
            else "not in this log; see control.resume_delay_s in the site file"
        )
        rule = (
            f"A paused charger resumes once its minimum has fitted for resume_delay_s ({delay}), "
            "doubled for each pause in the last hour, to what fitted meanwhile."
        )
    else:
        delay = (
            f"{site.ramp_up_delay_s:g} s, from the startup record"
            if site.ramp_up_delay_s is not None
            else "not in this log; see control.ramp_up_delay_s in the site file"
        )
        rule = f"The limit may rise only after headroom has lasted ramp_up_delay_s ({delay})."
    headroom_s: float | None = None
    for later_s, later in records[index + 1 :]:
        event = later["event"]
        if event in ("startup", "shutdown"):
            return f"{rule} It did not rise before the service stopped at {clock(later_s, zone)}."
        if event != "decision":
            continue
        entry = next((c for c in charger_entries(later) if c["name"] == name), None)
        if entry is None:
            continue
        value = num(entry.get("setpoint_a"))
        rose = value is not None and setpoint is not None and value > setpoint
        if entry.get("reason") == Reason.HOLD_RAMP_DELAY:
            headroom_s = later_s if headroom_s is None else headroom_s
        elif not rose:
            headroom_s = None  # the headroom ended before it had lasted long enough
        if rose:
            since = (
                f", after headroom from {clock(headroom_s, zone)}" if headroom_s is not None else ""
            )
            return (
                f"{rule} It rose next at {clock(later_s, zone)} to {_sp(value)} "
                f"({entry.get('reason')}{since}), {duration(later_s - t_s)} after this decision."
            )
    return f"{rule} It did not rise again before the end of the log."
