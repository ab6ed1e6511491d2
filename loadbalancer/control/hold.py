"""The minimum rule: who takes part at its minimum or more, who is held at it, who pauses.

A running charger whose minimum does not fit next to the minimums of the others (of at least its
priority) is held at its minimum when the fuse allows (:func:`fuse.may_hold_at_minimum`): within
the rating while the budget lasts, above it for ``spike_hold_s`` and then only on less than
``long_hold_budget_ratio`` of the budget, above the hard limit (gG, up to the spike limit) for
the one telegram that first shows it; any other one is paused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from loadbalancer.control.allocate import EPSILON_A, share
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.fuse import BudgetState, may_hold_at_minimum
from loadbalancer.control.rotate import standing, turn_over
from loadbalancer.electric import PHASES


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold at the minimum: ``spike`` above the hard limit (this one telegram only),
    ``over_rating`` with a phase above its rating (a load, not noise: for ``spike_hold_s``)."""

    spike: bool
    over_rating: bool


#: whether a charger dropped from the shares may be held at its minimum, given the room per
#: phase left for it after the minimums of the others: a hold, or None (it pauses)
HoldRule = Callable[[Online, Sequence[float]], Hold | None]


@dataclass(frozen=True, slots=True)
class Fit:
    """Shares after the minimum rule: who is held at the minimum (and how), who was dropped."""

    shares: dict[int, float]
    held: Mapping[int, Hold]
    dropped: frozenset[int]
    #: of those dropped, the running ones paused for a waiting car's turn (share rotation)
    turned: frozenset[int] = frozenset()

    @property
    def spike_held(self) -> frozenset[int]:
        """Held above the hard limit on this telegram (a spike: one telegram only)."""
        return frozenset(index for index, hold in self.held.items() if hold.spike)

    @property
    def over_rating_held(self) -> frozenset[int]:
        """Held with a phase above its rating (a load, not noise: for ``spike_hold_s``)."""
        return frozenset(index for index, hold in self.held.items() if hold.over_rating)


def fit_minimums(
    chargers: Sequence[Online],
    allowed_a: Sequence[float],
    may_hold: HoldRule,
    config: ControlConfig,
    now_s: float,
) -> Fit:
    """Shares such that everyone taking part gets at least its minimum.

    While someone's share is below its minimum, the least entitled of those (lowest priority,
    then by its standing, :func:`.rotate.standing`: whose turn is over, who has waited least)
    is dropped: held at its minimum if ``may_hold`` allows (its minimum then comes off the
    phases), otherwise paused; a running one dropped for a waiting car's turn is paused.
    ``may_hold`` is given the room per phase left for it after the minimums of those still
    taking part (who all have at least its priority).
    """
    remaining_a = list(allowed_a)
    taking_part = list(chargers)
    held: dict[int, Hold] = {}
    dropped: set[int] = set()
    turned: set[int] = set()
    entitled = {
        c.index: (not c.no_car, c.spec.priority, standing(c, config, now_s)) for c in chargers
    }
    while True:
        shares = share([charger.claim for charger in taking_part], remaining_a)
        short = [
            charger
            for charger in taking_part
            if shares[charger.index] < charger.spec.min_current_a - EPSILON_A
        ]
        if not short:
            return Fit(shares, held, frozenset(dropped), frozenset(turned))
        victim = min(short, key=lambda c: entitled[c.index])
        taking_part.remove(victim)
        dropped.add(victim.index)
        room_a = list(remaining_a)
        for other in taking_part:
            for p in other.phases:
                room_a[p] -= other.spec.min_current_a
        if turn_over(victim, taking_part, config, now_s):
            turned.add(victim.index)
            continue  # its turn is over: paused, not held on the fuse's budget
        hold = may_hold(victim, room_a)
        if hold is not None:
            held[victim.index] = hold
            for p in victim.phases:
                remaining_a[p] -= victim.spec.min_current_a


@dataclass(frozen=True, slots=True)
class FuseHold:
    """The :data:`HoldRule` of the fuse, on the overload budget after this telegram."""

    budget: BudgetState
    config: ControlConfig
    #: the meter reading this decision is on (a spike hold lasts for one telegram)
    received_s: float
    now_s: float
    #: per grid phase what the offer adds to the allowance for the cars' unused offers
    #: (:func:`.offer.unused_credit_a`): drawn once a car takes all of its offer
    unused_credit_a: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __call__(self, charger: Online, room_a: Sequence[float]) -> Hold | None:
        """Running, its minimum does not fit next to the others' minimums, and the fuse allows:
        within the rating (noise around the cut point, the margin is the cushion) while the
        budget lasts; above it for at most ``spike_hold_s``, within the budget and the hard
        limit, or the spike limit for the one telegram that first showed the hard limit passed.
        """
        fuse = self.config.fuse
        minimum = charger.spec.min_current_a
        does_not_fit = any(room_a[p] < minimum - EPSILON_A for p in charger.phases)
        if not charger.running or charger.no_car or not does_not_fit:
            return None
        # what the phase draws when every car takes all of its offer (the hold's minimum too),
        # not only what the cars drew: the unused credit in the room comes back
        predicted = {
            p: fuse.target_a - room_a[p] + self.unused_credit_a[p] + minimum for p in charger.phases
        }
        over_rating = any(
            PHASES[p] in fuse.phase_names and predicted_a > fuse.rating_a + EPSILON_A
            for p, predicted_a in predicted.items()
        )
        if over_rating and self._lasting_on_little_budget(charger):
            return None
        if self._fuse_allows(predicted, spike=False):
            return Hold(spike=False, over_rating=over_rating)
        first = charger.memory.spike_telegram_s
        if (first is None or first == self.received_s) and self._fuse_allows(predicted, spike=True):
            return Hold(spike=True, over_rating=over_rating)
        return None

    def _lasting_on_little_budget(self, charger: Online) -> bool:
        """Held above the rating for ``spike_hold_s`` already, and a phase of it has used
        ``long_hold_budget_ratio`` of the budget: the rest is kept for the next spike."""
        config = self.config
        since_s = charger.memory.over_rating_since_s
        lasting = since_s is not None and self.now_s - since_s >= config.spike_hold_s
        share_s = config.long_hold_budget_ratio * config.fuse.overload_budget_s
        return lasting and any(self.budget.used_s[p] >= share_s for p in charger.phases)

    def _fuse_allows(self, predicted: Mapping[int, float], *, spike: bool) -> bool:
        return all(
            may_hold_at_minimum(
                self.budget,
                self.config.fuse,
                p,
                predicted_a,
                self.config.hold_horizon_s,
                spike=spike,
            )
            for p, predicted_a in predicted.items()
        )
