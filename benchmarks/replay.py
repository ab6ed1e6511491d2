"""``loadbalancer simulate --replay`` on a month of decisions, as a whole process.

    .venv/bin/python benchmarks/replay.py [--days 30] [--keep DIR]

Writes (once: kept in ``--keep``, default ``out/bench``) the month-long decision log of
``benchmarks/log_summary.py`` (a telegram every 10 s, about 260 000 decisions, meter fallbacks
and a charger outage), then runs ``simulate --replay`` on it with the logged site and with a
candidate (the bundled site on a 3x25 A fuse), in a child process: its wall time, CPU time and
peak RSS (``ru_maxrss`` of the child). Target (issue 20): a month replays in under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.month_log import generate
from loadbalancer.sim.run import default_site_path

TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", type=Path, default=Path("out/bench"))
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    log = args.keep / f"replay-{args.days}d.jsonl"
    if not log.exists():
        generate(log, args.days)
    candidate = args.keep / "replay-candidate.yaml"
    candidate.write_text(default_site_path().read_text().replace("3x20A-gG", "3x25A-gG"))
    command = [sys.executable, "-m", "loadbalancer", "simulate", "--replay", str(log)]
    command += ["--config", str(candidate), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    out = json.loads(result.stdout.splitlines()[-1])
    print(result.stderr.rstrip())
    print()
    print(
        f"{args.days} days, {out['telegrams']:,} telegrams, {log.stat().st_size / 1e6:.0f} MB: "
        f"replayed twice (logged site, candidate) in {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"peak RSS {after.ru_maxrss / 1024:.0f} MB; target < {TARGET_S:g} s: "
        f"{'ok' if wall < TARGET_S else 'SLOW'}"
    )
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
