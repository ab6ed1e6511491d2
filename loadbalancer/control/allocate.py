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
from itertools import repeat
from operator import itemgetter

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
    groups: dict[tuple[bool, int], list[Claim]] = {}
    for claim in claims:
        groups.setdefault((claim.spare, claim.priority), []).append(claim)
    for spare, passes in ((False, (_demand, _maximum)), (True, (_maximum,))):
        for ceiling_of in passes:
            for priority in priorities:
                group = groups.get((spare, priority))
                # with every phase spent no claim can rise (a garage's later passes)
                if group and any(left > EPSILON_A for left in remaining):
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
    """Raise the group together; each round freezes at least one claim, so it ends.

    Every rising claim gets the same step in a round, added to its level, and each phase gives
    that step once per claim rising on it, one subtraction after the other. Claims on the same
    phases that start at the same level keep the same level while they rise: they rise as one
    :class:`_Bucket`, the same floating-point operations without a pass over a garage's 100
    claims in every round."""
    rising = _buckets(group, ceiling_of, level, remaining)
    phases = range(len(remaining))
    while rising:
        sharers = [0] * len(remaining)
        for bucket in rising:
            for p in bucket.phases:
                sharers[p] += len(bucket.keys) - bucket.head
        step = min(
            min(bucket.tops[bucket.head] - bucket.value for bucket in rising),
            min(remaining[p] / sharers[p] for p in phases if sharers[p]),
        )
        for bucket in rising:
            bucket.value += step
        for p in phases:
            for _ in range(sharers[p]):
                remaining[p] -= step
        rising = [bucket for bucket in rising if bucket.keeps_rising(level, remaining)]


def _buckets(
    group: list[Claim],
    ceiling_of: Callable[[Claim], float],
    level: dict[int, float],
    remaining: list[float],
) -> list[_Bucket]:
    """The claims of ``group`` that can rise, by phases and starting level."""
    full = {p for p, left in enumerate(remaining) if not left > EPSILON_A}
    found: dict[tuple[tuple[int, ...], float], list[tuple[float, int]]] = {}
    for claim in group:
        start_a, ceiling = level[claim.key], ceiling_of(claim) - EPSILON_A
        if start_a >= ceiling or (full and full.intersection(claim.phases)):
            continue
        found.setdefault((claim.phases, start_a), []).append((ceiling, claim.key))
    return [_Bucket(phases, start_a, members) for (phases, start_a), members in found.items()]


class _Bucket:
    """Rising claims on the same phases at the same level: their keys and ceilings in the order
    of the ceilings, those before ``head`` stopped; ``tops``: each ceiling plus
    :data:`EPSILON_A` (the step to a ceiling is ``top - level``, as ``ceiling + EPSILON_A -
    level`` evaluates)."""

    def __init__(
        self, phases: tuple[int, ...], value: float, members: list[tuple[float, int]]
    ) -> None:
        members.sort(key=itemgetter(0))
        self.phases, self.value, self.head = phases, value, 0
        self.keys = [key for _, key in members]
        self.ceilings = [ceiling for ceiling, _ in members]
        self.tops = [ceiling + EPSILON_A for ceiling in self.ceilings]

    def keeps_rising(self, level: dict[int, float], remaining: list[float]) -> bool:
        """Stop (and write the level of) the claims at their ceilings, or all of them when a
        phase has nothing left; whether some still rise."""
        head, end = self.head, len(self.keys)
        if any(not remaining[p] > EPSILON_A for p in self.phases):
            head = end
        while head < end and self.value >= self.ceilings[head]:
            head += 1
        level.update(zip(self.keys[self.head : head], repeat(self.value)))
        self.head = head
        return head < end
