"""The main fuse: its profile, and the per-phase overload budget that may hold a charger at 6 A.

The model (docs/control.md §The overload budget): per phase, with ``x = |I| / I_n``, the excess
``E += (x² − 1)·dt`` is integrated and clamped at 0 (it cools at ``1 − x²`` per second below the
rating). A charger whose minimum does not fit may be kept at its minimum instead of pausing
while ``E`` is below the profile's budget and the predicted current stays below the hard limit.
``strict`` fuses have no budget: they never tolerate more than the rating minus the margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from loadbalancer.electric import PHASES


class Characteristic(StrEnum):
    """The protective device: a gG fuse, a B or C breaker, or ``strict`` (never exceed)."""

    GG = "gG"
    B = "B"
    C = "C"
    STRICT = "strict"


#: E_MAX for B/C breakers in I_n²·s: x=1.13 → 108 s, 1.25 → 53 s; inside the
#: IEC 60898-1 1.13·In / 1 h no-trip line (docs/control.md §B and C miniature circuit breakers).
MCB_OVERLOAD_BUDGET_S = 30.0
#: X_HARD for B/C breakers: the IEC 60898-1 conventional tripping current 1.45·In.
MCB_HARD_LIMIT_RATIO = 1.45
#: E_MAX for gG fuses: twice the breakers' budget, so that a 2 kW kettle (8.7 A) on a phase that is
#: already full is held for 60 s (x = 1.4 → 62 s): a household spike under 60 s must not pause
#: a car.
#: Paired with a lower hard limit so the worst hold is 48 s just under 1.5·In, inside the gG
#: design: no melting below ≈ 2·In within 10 s, 1.25·In for 1 h, 1.6·In within 1 h (IEC 60269-1).
GG_OVERLOAD_BUDGET_S = 60.0
#: X_HARD for gG: 1.5·In, below the conventional fusing current 1.6·In (IEC 60269-1) and
#: below 2.0, which with the larger budget would allow 20 s at 2·In, too near the 10 s gate.
GG_HARD_LIMIT_RATIO = 1.5
#: a gG fuse does not melt in under 10 s below about 2·In (IEC 60269-1 gates,
#: docs/control.md §gG fuses):
#: for one telegram a hold at the minimum may go this far above the rating, so that a start
#: current of a few seconds seen in a telegram is not a pause. Breakers get no such grace
#: (a B/C breaker may trip after 1 s at 2.55·In, IEC 60898-1).
GG_SPIKE_LIMIT_RATIO = 2.0
#: margin kept below the rating by default: 1.25·In is a one-hour survival value, not an
#: operating point.
DEFAULT_MARGIN_A = 1.0


def default_budget(characteristic: Characteristic) -> tuple[float, float]:
    """``(overload_budget_s, hard_limit_ratio)`` that a characteristic implies
    (docs/control.md §The overload budget)."""
    if characteristic is Characteristic.GG:
        return GG_OVERLOAD_BUDGET_S, GG_HARD_LIMIT_RATIO
    if characteristic in (Characteristic.B, Characteristic.C):
        return MCB_OVERLOAD_BUDGET_S, MCB_HARD_LIMIT_RATIO
    return 0.0, 1.0


@dataclass(frozen=True, slots=True)
class FuseProfile:
    """One main fuse. ``overload_budget_s`` is E_MAX in I_n²·s; 0 means no tolerance at all."""

    name: str
    rating_a: float
    phases: int
    characteristic: Characteristic
    margin_a: float = DEFAULT_MARGIN_A
    overload_budget_s: float = GG_OVERLOAD_BUDGET_S
    hard_limit_ratio: float = GG_HARD_LIMIT_RATIO

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"fuse phases must be 1 or 3, not {self.phases}")
        if self.rating_a <= 0 or not 0 <= self.margin_a < self.rating_a:
            raise ValueError("fuse needs rating_a > 0 and 0 <= margin_a < rating_a")
        if self.overload_budget_s < 0 or self.hard_limit_ratio < 1:
            raise ValueError("fuse needs overload_budget_s >= 0 and hard_limit_ratio >= 1")

    @property
    def phase_names(self) -> tuple[str, ...]:
        """The grid phases this fuse protects: L1 only for a one-phase fuse."""
        return PHASES[: self.phases]

    @property
    def spike_limit_ratio(self) -> float:
        """How far above the rating a hold may go for a single telegram (a spike)."""
        if self.characteristic is Characteristic.GG:
            return max(self.hard_limit_ratio, GG_SPIKE_LIMIT_RATIO)
        return self.hard_limit_ratio

    @property
    def target_a(self) -> float:
        """What the normal loop aims for on each phase: the rating minus the margin."""
        return self.rating_a - self.margin_a


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Per grid phase, the excess I²t used so far (I_n²·s) and the load ratio last seen."""

    used_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_ratio: tuple[float, float, float] = (0.0, 0.0, 0.0)
    updated_s: float | None = None


