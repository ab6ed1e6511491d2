"""The capacity tariff's ceiling (issue 15): a second, softer limit beside the fuse's.

In the running interval the cars may still take

    P = (budget × interval − energy so far) / time left − the house's present draw − margin

(the house's draw: the meter's currents minus what the online chargers measure, at the
nominal 230 V per phase, so that an offline or unknown charger's draw counts as the house's
does). P is shared between the cars as the fuse's allowance is (:func:`.allocate.share`: equal
shares within a priority, higher priority first), in watts, and each car's share becomes a
ceiling in amperes on its phases (a three-phase car takes P / (3 · 230) per phase). The ceiling
only lowers a car's claim: the fuse's allowance stays absolute. A ceiling below the minimum
pauses the car through the normal pause and resume rules (never a hold at the minimum on the
fuse's budget). A charger whose user asked for it to be ready by a time (``needed_kw``)
takes what it wants first and is never capped; the others share what is left. As in the fuse's
minimum rule, when a share is below a car's minimum the least entitled car leaves the pool (its
ceiling 0) and the others share again, so that one car charges rather than none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from loadbalancer.control.allocate import EPSILON_A, Claim, share
from loadbalancer.control.demand import Online
from loadbalancer.control.hold import Hold, HoldRule
from loadbalancer.control.inputs import TariffInput
from loadbalancer.control.reasons import Reason
from loadbalancer.electric import NOMINAL_VOLTAGE_V

#: the shortest time left counted at the end of an interval (a decision on its last edge)
MIN_TIME_LEFT_S = 1.0

#: reasons that mean "the share it was given": when the tariff's ceiling was that share, the
#: tariff is what bound
_SHARED = frozenset({Reason.SHARE_CUT, Reason.AT_MAX, Reason.STEADY, Reason.MIN_CURRENT_PAUSE})
#: reasons of a charger running at what it was given, raised or kept
_RUNNING = frozenset(
    {Reason.AT_MAX, Reason.STEADY, Reason.RAMP_UP, Reason.HOLD_RAMP_DELAY, Reason.START}
)


@dataclass(frozen=True, slots=True)
class TariffCeilings:
    """Per online charger index the tariff's ceiling in amperes per phase (capped chargers
    only), and per overriding charger the ceiling it would have had alone."""

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
        if alone_a is not None:
            over = setpoint_a > alone_a + EPSILON_A
            return Reason.TARIFF_OVERRIDE if over and reason in _RUNNING else reason
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


def tariff_ceilings(
    tariff: TariffInput,
    online: Sequence[Online],
    meter_a: Sequence[float],
    phases: int,
    now_s: float,
) -> TariffCeilings:
    """Each car's ceiling from the power the interval still allows (see the module). The
    house's draw is the meter's minus what the online chargers measure: what an offline or
    unknown charger draws counts against the budget, as the house does."""
    others_a = list(meter_a)
    for charger in online:
        for p, drawn_a in zip(
            charger.spec.grid_phase_indices, charger.read.measured_a, strict=False
        ):
            others_a[p] -= drawn_a
    pool_w = car_power_w(tariff, others_a, phases, now_s)
    cars = [c for c in online if not c.no_car]
    overriding = [c for c in cars if tariff.needed_kw.get(c.spec.name, 0.0) > 0]
    capped = [c for c in cars if tariff.needed_kw.get(c.spec.name, 0.0) <= 0]
    alone = {c.index: max(0.0, pool_w) / _volts(c) for c in overriding}
    pool_w = max(0.0, pool_w - sum(c.claim.demand_a * _volts(c) for c in overriding))
    ceilings = {c.index: 0.0 for c in capped}
    while capped:
        claims = [
            Claim(
                c.index,
                (0,),
                c.spec.priority,
                c.claim.demand_a * _volts(c),
                c.claim.max_a * _volts(c),
            )
            for c in capped
        ]
        shares_w = share(claims, [pool_w])
        ceilings.update({c.index: shares_w[c.index] / _volts(c) for c in capped})
        short = [c for c in capped if ceilings[c.index] < c.spec.min_current_a - EPSILON_A]
        if not short:
            break
        # as the fuse's minimum rule: the least entitled leaves the pool, the rest share again
        victim = min(short, key=lambda c: (c.spec.priority, c.running, -c.index))
        capped.remove(victim)
        ceilings[victim.index] = 0.0
    return TariffCeilings(ceilings, alone)


def _volts(charger: Online) -> float:
    """Watts per ampere of a car: 230 V on each of its phases."""
    return len(charger.phases) * NOMINAL_VOLTAGE_V


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
