"""The capacity tariff's ceiling (issue 15): a second, softer limit beside the fuse's.

In the running interval the cars may still take

    P = (budget × interval − energy so far) / time left − the house's present draw − margin

(the house's draw: the meter's currents minus what the online chargers measure, at the
nominal 230 V per phase, so that an offline or unknown charger's draw counts as the house's
does). P is shared between the cars as the fuse's allowance is (:func:`.allocate.share`: equal
shares within a priority, higher priority first), in watts, and each car's share becomes a
ceiling in amperes on its phases (a three-phase car takes P / (3 · 230) per phase). The ceiling
only lowers a car's claim: the fuse's allowance stays absolute.

The tariff counts energy over the interval, not power, so a car is not paused each time its
share dips below its minimum (a 5 kW budget leaves a three-phase car less than its 4.1 kW
minimum most of an evening: duty-cycling at the minimum opened the contactor some 560 times in
the bundled month). The rules plan *when* in the interval a car charges: late, in one run that
ends at the interval's edge, where a load the house adds can still be made room for
(docs/control.md §Capacity tariff). They reckon with the house's *mean* draw so far in the
interval (the register's energy less what the cars drew, which the core remembers:
:class:`.state.TariffMemory`), not its present one: a heat pump's cycle changes the present
draw by 2.4 kW every few minutes, the mean hardly.

* **Start**: a paused car starts when its share reaches its minimum both at the house's present
  and at its mean draw, that is when what is left of the interval lets it run at its minimum
  to the interval's end, and only if that run lasts at least :data:`MIN_RUN_S`, counting what
  the next interval would leave it at the house's present draw.
* **Hold**: a car in a run begun in this interval whose share is below its minimum is kept at
  its minimum while the interval's allowance for the cars at the house's mean draw still
  covers it until the next decision (less :data:`HOLD_MARGIN_SHARE` of the margin's energy),
  and while the house's lasting draw (a one-telegram spike left out) has not risen more than
  :data:`HOLD_RISE_W` above its mean (a sauna or an oven the run was not planned for). A run
  begun in an earlier interval is not held: spending the new interval's allowance first
  would leave nothing to make room for a load that comes later in it.
* As in the fuse's minimum rule, when the shares are below the minimums the least entitled car
  (lowest priority, a paused one before a running one, the last configured) leaves the pool,
  held or at 0, and the others share again, so that one car charges rather than none.

A charger whose user asked it to be ready by a time (``needed_kw``, the power it needs from now
on) gets the larger of its share and its need (never more than it wants; the fuse's allowance
still caps it), and the others share what is left of P: the budget is exceeded by at most what
the ready-by chargers need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from loadbalancer.control.allocate import EPSILON_A, Claim, share
from loadbalancer.control.demand import Online
from loadbalancer.control.hold import Hold, HoldRule
from loadbalancer.control.inputs import MeterInput, TariffInput
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import TariffMemory
from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASE_IN_USE_A

#: the shortest time left counted at the end of an interval (a decision on its last edge)
MIN_TIME_LEFT_S = 1.0
#: a paused car starts only for a run at its minimum of at least this long (contactor wear)
MIN_RUN_S = 600.0
#: the start and hold rules plan runs within intervals at least this long; in shorter ones
#: (15 minutes) a run of the minimum rule's length does not fit them, and a car pauses when
#: its share is below its minimum (measured: docs/control.md §Capacity tariff)
PLANNED_FROM_S = 1800.0
#: a car held at its minimum may spend this share of the margin's energy over the interval
HOLD_MARGIN_SHARE = 0.5
#: a hold ends when the house's lasting draw has been this far above its mean in the interval
#: for :data:`HOLD_RISE_S` (a load the run was not planned for: an oven, a dryer; a heat pump's
#: on-time is shorter), or at once when it is :data:`HOLD_SURGE_W` above it (a sauna)
HOLD_RISE_W = 1500.0
HOLD_RISE_S = 150.0
HOLD_SURGE_W = 3000.0
#: the house's mean in the interval counts alone after this long (before, blended with the
#: larger of its present draw and the last interval's mean)
MEAN_AFTER_S = 300.0
#: watts treated as equal
EPSILON_W = 1e-3

#: reasons that mean "the share it was given": when the tariff's ceiling was that share, the
#: tariff is what bound
_SHARED = frozenset({Reason.SHARE_CUT, Reason.AT_MAX, Reason.STEADY, Reason.MIN_CURRENT_PAUSE})
#: reasons of a charger running at what it was given, raised or kept (not ``start``: a first
#: set-point, or the first after a fallback, keeps its own reason and its own timing rule)
_RUNNING = frozenset(
    {
        Reason.AT_MAX,
        Reason.STEADY,
        Reason.RAMP_UP,
        Reason.HOLD_RAMP_DELAY,
        Reason.RESUME,
        Reason.SHARE_CUT,
    }
)


@dataclass(frozen=True, slots=True)
class TariffCeilings:
    """Per online charger index with a car the tariff's ceiling in amperes per phase, and per
    charger given more than its share for its ``ready_by`` the ceiling its share alone was."""

    ceiling_a: dict[int, float]
    override_alone_a: dict[int, float]

    def capped(self, charger: Online) -> Online:
        """``charger`` with its claim no higher than its ceiling (unchanged if it has none)."""
        ceiling_a = self.ceiling_a.get(charger.index)
        if ceiling_a is None or ceiling_a >= charger.claim.max_a:
            return charger
        claim = replace(
            charger.claim,
            demand_a=min(charger.claim.demand_a, ceiling_a),
            max_a=ceiling_a,
        )
        return replace(charger, claim=claim)

    def below_minimum(self, charger: Online) -> bool:
        ceiling_a = self.ceiling_a.get(charger.index)
        return ceiling_a is not None and ceiling_a < charger.spec.min_current_a - EPSILON_A

    def reason(
        self, charger: Online, share_a: float | None, setpoint_a: float, reason: Reason
    ) -> Reason:
        """``reason``, or the tariff's when its ceiling is what bound (or was overridden)."""
        index = charger.index
        alone_a = self.override_alone_a.get(index)
        if alone_a is not None and setpoint_a > alone_a + EPSILON_A and reason in _RUNNING:
            return Reason.TARIFF_OVERRIDE
        ceiling_a = self.ceiling_a.get(index)
        if ceiling_a is None or ceiling_a >= charger.spec.max_current_a - EPSILON_A:
            return reason
        if self.below_minimum(charger):
            paused = reason in _SHARED or reason is Reason.PAUSED_WAIT_RESUME
            return Reason.TARIFF_LIMIT if paused else reason
        bound = share_a is not None and share_a >= ceiling_a - 1e-6
        return Reason.TARIFF_LIMIT if bound and reason in _SHARED else reason


