"""The control rules hold on other houses' evenings than the bundled scenarios (issue 13).

Evenings drawn from seeds (``loadbalancer.sim.evenings``): each runs our core and the peers'
controller in the fast model. ``benchmarks/evenings.py`` runs hundreds of them.
"""

from __future__ import annotations

import pytest

from loadbalancer.config import load_site
from loadbalancer.sim.evenings import compare, evening, shortfalls
from loadbalancer.sim.run import default_site_path

SITE = load_site(default_site_path())


def test_an_evening_is_the_same_for_the_same_seed_and_lives_with_its_fuse() -> None:
    first, again, other = evening(5), evening(5), evening(6)
    assert first == again
    assert first != other
    for seed in range(20):
        scenario = evening(seed)
        starts = [e for e in scenario.events if e.inrush_s > 0]
        for t in range(0, int(scenario.duration_s), 7):
            inrush = any(e.start_s <= t < e.start_s + e.inrush_s for e in starts)
            if not scenario.in_spike(t) and not inrush:
                # a spike or a compressor's start may pass the rating, the loads that last not
                assert max(scenario.house_a(t)) <= 20.0, (seed, t)


@pytest.mark.parametrize("seed", range(10))
def test_ours_meets_the_bar_against_the_peers(seed: int) -> None:
    ours, peers = compare(SITE, seed)
    assert shortfalls(ours, peers) == [], (seed, ours, peers)
