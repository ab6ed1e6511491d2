"""``share`` raises a garage's claims in buckets (issue 20: a decision for 100 chargers took
25-30 ms); its shares must stay the same to the last bit as raising them claim by claim.

The reference below is the progressive filling as it was written before, one claim at a
time: every rising claim's level and every phase's remainder take the same floating-point
operations in the same order, so the two must agree exactly (``==``, not approximately).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.control.allocate import EPSILON_A, Claim, share


def reference_share(claims: Sequence[Claim], capacity_a: Sequence[float]) -> dict[int, float]:
    remaining = list(capacity_a)
    level = {claim.key: 0.0 for claim in claims}
    priorities = sorted({claim.priority for claim in claims}, reverse=True)
    demand: Callable[[Claim], float] = lambda c: min(c.demand_a, c.max_a)  # noqa: E731
    maximum: Callable[[Claim], float] = lambda c: c.max_a  # noqa: E731
    for spare, passes in ((False, (demand, maximum)), (True, (maximum,))):
        for ceiling_of in passes:
            for priority in priorities:
                group = [c for c in claims if c.priority == priority and c.spare == spare]
                _reference_fill(group, ceiling_of, level, remaining)
    return level


def _reference_fill(
    group: list[Claim],
    ceiling_of: Callable[[Claim], float],
    level: dict[int, float],
    remaining: list[float],
) -> None:
    ceiling = {claim.key: ceiling_of(claim) - EPSILON_A for claim in group}

    def can_rise(claim: Claim) -> bool:
        if level[claim.key] >= ceiling[claim.key]:
            return False
        return all(remaining[p] > EPSILON_A for p in claim.phases)

    rising = [claim for claim in group if can_rise(claim)]
    while rising:
        sharers = [0] * len(remaining)
        for claim in rising:
            for p in claim.phases:
                sharers[p] += 1
        step = min(
            min(ceiling[claim.key] + EPSILON_A - level[claim.key] for claim in rising),
            min(remaining[p] / sharers[p] for p in range(len(remaining)) if sharers[p]),
        )
        for claim in rising:
            level[claim.key] += step
            for p in claim.phases:
                remaining[p] -= step
        rising = [claim for claim in rising if can_rise(claim)]


PHASES = st.sampled_from([(0, 1, 2), (0,), (1,), (2,), (0, 1), (1, 2)])
#: currents as chargers have them (whole amps, deciamps) and as anything (any float)
AMPS = st.one_of(
    st.integers(0, 32).map(float),
    st.integers(0, 320).map(lambda d: d / 10),
    st.floats(0, 32, allow_nan=False),
)


@settings(max_examples=400, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(PHASES, st.integers(1, 3), AMPS, AMPS, st.booleans()), min_size=1, max_size=40
    ),
    st.lists(st.floats(-20, 400, allow_nan=False), min_size=3, max_size=3),
)
def test_shares_are_the_same_to_the_last_bit_as_claim_by_claim(
    specs: list[tuple[tuple[int, ...], int, float, float, bool]], capacity: list[float]
) -> None:
    claims = [
        Claim(i, phases, priority, demand, max(maximum, 6.0), spare)
        for i, (phases, priority, demand, maximum, spare) in enumerate(specs)
    ]
    assert share(claims, capacity) == reference_share(claims, capacity)


def test_a_garage_of_identical_claims_is_the_same_as_claim_by_claim() -> None:
    """Many claims on the same phases and levels (one bucket), some one-phase, two priorities."""
    claims = [
        Claim(i, (i % 3,) if i % 5 == 3 else (0, 1, 2), 2 if i % 10 == 9 else 1, 16.0, 16.0)
        for i in range(100)
    ]
    for capacity in ([400.0, 380.0, 410.0], [1000.0] * 3, [90.5, 91.25, 89.75], [0.0, 50, 50]):
        assert share(claims, capacity) == reference_share(claims, capacity)