def car_power_w(tariff: TariffInput, house_a: Sequence[float], phases: int, now_s: float) -> float:
    """What the cars may still take in the running interval, in watts (may be negative), with
    ``house_a`` all that is not theirs per grid phase."""
    interval_s = tariff.interval_end_s - tariff.interval_start_s
    left_s = max(tariff.interval_end_s - now_s, MIN_TIME_LEFT_S)
    left_kwh = tariff.budget_kw * interval_s / 3600.0 - tariff.energy_kwh_so_far
    house_w = sum(house_a[:phases]) * NOMINAL_VOLTAGE_V
    return left_kwh * 3.6e6 / left_s - house_w - tariff.margin_kw * 1000.0


@dataclass(frozen=True, slots=True)
class _Interval:
    """The running interval as the start and hold rules see it."""

    left_s: float
    #: what the next interval would leave the cars at the house's present draw, in watts
    next_w: float
    interval_s: float
    #: the energy a hold may overspend the interval's allowance by, in watt-seconds
    tolerance_ws: float
    #: until the next decision, in seconds
    horizon_s: float
    #: the running interval's start on the core's clock
    start_s: float
    #: the house's draw in watts: now, its mean so far in the interval, and its lasting draw
    #: (the lower of now and the last telegram: a one-telegram spike is no reason to stop)
    present_w: float
    mean_w: float
    lasting_w: float
    #: since when the lasting draw has been more than :data:`HOLD_RISE_W` above the mean
    rise_since_s: float | None
    now_s: float

    def may_start(self, charger: Online, share_w: float) -> bool:
        """Whether a run at the minimum from now lasts :data:`MIN_RUN_S`: to this interval's
        end, and on what the next one would leave."""
        if self.interval_s < PLANNED_FROM_S:
            return True
        if share_w + self.present_w - self.mean_w < _min_w(charger) - EPSILON_W:
            return False
        run_s = self.left_s + max(0.0, self.next_w) * self.interval_s / _min_w(charger)
        return run_s >= MIN_RUN_S - 1e-6

    def may_hold(self, charger: Online, pool_w: float) -> bool:
        """Running, and the interval's allowance ``pool_w`` × time left covers its minimum
        until the next decision and one telegram more (the car's lag after a pause there),
        less the tolerance."""
        if self.interval_s < PLANNED_FROM_S or not (charger.running and _drawing(charger)):
            return False
        since_s = charger.memory.run_since_s
        if since_s is None or since_s < self.start_s:
            return False
        if self.lasting_w - self.mean_w > HOLD_SURGE_W:
            return False
        if self.rise_since_s is not None and self.now_s - self.rise_since_s >= HOLD_RISE_S:
            return False
        # held until the next decision, and if that one pauses it, the car still draws its
        # minimum until the telegram after it (a slow car's lag): two horizons in this interval
        held_s = min(2.0 * self.horizon_s, self.left_s)
        left_ws = (pool_w + self.present_w - self.mean_w) * self.left_s - _min_w(charger) * held_s
        return left_ws >= -self.tolerance_ws


