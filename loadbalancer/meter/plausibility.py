"""Plausibility checks every meter parser applies before it hands out a reading.

Three kinds of check, all pure:

* :func:`judge_phases`: every number finite (NaN, ±inf refused), then values no house produces;
* :func:`signed_currents`: HAN currents carry no sign, so the sign comes from the phase's
  import/export power; that power must agree with ``U·I`` and with the meter's totals, or the
  reading is refused. A real meter's ``|P| = U·I·cos φ`` never exceeds ``U·I`` (plus rounding);
  an export that is real shows an active power of the current's order. Where the sign cannot be
  trusted (a tiny export beside a large current), import is booked: that only lowers limits;
* :func:`site_implausible`: currents judged against the site's fuse (the parser cannot know it):
  several times the rating is a broken meter or a wrong current scale, not a load.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from loadbalancer.electric import PHASES
from loadbalancer.meter.reading import MeterEvent, PhaseValues, Reading, Rejection

#: Values no real house produces.
MAX_PHASE_CURRENT_A = 1000.0
MAX_VOLTAGE_V = 500.0
MAX_PHASE_POWER_W = 500_000.0
#: After this many consecutive readings agreeing that a counter is lower than before, the
#: meter was replaced or reset: accept the new counter instead of staying blind forever.
COUNTER_RESET_CONFIRMATIONS = 3

#: A phase voltage below this is no measurement to divide by (a missing phase reads 0 V); the
#: nominal band of EN 50160 (230 V ± 10 %) stands in for it.
MIN_CREDIBLE_VOLTAGE_V = 50.0
NOMINAL_VOLTAGE_RANGE_V = (207.0, 253.0)
#: ``|P| / U`` may exceed the current (plus its last digit) by this fraction and this many
#: amperes: meter accuracy, and values sampled a moment apart (real captures reach 1.15 at 0.4 A).
POWER_TOLERANCE = 0.10
POWER_SLACK_A = 0.2
#: An export claim is believed when its active current ``|P| / U`` is at least this fraction of
#: the current, less :data:`EXPORT_SLACK_A` (standby loads and rounding at low currents: real
#: captures export 12 W beside 0.6 A). Below that the sign is unknown and import is booked.
EXPORT_MIN_POWER_FACTOR = 0.5
EXPORT_SLACK_A = 1.0
#: The per-phase powers must add up to the totals (1.7.0 − 2.7.0) within this many watts plus
#: this fraction of the larger side (captures differ by up to 20 % when sampled apart).
TOTALS_SLACK_W = 300.0
TOTALS_TOLERANCE = 0.25
#: A phase current above this many times the main fuse's rating is no load the fuse would
#: carry for a telegram period: a broken meter or a wrong scale (Kamstrup behind CTs).
SITE_CURRENT_FACTOR = 3.0


def not_finite(values: Iterable[tuple[str, float | None]]) -> str | None:
    """The first named value that is NaN or infinite, described, or None."""
    for name, value in values:
        if value is not None and not math.isfinite(value):
            return f"{name} is {value} (not a finite number)"
    return None


def _beyond(name: str, value: float, limit: str) -> str:
    if not math.isfinite(value):
        return f"{name} is {value} (not a finite number)"
    unit = name.rsplit(" ", 1)[-1]
    shown = value if unit == "voltage" else abs(value)
    return f"{name} {shown:g} {_UNITS[unit]} {limit}"


_UNITS = {"current": "A", "voltage": "V", "power": "W"}


class PhaseRaw(NamedTuple):
    """One phase as the meter sent it, before the current gets its sign.

    ``current_a`` is the value sent (a magnitude unless ``signed``); ``resolution_a`` its last
    digit (1 for whole-ampere meters); ``import_w``/``export_w`` the phase's active powers.
    (A named tuple rather than a frozen dataclass: three are built per telegram.)
    """

    current_a: float | None
    voltage_v: float | None
    import_w: float | None = None
    export_w: float | None = None
    signed: bool = False
    resolution_a: float = 0.01


@dataclass(frozen=True, slots=True)
class SignedPhases:
    """The three phases' signed currents (negative = export) and net powers."""

    current_a: tuple[float | None, float | None, float | None]
    power_w: tuple[float | None, float | None, float | None]


