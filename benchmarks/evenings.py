"""Our control core against the peers' controller on many random evenings (the fast model).

    .venv/bin/python benchmarks/evenings.py [--evenings 200] [--first 0] [--site SITE.yaml]

Each evening is drawn by :func:`loadbalancer.sim.evenings.evening` from its seed: a Swedish
house's loads at random times and phases and one car. Ours and the peers' max-phase controller
run through the same evening; the bar of issue 13 is energy >= 0.98 x the peers', pauses <= the
peers' (1 allowed), no overload beyond the fuse budget, no more pauses during spikes than the
peers. Prints the distribution of ours / peers and every evening that misses the bar.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from loadbalancer.config import load_site
from loadbalancer.sim.evenings import compare, shortfalls
from loadbalancer.sim.run import default_site_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evenings", type=int, default=200)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--site", type=Path, default=default_site_path())
    args = parser.parse_args()
    site = load_site(args.site)
    started = time.monotonic()
    ratios, pause_ratio, write_ratio, missed = [], [], [], 0
    for seed in range(args.first, args.first + args.evenings):
        ours, peers = compare(site, seed)
        if peers.energy_kwh > 0:
            ratios.append(ours.energy_kwh / peers.energy_kwh)
        pause_ratio.append((ours.pauses, peers.pauses))
        write_ratio.append((ours.writes, peers.writes))
        problems = shortfalls(ours, peers)
        if problems:
            missed += 1
            print(f"evening {seed}: " + "; ".join(problems))
    ratios.sort()
    print(
        f"{args.evenings} evenings in {time.monotonic() - started:.0f} s on {args.site}: "
        f"ours / peers' energy min {ratios[0]:.3f}, 5th percentile "
        f"{ratios[len(ratios) // 20]:.3f}, median {statistics.median(ratios):.3f}; "
        f"pauses {sum(p for p, _ in pause_ratio)} vs peers' {sum(q for _, q in pause_ratio)}; "
        f"writes {sum(w for w, _ in write_ratio)} vs peers' {sum(v for _, v in write_ratio)}; "
        f"{missed} evenings miss the bar"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