def cars_taken(
    memory: TariffMemory,
    tariff: TariffInput | None,
    online: Sequence[Online],
    meter: MeterInput | None,
    phases: int,
    now_s: float,
) -> TariffMemory:
    """``memory`` brought up to ``now_s`` (see :class:`.state.TariffMemory`): the cars' power
    at the last decision counted since then (or since the interval's start), the house's draw
    on this telegram, and at a new interval the last one's house mean. No tariff: nothing."""
    if tariff is None:
        return TariffMemory()
    start_s = tariff.interval_start_s
    same = memory.interval_start_s == start_s
    kwh = memory.cars_kwh if same else 0.0
    if memory.last_s is not None:
        kwh += memory.cars_w * max(0.0, now_s - max(memory.last_s, start_s)) / 3.6e6
    last_house_w = memory.last_house_w
    if not same and memory.interval_start_s is not None and memory.last_s is not None:
        elapsed_s = memory.last_s - memory.interval_start_s
        if elapsed_s >= MEAN_AFTER_S:
            house_kwh = max(0.0, memory.energy_kwh - memory.cars_kwh)
            last_house_w = house_kwh * 3.6e6 / elapsed_s
    cars_w = sum(sum(c.read.measured_a) for c in online) * NOMINAL_VOLTAGE_V
    house_w = memory.house_w
    seen = house_w[-1][0] if house_w else None
    # the fuse's phases only: a one-phase meter sends no current on L2 and L3
    if meter is not None and None not in meter.current_a[:phases] and meter.received_s != seen:
        meter_a = [a or 0.0 for a in meter.current_a]
        draw_w = sum(_others_a(meter_a, online)[:phases]) * NOMINAL_VOLTAGE_V
        house_w = (*house_w[-1:], (meter.received_s, draw_w))
    taken = TariffMemory(
        start_s, now_s, tariff.energy_kwh_so_far, kwh, cars_w, house_w, last_house_w
    )
    if not house_w:
        return taken
    lasting_w = min(w for _, w in house_w)
    # a rise is measured from the house's mean when it began (the mean climbs with the load)
    base_w = memory.rise_base_w
    if memory.rise_since_s is not None and base_w is not None and lasting_w - base_w > HOLD_RISE_W:
        return replace(taken, rise_since_s=memory.rise_since_s, rise_base_w=base_w)
    mean_w = _house_mean_w(tariff, taken, house_w[-1][1], now_s)
    if lasting_w - mean_w <= HOLD_RISE_W:
        return taken
    return replace(taken, rise_since_s=now_s, rise_base_w=mean_w)