class _Signed(NamedTuple):
    """One phase judged: its signed current and net power, and what the totals check needs."""

    current_a: float | None
    power_w: float | None
    #: the most import power the current, booked as import, can carry (0 for an export)
    carried_w: float = 0.0
    #: False for a phase with a current but no power: the totals cannot be summed
    powered: bool = True
    #: False for a phase the meter measures (a voltage or a power) without its current
    measured: bool = True


def signed_currents(
    phases: Sequence[PhaseRaw], import_w: float | None, export_w: float | None
) -> SignedPhases | str:
    """Signed currents for the three phases, or why their values cannot be real.

    Per phase (:func:`_sign_phase`): no value beyond what a house produces
    (:data:`MAX_PHASE_CURRENT_A` ...); ``|P| / U`` may not exceed the current (a meter cannot
    measure more active power than ``U·I``); whole-ampere currents are refined by ``|P| / U``
    within their last digit. An unsigned current is negative when the phase exports and the
    export carries the current (:data:`EXPORT_MIN_POWER_FACTOR`); a smaller export leaves the
    sign unknown: import. Over the phases (:func:`_totals_problem`): their powers add up to the
    totals, and the import the totals show is carried by the currents booked as import (this
    also checks meters that sign their own currents).
    """
    judged: list[_Signed] = []
    for name, phase in zip(PHASES, phases, strict=False):
        one = _sign_phase(name, phase)
        if isinstance(one, str):
            return one
        judged.append(one)
    if import_w is not None or export_w is not None:
        problem = _totals_problem(judged, (import_w or 0.0) - (export_w or 0.0))
        if problem is not None:
            return problem
    l1, l2, l3 = judged
    return SignedPhases(
        (l1.current_a, l2.current_a, l3.current_a), (l1.power_w, l2.power_w, l3.power_w)
    )


def _sign_phase(name: str, phase: PhaseRaw) -> _Signed | str:
    """One phase's signed current and net power, or why its values cannot be real."""
    amp, volt, p_imp, p_exp = phase.current_a, phase.voltage_v, phase.import_w, phase.export_w
    net = None if p_imp is None and p_exp is None else round((p_imp or 0.0) - (p_exp or 0.0), 6)
    # values no house produces (one comparison each, written so that NaN fails it too)
    if amp is not None and not abs(amp) <= MAX_PHASE_CURRENT_A:
        return _beyond(f"{name} current", amp, f"is over {MAX_PHASE_CURRENT_A:g} A")
    if volt is not None and not 0.0 <= volt <= MAX_VOLTAGE_V:
        return _beyond(f"{name} voltage", volt, f"is outside 0-{MAX_VOLTAGE_V:g} V")
    if net is not None and not abs(net) <= MAX_PHASE_POWER_W:
        return _beyond(f"{name} power", net, f"is over {MAX_PHASE_POWER_W:g} W")
    if amp is None:
        return _Signed(None, net, 0.0, True, volt is None and net is None)
    magnitude = abs(amp)
    if volt is not None and volt >= MIN_CREDIBLE_VOLTAGE_V:
        credible, low_v, high_v = True, volt, volt
    else:
        credible = False
        low_v, high_v = NOMINAL_VOLTAGE_RANGE_V
    if net is not None:
        active_a = abs(net) / low_v  # the most current the power can mean
        if active_a > _ceiling_a(magnitude, phase.resolution_a):
            return (
                f"{name} power {net:g} W does not fit {magnitude:g} A at "
                f"{_volts(volt)} (|P|/U = {active_a:.1f} A)"
            )
        if phase.resolution_a >= 1.0 and credible:
            # Whole-ampere meters (Iskra AM550, Dutch Kaifa): |P|/U refines the value
            # within its last digit and never lowers it (docs/meters.md §Swedish HAN-P1).
            magnitude = max(magnitude, round(abs(net) / high_v, 2))
    if phase.signed:
        if amp < 0 and net is not None and net / high_v > EXPORT_SLACK_A:
            return f"{name} current {amp:g} A is export but its power {net:g} W is import"
        claims_export = amp < 0
    else:
        claims_export = net is not None and net < 0 and (p_exp or 0.0) > 0.0
    # with the phase's power at hand, an export must carry the current, else import
    believed = claims_export and (
        net is None
        or abs(net) / high_v  # the least current the export can mean
        >= EXPORT_MIN_POWER_FACTOR * (magnitude - phase.resolution_a) - EXPORT_SLACK_A
    )
    powered = net is not None
    if believed and magnitude:
        return _Signed(-magnitude, net, 0.0, powered, True)
    carried_w = high_v * _ceiling_a(magnitude, phase.resolution_a)
    return _Signed(magnitude, net, carried_w, powered, True)


