"""Sharing per phase: priority first, then equal shares; unused demand goes to the others."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.control.allocate import Claim, share


def test_equal_priority_equal_shares() -> None:
    claims = [Claim(0, (0, 1, 2), 1, 16, 16), Claim(1, (1,), 1, 16, 16)]
    assert share(claims, [30, 12, 30]) == {0: pytest.approx(6), 1: pytest.approx(6)}


def test_higher_priority_is_served_first() -> None:
    claims = [Claim(0, (1,), 1, 16, 16), Claim(1, (1,), 2, 16, 16)]
    assert share(claims, [0, 20, 0]) == {0: pytest.approx(4), 1: pytest.approx(16)}


def test_a_claim_demanding_less_leaves_the_rest_then_takes_what_nobody_wants() -> None:
    claims = [Claim(0, (0,), 1, 7, 16), Claim(1, (0,), 1, 16, 16)]
    assert share(claims, [20, 0, 0]) == {0: pytest.approx(7), 1: pytest.approx(13)}
    assert share(claims, [40, 0, 0]) == {0: pytest.approx(16), 1: pytest.approx(16)}
    assert share(claims, [28, 0, 0]) == {0: pytest.approx(12), 1: pytest.approx(16)}


def test_a_full_or_overloaded_phase_gives_nothing() -> None:
    claims = [Claim(0, (0, 1, 2), 1, 16, 16), Claim(1, (2,), 1, 16, 16)]
    assert share(claims, [20, 20, -3]) == {0: 0.0, 1: 0.0}


@settings(max_examples=300, derandomize=True, database=None)
@given(
    st.lists(
        st.tuples(
            st.sets(st.integers(0, 2), min_size=1),
            st.integers(1, 3),
            st.floats(0, 32),
            st.floats(6, 32),
        ),
        min_size=1,
        max_size=5,
    ),
    st.lists(st.floats(-10, 60), min_size=3, max_size=3),
)
def test_shares_never_exceed_a_phase_nor_a_maximum(
    specs: list[tuple[set[int], int, float, float]], capacity: list[float]
) -> None:
    claims = [Claim(i, tuple(sorted(p)), prio, d, m) for i, (p, prio, d, m) in enumerate(specs)]
    shares = share(claims, capacity)
    for p in range(3):
        used = sum(shares[c.key] for c in claims if p in c.phases)
        assert used <= max(capacity[p], 0.0) + 1e-6
    for claim in claims:
        assert 0.0 <= shares[claim.key] <= claim.max_a + 1e-9