def _house_mean_w(
    tariff: TariffInput, taken: TariffMemory | None, present_w: float, now_s: float
) -> float:
    """The house's mean draw so far in the interval (the register's energy less the cars'),
    in its first :data:`MEAN_AFTER_S` blended with the larger of its present draw and the last
    interval's mean."""
    if taken is None:
        return present_w
    elapsed_s = max(0.0, now_s - tariff.interval_start_s)
    house_ws = max(0.0, tariff.energy_kwh_so_far - taken.cars_kwh) * 3.6e6
    if elapsed_s >= MEAN_AFTER_S:
        return house_ws / elapsed_s
    prior_w = max(present_w, taken.last_house_w or present_w)
    return (house_ws + prior_w * (MEAN_AFTER_S - elapsed_s)) / MEAN_AFTER_S


def _others_a(meter_a: Sequence[float], online: Sequence[Online]) -> list[float]:
    """Per grid phase what the meter measures that is not the online chargers'."""
    others_a = list(meter_a)
    for charger in online:
        for p, drawn_a in zip(
            charger.spec.grid_phase_indices, charger.read.measured_a, strict=False
        ):
            others_a[p] -= drawn_a
    return others_a


def tariff_ceilings(
    tariff: TariffInput,
    online: Sequence[Online],
    meter_a: Sequence[float],
    phases: int,
    now_s: float,
    taken: TariffMemory | None = None,
    horizon_s: float = 10.0,
) -> TariffCeilings:
    """Each car's ceiling from the power the interval still allows (see the module). The
    house's draw is the meter's minus what the online chargers measure: what an offline or
    unknown charger draws counts against the budget, as the house does. ``horizon_s``: until
    the next decision (a hold at the minimum lasts that long)."""
    others_a = _others_a(meter_a, online)
    pool_w = car_power_w(tariff, others_a, phases, now_s)
    interval_s = tariff.interval_end_s - tariff.interval_start_s
    house_w = sum(others_a[:phases]) * NOMINAL_VOLTAGE_V
    margin_w = tariff.margin_kw * 1000.0
    mean_w = _house_mean_w(tariff, taken, house_w, now_s)
    # a one-telegram spike (a compressor's inrush) is no reason to stop a run
    lasting_w = min([house_w] + [w for _, w in (taken.house_w if taken else ())])
    interval = _Interval(
        present_w=house_w,
        mean_w=mean_w,
        lasting_w=lasting_w,
        rise_since_s=taken.rise_since_s if taken else None,
        now_s=now_s,
        left_s=max(tariff.interval_end_s - now_s, MIN_TIME_LEFT_S),
        next_w=tariff.budget_kw * 1000.0 - house_w - margin_w,
        interval_s=interval_s,
        tolerance_ws=HOLD_MARGIN_SHARE * margin_w * interval_s,
        horizon_s=horizon_s,
        start_s=tariff.interval_start_s,
    )
    cars = [c for c in online if not c.no_car]
    alone_w = _shares_w(cars, pool_w, interval)
    ceilings_w = _with_needs(cars, pool_w, interval, alone_w, tariff.needed_kw)
    fixed = {c.index for c in cars if ceilings_w[c.index] > alone_w[c.index] + EPSILON_W}
    return TariffCeilings(
        {c.index: ceilings_w[c.index] / _volts(c) for c in cars},
        {c.index: alone_w[c.index] / _volts(c) for c in cars if c.index in fixed},
    )


