"""An upper bound on the energy any controller can give the cars in a scenario.

The bound knows the house load of every second in advance and keeps only what no controller
can change: the same fuse and the cars themselves. Everything else is relaxed, never
restricted, so that no controller can beat it:

- a car draws any current up to its own maximum (the smaller of the charger's and the car's,
  less the car's shortfall), continuously: no pause or resume rule, no ramp, no set-point
  granularity; it draws nothing before it is plugged in and its response
  delay has passed (no controller can make it start earlier);
- the fuse: per phase, the overload budget of :mod:`loadbalancer.control.fuse` (the excess
  ``E(t) = max(0, E(t-1) + x² - 1)``, ``x = |I| / I_n``, must stay within ``overload_budget_s``:
  beyond it the table counts overload seconds) and, for fuses with a budget, the hard limit.
  ``x² - 1`` is convex, so replacing it by the largest of a few of its tangents under-counts
  every second's excess: a relaxation. A car draws nothing or at least its minimum, so
  between the two the same excess is replaced by its chord, which lies under it at every
  draw a car can take: the bound's car may still take less than its minimum on average, by
  pausing and resuming with the budget as a duty cycle, as a controller without pause rules
  could. The rating minus the margin is what controllers aim
  for, not what the fuse tolerates: between the two the budget cools, so a controller may stay
  there as long as it likes (ours does, holding a car at its minimum), and a bound that kept
  the margin could be beaten. The bound lets every phase reach the rating;
- seconds a charger does not follow its limit (``ignore_setpoint``: the car draws its own
  maximum; ``charger_offline``: the box keeps its last limit) and seconds the house alone is
  over the rating drop the fuse on the phases concerned: whatever was drawn then fits.

With scipy (the ``sim`` extra) this is a linear program over the scenario's seconds, solved
by HiGHS; it reaches what a perfect controller could. Without it the bound is per second:
each car alone on its phases up to the hard limit, which is valid but looser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadbalancer.control.fuse import Characteristic, FuseProfile
from loadbalancer.electric import IEC_MIN_CURRENT_A as CAR_MIN_CURRENT_A
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.errors import LoadBalancerError
from loadbalancer.sim.figures import ChargerSlot, plugged
from loadbalancer.sim.scenario import CarPlan, Scenario

#: load ratios x = I / I_n at which x² - 1 is replaced by its tangent (the largest one counts)
TANGENT_RATIOS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
#: the linear program's time step (s): see :func:`lp_bound_kwh`
SLOT_S = 5


@dataclass(frozen=True, slots=True)
class Bound:
    kwh: float
    #: how it was computed: "linear program" or "per-second cap" (no scipy: looser)
    method: str


@dataclass(frozen=True, slots=True)
class _Car:
    """One plugged car as the bound sees it: its grid phases and per-second ceiling."""

    phases: tuple[int, ...]
    cap_a: list[float]
    #: per second: the car does not follow its limit, so the fuse is dropped on its phases
    free: list[bool]
    #: the least it draws when it draws at all (its minimum less its shortfall)
    min_draw_a: float


def _cars(scenario: Scenario, chargers: list[ChargerSlot], seconds: int) -> list[_Car]:
    plans: dict[str, CarPlan] = {plan.charger: plan for plan in scenario.cars}
    cars = []
    for charger in chargers:
        plan = plans.get(charger.name)
        if plan is None:
            continue
        phases = charger.phases[:1] if plan.phases == 1 else charger.phases
        follows = max(0.0, min(charger.max_current_a, plan.max_current_a) - plan.shortfall_a)
        caps, free = [], []
        for second in range(seconds):
            t = float(second)
            ignoring = scenario.fault("ignore_setpoint", t, charger.name)
            offline = scenario.fault("charger_offline", t, charger.name)
            on = plugged(plan, t) and (ignoring or t >= plan.plug_in_s + plan.delay_s)
            caps.append(0.0 if not on else plan.max_current_a if ignoring else follows)
            free.append(ignoring or offline)
        cars.append(_Car(phases, caps, free, max(0.0, CAR_MIN_CURRENT_A - plan.shortfall_a)))
    return cars


def _amp_seconds_to_kwh(amp_seconds: float) -> float:
    return amp_seconds * NOMINAL_VOLTAGE_V / 3.6e6


def cap_bound_kwh(scenario: Scenario, fuse: FuseProfile, chargers: list[ChargerSlot]) -> float:
    """Per second, each car alone up to the hard limit of its phases (looser, no solver)."""
    seconds = int(scenario.duration_s)
    ceiling = fuse.rating_a * (
        1.0 if fuse.characteristic is Characteristic.STRICT else fuse.hard_limit_ratio
    )
    total = 0.0
    for car in _cars(scenario, chargers, seconds):
        for second in range(seconds):
            cap = car.cap_a[second]
            if cap <= 0:
                continue
            if not car.free[second]:
                house = scenario.house_a(float(second))
                for p in car.phases:
                    if p < fuse.phases and house[p] <= fuse.rating_a:
                        cap = min(cap, max(0.0, ceiling - house[p]))
            total += cap * len(car.phases)
    return _amp_seconds_to_kwh(total)


class _Rows:
    """The rows of ``A_ub·x <= b_ub``, built a block of one row per slot at a time."""

    def __init__(self) -> None:
        self.count = 0
        self._rows: list[Any] = []
        self._cols: list[Any] = []
        self._vals: list[Any] = []
        self._rhs: list[Any] = []

    def add(self, terms: list[tuple[Any, Any]], rhs: Any) -> None:
        """One row per element of ``rhs``: Σ vals·x[cols] <= rhs, ``terms`` as (cols, vals)."""
        import numpy as np

        r = self.count + np.arange(len(rhs))
        for cols, vals in terms:
            self._rows.append(r)
            self._cols.append(cols)
            self._vals.append(vals)
        self._rhs.append(rhs)
        self.count += len(rhs)

    def budget(self, draws: list[Any], state: int, held: Any, weight: Any, limit: Any) -> None:
        """Per slot s in ``held``: E(s) >= E(s-1) + w·(slope·Σdraw + c), written as
        ``weight``·Σdraw + E(s-1) - E(s) <= ``limit``; E of the slots is at ``state + s``."""
        import numpy as np

        terms = [(cols, weight) for cols in draws]
        terms.append((state + held, np.full(len(held), -1.0)))
        r = self.count + np.arange(len(held))
        previous = held > 0  # before the first slot, E is 0
        self.add(terms, limit)
        self._rows.append(r[previous])
        self._cols.append(state + held[previous] - 1)
        self._vals.append(np.ones(int(previous.sum())))

    def matrix(self, n: int) -> tuple[Any, Any]:
        import numpy as np
        from scipy.sparse import coo_array  # type: ignore[import-untyped,unused-ignore]

        values = (
            np.concatenate(self._vals),
            (np.concatenate(self._rows), np.concatenate(self._cols)),
        )
        return coo_array(values, shape=(self.count, n)).tocsr(), np.concatenate(self._rhs)


def lp_bound_kwh(
    scenario: Scenario, fuse: FuseProfile, chargers: list[ChargerSlot], slot_s: int = SLOT_S
) -> float:
    """The linear program of the module docstring (needs scipy), over slots of ``slot_s``.

    A slot takes the lowest house current of its seconds on each phase, the highest ceiling
    of each car and drops the fuse if any of its seconds does: every constraint only loosens,
    so the optimum is still an upper bound; and as ``x² - 1`` is convex, a constant draw over
    the slot spends no more budget than any varying one of the same mean, so one draw per slot
    loses nothing. Larger slots are faster and looser.
    """
    from scipy.optimize import linprog  # type: ignore[import-untyped,unused-ignore]

    seconds = int(scenario.duration_s)
    cars = _cars(scenario, chargers, seconds)
    if not cars:
        return 0.0
    slotted = _Slotted.of(scenario, cars, seconds, max(1, int(slot_s)))
    strict = fuse.characteristic is Characteristic.STRICT or fuse.overload_budget_s <= 0
    # variables: the draw of every car in every slot, then the budget state of every
    # constrained phase at the end of every slot
    slots = slotted.slots
    n_draw = len(cars) * slots
    phases = sorted({p for car in cars for p in car.phases if p < fuse.phases})
    n = n_draw + len(phases) * slots
    cost, upper = _cost_and_upper(slotted, cars, n, n_draw)
    upper[n_draw:] = 0.0 if strict else fuse.overload_budget_s
    rows = _Rows()
    for j, p in enumerate(phases):
        _phase_rows(rows, upper, slotted, cars, fuse, p, n_draw + j * slots, strict=strict)
    if rows.count == 0:
        return _amp_seconds_to_kwh(-float(cost @ upper))
    matrix, limits = rows.matrix(n)
    result = linprog(
        cost,
        A_ub=matrix,
        b_ub=limits,
        bounds=_column_bounds(upper),
        method="highs",
    )
    if result.status != 0:
        raise LoadBalancerError(f"the energy bound's linear program failed: {result.message}")
    return _amp_seconds_to_kwh(-float(result.fun))


@dataclass(frozen=True)
class _Slotted:
    """The scenario in slots: widths, the lowest and highest house current per phase, each
    car's highest ceiling and whether its limit is ignored anywhere in the slot."""

    slots: int
    width: Any
    house: Any
    house_max: Any
    caps: list[Any]
    frees: list[Any]

    @classmethod
    def of(cls, scenario: Scenario, cars: list[_Car], seconds: int, slot_s: int) -> _Slotted:
        import numpy as np

        starts = np.arange(0, seconds, slot_s)
        per_second = np.array([scenario.house_a(float(s)) for s in range(seconds)])
        return cls(
            slots=len(starts),
            width=np.minimum(slot_s, seconds - starts).astype(float),
            house=np.minimum.reduceat(per_second, starts, axis=0),
            house_max=np.maximum.reduceat(per_second, starts, axis=0),
            caps=[np.maximum.reduceat(np.array(car.cap_a), starts) for car in cars],
            frees=[np.logical_or.reduceat(np.array(car.free), starts) for car in cars],
        )


