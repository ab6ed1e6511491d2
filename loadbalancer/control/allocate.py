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
    that step once per claim rising on it, one subtraction after the other. Claims that start
    at the same level keep the same level as long as they rise, so :class:`_Rising` keeps one
    level per starting level, not per claim: the same floating-point operations, without a
    pass over a garage's 100 claims in every round."""
    rising = _Rising(group, [ceiling_of(claim) - EPSILON_A for claim in group], level, remaining)
    phases = range(len(remaining))
    while rising.count:
        sharers = rising.sharers
        step = min(
            rising.to_ceiling_a(),
            min(remaining[p] / sharers[p] for p in phases if sharers[p]),
        )
        rising.values = [value + step for value in rising.values]
        for p in phases:
            for _ in range(sharers[p]):
                remaining[p] -= step
        rising.freeze(remaining)


class _Rising:
    """The claims of a group still rising. Per starting level a *class*: its current level
    and its claims in the order of their ceilings (those below ``heads`` are frozen); the
    claims per phase, and the number rising on each phase. A claim stops at its ceiling or
    when a phase of it has nothing left; its level is then written to ``level``."""

    def __init__(
        self,
        group: list[Claim],
        ceilings: list[float],
        level: dict[int, float],
        remaining: list[float],
    ) -> None:
        self.group, self.ceilings, self.level = group, ceilings, level
        self.full = [not left > EPSILON_A for left in remaining]
        self.sharers = [0] * len(remaining)
        self.on_phase: list[list[int]] = [[] for _ in remaining]
        self.class_of: dict[int, int] = {}
        classes: dict[float, list[int]] = {}
        for i, claim in enumerate(group):
            start_a = level[claim.key]
            if start_a >= ceilings[i] or any(self.full[p] for p in claim.phases):
                continue
            classes.setdefault(start_a, []).append(i)
            for p in claim.phases:
                self.sharers[p] += 1
                self.on_phase[p].append(i)
        self.values = list(classes)
        self.members = [sorted(members, key=ceilings.__getitem__) for members in classes.values()]
        for c, members in enumerate(self.members):
            self.class_of.update(dict.fromkeys(members, c))
        self.heads = [0] * len(self.members)
        self.count = len(self.class_of)

    def to_ceiling_a(self) -> float:
        """The least step that takes a rising claim to its ceiling (its ceiling plus
        :data:`EPSILON_A`, minus its level)."""
        return min(
            (self.ceilings[members[head]] + EPSILON_A) - value
            for value, members, head in zip(self.values, self.members, self.heads, strict=True)
            if head < len(members)
        )

    def freeze(self, remaining: list[float]) -> None:
        """Stop the claims on a phase now spent, then those at their ceilings."""
        for p, left in enumerate(remaining):
            if not self.full[p] and not left > EPSILON_A:
                self.full[p] = True
                for i in self.on_phase[p]:
                    self._stop(i)
        for c, members in enumerate(self.members):
            head, value = self.heads[c], self.values[c]
            while head < len(members) and (
                members[head] not in self.class_of or value >= self.ceilings[members[head]]
            ):
                self._stop(members[head])
                head += 1
            self.heads[c] = head

    def _stop(self, i: int) -> None:
        c = self.class_of.pop(i, None)
        if c is None:
            return  # stopped before
        self.level[self.group[i].key] = self.values[c]
        self.count -= 1
        for p in self.group[i].phases:
            self.sharers[p] -= 1
