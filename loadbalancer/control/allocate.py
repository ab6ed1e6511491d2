"""Sharing what each grid phase allows between the chargers on it.

Max-min fair progressive filling, per priority group (higher priority first): everyone in a
group rises together until it reaches its ceiling or one of its phases is full. Two passes:
first up to each charger's *demand* (what it draws plus a step when it draws less than offered),
then what is left up to each charger's maximum. So a car that draws less leaves the rest to the
others, and gets it back as soon as nobody else wants it, or when it draws more. A *spare*
claim (a charger without a car) gets only what is left after every other claim's maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: amperes treated as zero when comparing floating-point shares
EPSILON_A = 1e-9


@dataclass(frozen=True, slots=True)
class Claim:
    """One charger asking for current on some grid phases (indices 0..2), the same on each."""

    key: int
    phases: tuple[int, ...]
    priority: int
    demand_a: float
    max_a: float
    #: served only from what the others leave (a charger with no car draws nothing)
    spare: bool = False


def share(claims: Sequence[Claim], capacity_a: Sequence[float]) -> dict[int, float]:
    """Per claim key, the current it gets; the sum per phase never exceeds ``capacity_a``.

    A phase whose capacity is zero or negative gives nothing to the claims on it.
    """
    remaining = list(capacity_a)
    level = {claim.key: 0.0 for claim in claims}
    priorities = sorted({claim.priority for claim in claims}, reverse=True)
    for spare, passes in ((False, (_demand, _maximum)), (True, (_maximum,))):
        for ceiling_of in passes:
            for priority in priorities:
                group = [c for c in claims if c.priority == priority and c.spare == spare]
                _fill(group, ceiling_of, level, remaining)
    return level


def _demand(claim: Claim) -> float:
    return min(claim.demand_a, claim.max_a)


def _maximum(claim: Claim) -> float:
    return claim.max_a


def _fill(
    group: list[Claim],
    ceiling_of: Callable[[Claim], float],
    level: dict[int, float],
    remaining: list[float],
) -> None:
    """Raise the group together; each round freezes at least one claim, so it ends."""
    ceiling = {claim.key: ceiling_of(claim) - EPSILON_A for claim in group}

    def can_rise(claim: Claim) -> bool:
        if level[claim.key] >= ceiling[claim.key]:
            return False
        return all(remaining[p] > EPSILON_A for p in claim.phases)

    rising = [claim for claim in group if can_rise(claim)]
    phases = range(len(remaining))
    while rising:
        sharers = [0] * len(remaining)
        for claim in rising:
            for p in claim.phases:
                sharers[p] += 1
        step = min(
            min(ceiling[claim.key] + EPSILON_A - level[claim.key] for claim in rising),
            min(remaining[p] / sharers[p] for p in phases if sharers[p]),
        )
        for claim in rising:
            level[claim.key] += step
            for p in claim.phases:
                remaining[p] -= step
        rising = [claim for claim in rising if can_rise(claim)]