def _cost_and_upper(slotted: _Slotted, cars: list[_Car], n: int, n_draw: int) -> tuple[Any, Any]:
    """The objective (minus the amp-seconds drawn) and each draw variable's upper bound."""
    import numpy as np

    cost, upper = np.zeros(n), np.zeros(n)
    slots = slotted.slots
    for k, car in enumerate(cars):
        cost[k * slots : (k + 1) * slots] = -float(len(car.phases)) * slotted.width
        upper[k * slots : (k + 1) * slots] = slotted.caps[k]
    return cost, upper


def _column_bounds(upper: Any) -> Any:
    import numpy as np

    return np.column_stack([np.zeros(len(upper)), upper])


def _phase_rows(
    rows: _Rows,
    upper: Any,
    slotted: _Slotted,
    cars: list[_Car],
    fuse: FuseProfile,
    p: int,
    state: int,
    *,
    strict: bool,
) -> None:
    """The fuse's rows on grid phase ``p``: its budget (tangents and the chord) and hard limit."""
    import numpy as np

    rating, slots = fuse.rating_a, slotted.slots
    hard = rating if strict else fuse.hard_limit_ratio * rating
    on_phase = [k for k, car in enumerate(cars) if p in car.phases]
    # the fuse does not hold while a car on this phase ignores its limit or the house
    # alone is over the rating: there the budget state is left free
    free = slotted.house_max[:, p] > rating
    for k in on_phase:
        free |= slotted.frees[k]
    upper[state : state + slots][free] = np.inf
    held = np.arange(slots)[~free]
    w = slotted.width[held]
    h = slotted.house[held, p]
    draws = [k * slots + held for k in on_phase]
    for a in (1.0,) if strict else TANGENT_RATIOS:
        # the tangent of x² - 1 at a: (2a/I_n)·I - a² - 1, with I = house + Σdraw
        slope = 2.0 * a / rating
        rows.budget(draws, state, held, w * slope, w * (a * a + 1.0 - slope * h))
    # a car draws nothing or at least its minimum: between Σdraw = 0 and the smallest
    # minimum m, x² - 1 is replaced by its chord, which lies under it at every other draw
    m = min(cars[k].min_draw_a for k in on_phase)
    if m > 0:
        at_zero = (h / rating) ** 2 - 1.0
        chord = (((h + m) / rating) ** 2 - 1.0 - at_zero) / m
        rows.budget(draws, state, held, w * chord, -w * at_zero)
    if not strict:
        rows.add([(d, np.ones(len(held))) for d in draws], np.maximum(0.0, hard - h))


def bound_kwh(scenario: Scenario, fuse: FuseProfile, chargers: list[ChargerSlot]) -> Bound:
    """The linear-program bound if scipy is installed, else the looser per-second cap."""
    try:
        import scipy.optimize  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return Bound(cap_bound_kwh(scenario, fuse, chargers), "per-second cap (no scipy: looser)")
    return Bound(lp_bound_kwh(scenario, fuse, chargers), "linear program")
