"""``log --explain``: why the limits were what they were at a time, told in words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from loadbalancer.control.reasons import Reason
from loadbalancer.errors import LoadBalancerError
from loadbalancer.review.clock import clock, duration, iso
from loadbalancer.review.explain_walk import Look, Rise
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
from loadbalancer.review.scan import Bounds
from loadbalancer.review.tariff_explain import TARIFF_REASONS, interval_length_s, tariff_lines
from loadbalancer.review.timeline import (
    Episode,
    Site,
    known_charger,
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
    Reason.TARIFF_LIMIT: "limited by the capacity tariff (issue 15), not the fuse: what the "
    "interval's budget leaves after the energy used so far and the house's draw is its ceiling; "
    "paused below its minimum",
    Reason.TARIFF_OVERRIDE: "above what the capacity tariff's budget allows, because its user "
    "asked it to be ready by a time (ready_by): the budget may be exceeded, the fuse still holds",
    Reason.COMMANDED_PAUSE: "paused (0) because a user commanded it (issue 17: mqtt.commands "
    "pause); an offline charger keeps its failsafe current",
    Reason.PHASE_SWITCH_DOWN: "paused (0) to switch the box to one phase (issue 19): three phases "
    "do not fit its minimum (the fuse on one of them, or the capacity tariff), its one_phase_on "
    "phase does",
    Reason.PHASE_SWITCH_UP: "paused (0) to switch the box back to three phases: they have fitted "
    "its minimum, and given it more than one phase, for phase_switch_up_after_s",
    Reason.SHARE_ROTATION_PAUSE: "paused (0) after keeping its share for min_share_hold_s, so "
    "that a car of its priority that has waited longer gets its turn (not every minimum fits: "
    "share rotation)",
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


@dataclass(frozen=True, slots=True)
class _InForce:
    """The decision in force at the time asked, with what telling it needs."""

    #: per charger entry (by ``id``): when its limit rose next (or the service stopped)
    rises: Mapping[int, Rise]
    t_s: float
    record: Record
    site: Site
    zone: tzinfo
    #: the capacity tariff's interval length (None: the log does not say)
    interval_s: int | None


def explain(
    records: Iterable[TimedRecord],
    at_s: float,
    *,
    charger: str | None = None,
    bounds: Bounds | None = None,
) -> Explanation:
    """Why the limits were what they were at ``at_s``: from a list of records sorted by time,
    or a :class:`~.stream.LogStream` with the ``bounds`` of a first look, in one walk (the
    records after ``at_s`` tell when each limit rose next)."""
    if bounds is None:
        records = records if isinstance(records, Sequence) else list(records)
        bounds = Bounds.of(records)
    if bounds is None:
        raise LoadBalancerError("the log has no records")
    look = Look(at_s, charger)
    for item in records:
        look.add(item)
    rises = look.finish()
    zone = bounds.zone
    if charger is not None:
        known_charger(charger, list(look.names.names))
    if at_s < bounds.first[0]:
        raise LoadBalancerError(
            f"--explain {iso(at_s, zone)}: before the log starts ({iso(bounds.first[0], zone)})"
        )
    marker = look.marker
    if marker is None or marker[1]["event"] != "decision":
        return _no_decision(bounds, at_s, marker, zone)
    t_s, record = marker
    startup, at_startup = bounds.last_startup(t_s), bounds.last_startup(at_s)
    length_s = interval_length_s(None if at_startup is None else at_startup[1], look.interval_s)
    site = Site.from_startup(None if startup is None else startup[1])
    at = _InForce(rises, t_s, record, site, zone, length_s)
    episodes = look.episodes.finish()
    lines = _decision_lines(at, at_s, episodes.fallbacks)
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
        text, numbers = _explain_charger(at, entry, outage)
        lines += text
        facts["chargers"][name] = numbers
    return Explanation(at_s, tuple(lines), facts)


def _no_decision(
    bounds: Bounds, at_s: float, boundary: TimedRecord | None, zone: tzinfo
) -> Explanation:
    head = f"At {clock(at_s, zone, date=True)}"
    if boundary is not None and boundary[1]["event"] == "shutdown":
        later = next((s for s in bounds.startups if s[0] > at_s), None)
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


def _decision_lines(at: _InForce, at_s: float, fallbacks: Sequence[Episode]) -> list[str]:
    """The decision in force, any meter fallback at the time, and the figures by phase."""
    zone, record, site = at.zone, at.record, at.site
    trigger = record.get("trigger")
    age = num(record.get("meter_age_s"))
    basis = f"{trigger} " if isinstance(trigger, str) else ""
    aged = f", meter reading {age:.1f} s old" if age is not None else ""
    lines = [
        f"At {clock(at_s, zone, date=True)}: the {basis}decision of {clock(at.t_s, zone)} was in "
        f"force{aged}."
    ]
    for e in fallbacks:
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
    return lines


def _per_phase(record: Record) -> str:
    meter, house, allowed = (as_dict(record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
    return "; ".join(
        f"{phase} {_a(num(meter.get(phase)))} / {_a(num(house.get(phase)))} / "
        f"{_a(num(allowed.get(phase)))}"
        for phase in meter
    )


def _a(value: float | None, digits: int = 1) -> str:
    return "unknown" if value is None else f"{value:.{digits}f} A"


def _sp(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} A"


def _explain_charger(
    at: _InForce, entry: dict[str, Any], outage: Episode | None
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
        zone = at.zone
        back = f"came back at {clock(outage.end_s, zone)}" if outage.ended else "had not come back"
        lines.append(
            f"  {name} was offline from {clock(outage.start_s, zone)}"
            + (f" ({outage.detail})" if outage.detail else "")
            + f" and {back}; its failsafe current stays reserved on "
            + ("/".join(phases) or "its phases")
            + " so the others cannot use it."
        )
    everyone = charger_entries(at.record)
    lines += _phase_lines(at, entry, everyone, reason, setpoint, numbers)
    lines += _reason_lines(at.record, entry, everyone, reason, phases)
    lines += tariff_lines(at.interval_s, (at.t_s, at.record), at.zone, entry, numbers)
    lines.append("  " + _next_rise(at, entry, setpoint, reason))
    return lines, numbers


def _phase_lines(
    at: _InForce,
    entry: dict[str, Any],
    everyone: list[dict[str, Any]],
    reason: str,
    setpoint: float | None,
    numbers: dict[str, Any],
) -> list[str]:
    """The phase that limited the charger, its figures (also added to ``numbers``)."""
    meter, house, allowed = (as_dict(at.record.get(k)) for k in ("meter_a", "house_a", "allowed_a"))
    phase = _limiting_phase(entry, everyone, allowed, reason)
    if phase is None:
        return []
    meter_a, house_a = num(meter.get(phase)), num(house.get(phase))
    allowed_a = num(allowed.get(phase))
    cars_a = None if meter_a is None or house_a is None else meter_a - house_a
    sharing = [
        f"{c['name']} {_a(_measured_on(c, phase))}"
        for c in everyone
        if phase in as_list(c.get("phases")) and _measured_on(c, phase) is not None
    ]
    over = reason == Reason.OVERLOAD_CUT
    tariff = reason in TARIFF_REASONS  # the phase did not bind, the tariff did
    lines = [
        f"  {'Overloaded' if over else 'Fuse on' if tariff else 'Limiting'} phase {phase}: "
        "the meter showed "
        f"{_a(meter_a)}, of which the house {_a(house_a)} and the car(s) {_a(cars_a)}"
        + (f" ({', '.join(sharing)})" if sharing else "")
        + ".",
        "  " + _allowed_line(phase, allowed_a, house_a, at.site),
    ]
    if over and allowed_a is not None:
        offered = _offered_on(everyone, phase)
        lines.append(
            f"  The set-points offered on {phase} ({offered:g} A) no longer fitted the "
            f"{allowed_a:.1f} A allowed: cut at once to {_sp(setpoint)}."
        )
    numbers.update(
        phase=phase, meter_a=meter_a, house_a=house_a, cars_a=cars_a, allowed_a=allowed_a
    )
    return lines


def _reason_lines(
    record: Record,
    entry: dict[str, Any],
    everyone: list[dict[str, Any]],
    reason: str,
    phases: list[str],
) -> list[str]:
    """What the rule of some reasons adds: the budget spent, the sharing, the stale meter."""
    if reason == Reason.MIN_CURRENT_HOLD:
        used = as_dict(record.get("budget_used_s"))
        spent = ", ".join(f"{p} {v:.0f} s" for p in phases if (v := num(used.get(p))) is not None)
        return [
            "  Held at its minimum on the fuse's overload budget"
            + (f" (used so far: {spent})" if spent else "")
            + "; when the budget runs out it is paused."
        ]
    if reason == Reason.SHARE_CUT:
        others = [
            f"{c['name']} {_sp(num(c.get('setpoint_a')))}" for c in everyone if c is not entry
        ]
        if others:
            return [f"  Shared with: {', '.join(others)} (higher priority is served first)."]
    elif reason == Reason.METER_STALE_FALLBACK:
        return ["  No meter figures: the limit is the safe current, not a share of the fuse."]
    return []


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


def _next_rise(at: _InForce, entry: dict[str, Any], setpoint: float | None, reason: str) -> str:
    """When the limit may rise again, and when (per the log) it did."""
    if reason == Reason.AT_MAX:
        return "It was at its maximum: it could not rise."
    rule = _rise_rule(reason, setpoint, at.site)
    zone = at.zone
    rise = at.rises.get(id(entry))
    found = None if rise is None else rise.found
    if found is None:
        return f"{rule} It did not rise again before the end of the log."
    later_s, value, why, headroom_s = found
    if value is None:
        return f"{rule} It did not rise before the service stopped at {clock(later_s, zone)}."
    since = f", after headroom from {clock(headroom_s, zone)}" if headroom_s is not None else ""
    return (
        f"{rule} It rose next at {clock(later_s, zone)} to {_sp(value)} "
        f"({why}{since}), {duration(later_s - at.t_s)} after this decision."
    )


def _rise_rule(reason: str, setpoint: float | None, site: Site) -> str:
    """The rule by which a limit set for ``reason`` may rise again."""
    if reason == Reason.METER_STALE_FALLBACK:
        return "Normal control (and any raise) resumes with the next valid telegram."
    if reason == Reason.CHARGER_OFFLINE_RESERVED:
        return "Its limit is set again once it answers (charger_online)."
    if reason == Reason.CHARGER_UNKNOWN_RESERVED:
        return "Normal control resumes once its reads are plausible and it applies its limit."
    if setpoint == 0:
        delay = (
            f"{site.resume_delay_s:g} s, from the startup record"
            if site.resume_delay_s is not None
            else "not in this log; see control.resume_delay_s in the site file"
        )
        return (
            f"A paused charger resumes once its minimum has fitted for resume_delay_s ({delay}), "
            "doubled for each pause in the last hour, to what fitted meanwhile."
        )
    delay = (
        f"{site.ramp_up_delay_s:g} s, from the startup record"
        if site.ramp_up_delay_s is not None
        else "not in this log; see control.ramp_up_delay_s in the site file"
    )
    return f"The limit may rise only after headroom has lasted ramp_up_delay_s ({delay})."