def update_budget(
    budget: BudgetState,
    fuse: FuseProfile,
    current_a: tuple[float, float, float],
    received_s: float,
    max_step_s: float,
) -> BudgetState:
    """Integrate the budget up to a new meter reading taken at ``received_s``.

    Between two readings the larger of their two load ratios is assumed (conservative: the
    overload is counted from the reading before it was seen). The step is capped at
    ``max_step_s`` so that a meter gap neither drains nor refills the budget beyond it. A
    reading that is not newer than the last one changes nothing, and neither does one with a
    non-finite current (``max(0, nan)`` would reset the budget): the parsers refuse those, and
    the core does not rely on it.
    """
    if not all(math.isfinite(c) for c in current_a) or not math.isfinite(received_s):
        return budget
    ratios = tuple(
        abs(current_a[i]) / fuse.rating_a if name in fuse.phase_names else 0.0
        for i, name in enumerate(PHASES)
    )
    new_ratio = (ratios[0], ratios[1], ratios[2])
    if budget.updated_s is None:
        return BudgetState(budget.used_s, new_ratio, received_s)
    if received_s <= budget.updated_s:
        return budget
    step_s = min(received_s - budget.updated_s, max_step_s)
    used = tuple(
        spent_s(used, max(old, new), step_s)
        for used, old, new in zip(budget.used_s, budget.load_ratio, new_ratio, strict=True)
    )
    return BudgetState((used[0], used[1], used[2]), new_ratio, received_s)


def spent_s(used_s: float, load_ratio: float, step_s: float) -> float:
    """The excess I²t (I_n²·s) of one phase after ``step_s`` at ``load_ratio`` (x = |I| / I_n):
    ``E += (x² − 1)·dt``, never below 0 (below the rating the fuse cools at ``1 − x²`` per
    second). The one integral of the fuse model: the core's budget and the simulation's truth."""
    return max(0.0, used_s + (load_ratio**2 - 1.0) * step_s)


def may_hold_at_minimum(
    budget: BudgetState,
    fuse: FuseProfile,
    phase: int,
    predicted_a: float,
    horizon_s: float = 0.0,
    *,
    spike: bool = False,
) -> bool:
    """Whether a charger may stay at its minimum on grid phase ``phase`` although it does not fit.

    Yes at or under the rating (the fuse cools there, whatever the budget), and above it while
    the phase's budget lasts, also through the next ``horizon_s`` (the time until the
    next telegram can undo the hold) at the predicted current, and that current stays under the
    hard limit; a ``strict`` fuse, whose budget is 0, never holds. With ``spike`` (one telegram
    only, the caller's rule) the spike limit takes the hard limit's place.
    """
    if PHASES[phase] not in fuse.phase_names:
        return True
    ratio = abs(predicted_a) / fuse.rating_a
    if ratio <= 1.0 and fuse.overload_budget_s > 0:
        return True  # at or under its rating a fuse or breaker cools: it spends no budget
    spent_until_next_s = max(0.0, ratio * ratio - 1.0) * horizon_s
    within_budget = budget.used_s[phase] + spent_until_next_s < fuse.overload_budget_s
    limit_ratio = fuse.spike_limit_ratio if spike else fuse.hard_limit_ratio
    return within_budget and abs(predicted_a) < limit_ratio * fuse.rating_a