def _totals_problem(judged: Sequence[_Signed], total_w: float) -> str | None:
    """Why the phases cannot add up to the meter's net total ``total_w`` (1.7.0 − 2.7.0)."""
    phase_sum_w = spread_w = carried_w = 0.0
    any_current, all_powered, all_measured = False, True, True
    for current_a, power_w, phase_carried_w, powered, measured in judged:
        if power_w is not None:
            phase_sum_w += power_w
            spread_w += abs(power_w)
        carried_w += phase_carried_w
        any_current = any_current or current_a is not None
        all_powered = all_powered and powered
        all_measured = all_measured and measured
    if not any_current:
        return None
    spread_w = max(abs(total_w), spread_w)
    if all_powered and abs(total_w - phase_sum_w) > TOTALS_SLACK_W + TOTALS_TOLERANCE * spread_w:
        return (
            f"the phase powers add up to {phase_sum_w:g} W but the totals say {total_w:g} W "
            "(1.7.0 - 2.7.0)"
        )
    # a phase the meter measures without a current may carry any part of the total
    if all_measured and total_w > carried_w + TOTALS_SLACK_W:
        return (
            f"the totals import {total_w:g} W but the currents booked as import carry at "
            f"most {carried_w:.0f} W"
        )
    return None


def judge_phases(
    phases: Sequence[PhaseRaw],
    import_w: float | None,
    export_w: float | None,
    others: Iterable[tuple[str, float | None]] = (),
) -> SignedPhases | str:
    """The one gate of a decoded telegram: every number finite (``others`` names the values
    beyond the phases, energy counters among them), then :func:`signed_currents`."""
    values = [import_w, export_w]
    for phase in phases:
        values += phase[:4]  # current, voltage, import and export power
    others = list(others)
    values += [value for _, value in others]
    # NaN and ±inf make the sum not finite; a finite sum is the common case, one C-level pass
    if math.isfinite(sum(filter(None, values))):
        return signed_currents(phases, import_w, export_w)
    for value in values:
        if value is not None and not math.isfinite(value):
            named: list[tuple[str, float | None]] = []
            for name, phase in zip(PHASES, phases, strict=False):
                named += [(f"{name} current", phase.current_a)]
                named += [(f"{name} voltage", phase.voltage_v)]
                named += [(f"{name} import power", phase.import_w)]
                named += [(f"{name} export power", phase.export_w)]
            named += [("import power", import_w), ("export power", export_w), *others]
            return not_finite(named) or "a value is not a finite number"
    return signed_currents(phases, import_w, export_w)


class Decoded(NamedTuple):
    """A telegram's (or frame's) values as its parser decoded them, before any check.

    ``phases`` hold the currents as sent (unsigned unless the meter signs them); ``extra``
    the fields some countries add. (A named tuple: one is built per telegram.)
    """

    phases: Sequence[PhaseRaw]
    import_w: float | None
    export_w: float | None
    energy_import_kwh: float | None
    energy_export_kwh: float | None
    meter_id: str | None
    meter_time: datetime | None
    header: str
    protocol: str
    extra: Mapping[str, float | str]
    size_bytes: int