def _with_needs(
    cars: Sequence[Online],
    pool_w: float,
    interval: _Interval,
    alone_w: Mapping[int, float],
    needed_kw: Mapping[str, float],
) -> dict[int, float]:
    """Each car's ceiling in watts: a ready-by charger whose need is above its share takes its
    need (no more than it wants), the others share what is left; again until no need is above
    the share it is given."""
    ceilings_w = dict(alone_w)
    fixed: dict[int, float] = {}
    while True:
        wanted_w = {
            # no more than the most it may take: a ceiling at what it wants now would stop
            # its ramp there
            c.index: min(needed_kw.get(c.spec.name, 0.0) * 1000.0, _max_w(c))
            for c in cars
            if c.index not in fixed
        }
        above = {i: w for i, w in wanted_w.items() if w > ceilings_w[i] + EPSILON_W}
        if not above:
            return ceilings_w
        fixed.update(above)
        rest = [c for c in cars if c.index not in fixed]
        ceilings_w = {**_shares_w(rest, pool_w - sum(fixed.values()), interval), **fixed}


def _shares_w(cars: Sequence[Online], pool_w: float, interval: _Interval) -> dict[int, float]:
    """The cars' shares of ``pool_w`` in watts, by the start and hold rules (see the module):
    while a share is below its car's minimum (or a paused car's run would be too short), the
    least entitled of those leaves the pool, held at its minimum or at 0."""
    taking_part = list(cars)
    out: dict[int, float] = {}
    remaining_w = pool_w
    while taking_part:
        claims = [
            Claim(c.index, (0,), c.spec.priority, c.claim.demand_a * _volts(c), _max_w(c))
            for c in taking_part
        ]
        shares = share(claims, [max(0.0, remaining_w)])
        short = [c for c in taking_part if not _takes_part(c, shares[c.index], interval)]
        if not short:
            out.update({c.index: shares[c.index] for c in taking_part})
            break
        victim = min(short, key=lambda c: (c.spec.priority, c.running, -c.index))
        taking_part.remove(victim)
        held = interval.may_hold(victim, remaining_w)
        out[victim.index] = _min_w(victim) if held else 0.0
        remaining_w -= out[victim.index]
    return out


def _takes_part(charger: Online, share_w: float, interval: _Interval) -> bool:
    """Its share is at least its minimum, and a paused car's run would be long enough."""
    if share_w < _min_w(charger) - EPSILON_W:
        return False
    return charger.running or interval.may_start(charger, share_w)


def _drawing(charger: Online) -> bool:
    """Its car draws (a box offering its minimum to no car opens no contactor)."""
    return max(charger.read.measured_a, default=0.0) >= PHASE_IN_USE_A


def _volts(charger: Online) -> float:
    """Watts per ampere of a car: 230 V on each of its phases."""
    return len(charger.phases) * NOMINAL_VOLTAGE_V


def _min_w(charger: Online) -> float:
    return charger.spec.min_current_a * _volts(charger)


def _max_w(charger: Online) -> float:
    return charger.claim.max_a * _volts(charger)


@dataclass(frozen=True, slots=True)
class TariffHold:
    """The fuse's hold rule, refused to a charger whose tariff ceiling is below its minimum:
    the tariff pauses it, the fuse's budget must not keep it at its minimum."""

    ceilings: TariffCeilings
    fuse_hold: HoldRule

    def __call__(self, charger: Online, room_a: Sequence[float]) -> Hold | None:
        if self.ceilings.below_minimum(charger):
            return None
        return self.fuse_hold(charger, room_a)
