"""The control core alone in a garage: the CPU time of one ``decide`` for N chargers, and its
decisions compared with a baseline's (issue 20).

    .venv/bin/python -m benchmarks.garage_core [--chargers 100] [--steps 600] [--base main]

A closed loop without sockets: N chargers of the garage benchmark's layout (mixed one- and
three-phase, priorities 1 and 2, whole-amp and deciamp boxes) behind a gG fuse with room for
about 60 % of them at their maximum; a telegram every 2 s and a tick of the service's timer in
between (the core is called on both); a house load that wanders and has spikes (an oven, a
lift); cars that follow their set-point one step late, some drawing less than offered, some
that stop (status B), are unplugged and come back, a few boxes that are offline for a while.
Everything is drawn from a fixed seed, so the run is the same every time for the same
decisions.

Per call the process CPU time of ``decide``; p50, p99 and the mean, and a digest (sha256) of
every state and decision the core returned. With ``--base REF`` (default ``main``) the same
loop runs with that git ref's ``loadbalancer`` (exported with ``git archive``) in a process of
its own, interleaved with this tree's, ``--rounds`` times each: the digests must be equal (the
same decisions, bit for bit), and the times are side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PHASES = ("L1", "L2", "L3")
TELEGRAM_PERIOD_S = 2.0


def garage(chargers: int) -> Any:
    """The garage's control configuration: mixed phases, two priorities, whole-amp and
    deciamp boxes, a gG fuse with room for about 60 % of them at their maximum."""
    from loadbalancer.control.config import ChargerSpec, ControlConfig
    from loadbalancer.control.fuse import Characteristic, FuseProfile

    specs = []
    for i in range(chargers):
        one_phase = i % 10 in (3, 7)
        specs.append(
            ChargerSpec(
                f"bay{i:03d}",
                (PHASES[i % 3],) if one_phase else PHASES,
                32.0 if one_phase else 16.0,
                priority=2 if i % 10 == 9 else 1,
                granularity_a=0.1 if i % 4 == 1 else 1.0,
            )
        )
    per_phase = [0.0, 0.0, 0.0]
    for spec in specs:
        for phase in spec.phases:
            per_phase[PHASES.index(phase)] += spec.max_current_a
    rating_a = round(0.6 * max(per_phase) + 20.0)
    fuse = FuseProfile("garage", rating_a, 3, Characteristic.GG, 1.0)
    return ControlConfig(
        fuse, tuple(specs), ramp_up_delay_s=10.0, resume_delay_s=20.0, min_share_hold_s=300.0
    )


def house(rng: random.Random, before: list[float]) -> list[float]:
    """The next telegram's house load: a wander, now and then a spike on one phase (an oven,
    a lift), now and then the end of one."""
    after = [max(0.0, h + rng.uniform(-2.0, 2.0)) for h in before]
    if rng.random() < 0.03:
        after[rng.randrange(3)] += rng.choice((15.0, 40.0))
    if rng.random() < 0.1:
        after = [min(h, 30.0) for h in after]
    return after


def loop(chargers: int, steps: int, seed: int = 20) -> dict[str, object]:
    """The closed loop (imports the ``loadbalancer`` first on ``sys.path``)."""
    from loadbalancer.control.core import decide
    from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput
    from loadbalancer.control.state import initial_state

    rng = random.Random(seed)
    config = garage(chargers)
    specs = config.chargers
    state = initial_state(config)
    setpoint = [0.0] * chargers
    want = [rng.choice((16.0, 16.0, 10.0, 7.5)) * (2 if s.max_current_a > 16 else 1) for s in specs]
    plugged = [rng.random() < 0.9 for _ in specs]
    offline_until = [-1.0] * chargers
    load = [10.0, 12.0, 8.0]
    meter = None
    times_s: list[float] = []
    digest = hashlib.sha256()
    for step in range(steps):
        now_s = step * 1.0
        # the cars follow the last set-point, one step late
        draw = [min(s, w) if p else 0.0 for s, w, p in zip(setpoint, want, plugged, strict=True)]
        for i in range(chargers):
            if rng.random() < 0.002:
                plugged[i] = not plugged[i]
            if rng.random() < 0.001:
                offline_until[i] = now_s + rng.choice((5.0, 30.0))
        if step % TELEGRAM_PERIOD_S == 0:
            load = house(rng, load)
            total = list(load)
            for spec, amps in zip(specs, draw, strict=True):
                for phase in spec.phases:
                    total[PHASES.index(phase)] += amps
            meter = MeterInput((total[0], total[1], total[2]), now_s)
        reads = {
            spec.name: ChargerRead(
                (draw[i],) * len(spec.phases),
                ("C" if draw[i] > 0 else "B") if plugged[i] else "A",
                True,
                now_s - 0.5,
                setpoint[i],
            )
            for i, spec in enumerate(specs)
            if offline_until[i] <= now_s
        }
        started = time.process_time()
        state, decision = decide(state, Inputs(meter, reads), config, now_s)
        times_s.append(time.process_time() - started)
        digest.update(repr((state, decision)).encode())
        setpoint = [outcome.setpoint_a for outcome in decision.chargers]
    ms = sorted(t * 1000 for t in times_s)
    return {
        "digest": digest.hexdigest(),
        "p50_ms": ms[len(ms) // 2],
        "p99_ms": ms[min(len(ms) - 1, round(0.99 * len(ms)))],
        "mean_ms": statistics.fmean(ms),
        "paused_at_end": sum(1 for s in setpoint if s == 0),
    }


def export(ref: str, folder: Path) -> Path | None:
    """``ref``'s ``loadbalancer`` package in ``folder``, with its ``profiles`` and ``examples``
    inside it as an installed package has them (None: git or the ref is not there)."""
    inside = folder / "loadbalancer"
    for parts, into in ((["loadbalancer"], folder), (["profiles", "examples"], inside)):
        try:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", ref, *parts], capture_output=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        tar = folder / "base.tar"
        tar.write_bytes(archive)
        subprocess.run(["tar", "-xf", str(tar), "-C", str(into)], check=True)
    return folder


def run_with(path: Path, chargers: int, steps: int) -> dict[str, object]:
    """One loop in a process of its own with the ``loadbalancer`` under ``path``."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from benchmarks.garage_core import loop; "
        "print(json.dumps(loop(int(sys.argv[2]), int(sys.argv[3]))))"
    )
    argv = [sys.executable, "-c", code, str(path), str(chargers), str(steps)]
    out = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default="main", help="git ref of the baseline (default main)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.base, Path(tmp)) if args.base else None
        sides = {"this tree": REPO} | ({args.base: base} if base else {})
        results: dict[str, list[dict[str, object]]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, path in sides.items():
                results[name].append(run_with(path, args.chargers, args.steps))
    print(f"decide() with {args.chargers} chargers, {args.steps} calls (CPU time per call):")
    for name, runs in results.items():
        p50 = min(float(str(r["p50_ms"])) for r in runs)
        p99 = min(float(str(r["p99_ms"])) for r in runs)
        mean = min(float(str(r["mean_ms"])) for r in runs)
        print(f"  {name:>10}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {mean:.2f} ms "
              f"(best of {len(runs)}), digest {str(runs[0]['digest'])[:16]}")  # fmt: skip
    digests = {str(r["digest"]) for runs in results.values() for r in runs}
    print("decisions identical: " + ("yes" if len(digests) == 1 else "NO"))
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    if len(digests) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