def judge_reading(decoded: Decoded, received_s: float, counters: CounterWatch) -> MeterEvent:
    """The one assembly of a reading, for every parser: every number finite and within what a
    house produces, the currents signed (:func:`judge_phases`), the energy counters not going
    backwards (``counters``); then the :class:`Reading`, else a :class:`Rejection` naming why.
    """
    e_imp, e_exp = decoded.energy_import_kwh, decoded.energy_export_kwh
    others = [("import energy", e_imp), ("export energy", e_exp)]
    others += [(name, v) for name, v in decoded.extra.items() if isinstance(v, float)]
    signed = judge_phases(decoded.phases, decoded.import_w, decoded.export_w, others)
    if isinstance(signed, str):
        return _implausible(decoded, received_s, signed)
    problem = counters.backwards(e_imp, e_exp, decoded.meter_id)
    if problem is not None:
        return _implausible(decoded, received_s, problem)
    l1, l2, l3 = decoded.phases
    return Reading(  # positional, in Reading's field order (one is built per telegram)
        received_s,
        decoded.meter_time,
        decoded.meter_id,
        PhaseValues(*signed.current_a),
        PhaseValues(l1.voltage_v, l2.voltage_v, l3.voltage_v),
        PhaseValues(*signed.power_w),
        decoded.import_w,
        decoded.export_w,
        e_imp,
        e_exp,
        decoded.header,
        decoded.protocol,
        decoded.extra,
        decoded.size_bytes,
    )


def _implausible(decoded: Decoded, received_s: float, problem: str) -> Rejection:
    return Rejection(received_s, f"implausible: {problem}", decoded.size_bytes, decoded.header)


def _ceiling_a(magnitude_a: float, resolution_a: float) -> float:
    """The most active current a phase current as sent can carry (rounding and tolerance)."""
    return (magnitude_a + resolution_a) * (1 + POWER_TOLERANCE) + POWER_SLACK_A


def _volts(volt: float | None) -> str:
    if volt is None or volt < MIN_CREDIBLE_VOLTAGE_V:
        low, high = NOMINAL_VOLTAGE_RANGE_V
        return f"{low:g}-{high:g} V (none measured)"
    return f"{volt:g} V"


def site_implausible(currents: Iterable[float | None], fuse_rating_a: float) -> str | None:
    """Why the currents cannot be real on a site with this main fuse, or None."""
    limit_a = SITE_CURRENT_FACTOR * fuse_rating_a
    for phase, amp in zip(PHASES, currents, strict=False):
        if amp is not None and not math.isfinite(amp):
            return f"{phase} current is {amp} (not a finite number)"
        if amp is not None and abs(amp) > limit_a:
            return (
                f"{phase} current {abs(amp):g} A is over {SITE_CURRENT_FACTOR:g} x the "
                f"{fuse_rating_a:g} A fuse: a broken meter or a wrong current scale"
            )
    return None


class CounterWatch:
    """Energy counters only go up: a reading whose counter went backwards is refused, until
    :data:`COUNTER_RESET_CONFIRMATIONS` readings in a row agree (a new or reset meter). A
    reading with another meter id than the last one with counters starts afresh."""

    def __init__(self) -> None:
        self._last: tuple[float | None, float | None] = (None, None)
        self._meter_id: str | None = None
        self._backwards_streak = 0

    def backwards(
        self, e_imp: float | None, e_exp: float | None, meter_id: str | None = None
    ) -> str | None:
        """Why the counters cannot follow the last accepted ones, or None (and remember them)."""
        if e_imp is None and e_exp is None:
            return None
        if meter_id != self._meter_id:
            self._meter_id = meter_id
            self._last = (None, None)
            self._backwards_streak = 0
        last_imp, last_exp = self._last
        problems = [
            f"{what} energy counter went backwards: {old:.3f} -> {new:.3f} kWh"
            for what, old, new in (("import", last_imp, e_imp), ("export", last_exp, e_exp))
            if old is not None and new is not None and new < old
        ]
        if problems:
            self._backwards_streak += 1
            if self._backwards_streak < COUNTER_RESET_CONFIRMATIONS:
                return "; ".join(problems)
        self._backwards_streak = 0
        self._last = (
            e_imp if e_imp is not None else last_imp,
            e_exp if e_exp is not None else last_exp,
        )
        return None
