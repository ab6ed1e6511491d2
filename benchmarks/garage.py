"""A garage of chargers: reaction to the last charger's cut, and the steady footprint (issue 20).

    .venv/bin/python -m benchmarks.garage [--events 100] [--steady-s 60] [--sizes 1,20,100]

Three processes on 127.0.0.1, as on a real site: the emulated boxes
(:mod:`benchmarks.garage_boxes`: mixed Modbus profiles, one- and three-phase, two priorities,
some behind Modbus gateways with one unit id per box), ``loadbalancer run`` on a site file for
them, and this one, the meter (P1 telegrams over TCP) and the clock.

1. Reaction, per garage size: each event is a telegram whose house load leaves every charger
   of priority 1 about 6.6 A of its 8 A (priority 2 keeps its 8 A); the time runs from the
   telegram's last byte handed to the socket to the *last* box's first lowered limit (the write
   request applied at the emulated box, which acknowledges it at once). p50 and p99 over the
   events, with the first box's beside it. Each event starts at full current, as in
   ``benchmarks/reaction.py`` (1 s telegrams, no ramp delay), but every box is polled every
   2 s (``reaction.py`` polls its 1 or 20 boxes every 0.5 s).
2. Fair sharing: 40 cars, room for 25, 4 hours, through the core: the longest wait against the
   mean, before share rotation (main's allocation) and with it.
3. Footprint with the largest garage: 10 s telegrams, every box polled every 2 s; after a
   warm-up, the service's CPU time (utime + stime from /proc) over the window, its RSS at the
   end, and the boxes' process CPU beside it (what the emulation costs, not the service).

Targets (2-core machine): 100 chargers p99 <= 100 ms, 20 chargers p99 <= 40 ms, steady CPU
<= 5 % of a core with 100 chargers, RSS <= 60 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from benchmarks.garage_boxes import Bay, layout
from benchmarks.garage_core import export
from benchmarks.reaction import Telegrams, cpu_ticks, pct, rss_mb
from loadbalancer.meter.emulator import MeterServer
from loadbalancer.sim.fairness import compare

T0 = datetime(2026, 1, 14, 18, 0, 0)
#: every charger's maximum: 100 at 8 A keep the meter's currents (< 1000 A, what the meter
#: parsers accept of a phase) within what an event adds
HIGH_A = 8.0
#: what each priority-1 charger is left in an event (6.6 A of its 8 A)
CUT_TO_A = 6.6
HOUSE_LOW_A = 2.0
WARM_UP_EVENTS = 3


def fuse_and_houses(bays: list[Bay]) -> tuple[dict[str, Any], list[float], list[float]]:
    """A strict fuse with room for every charger at its maximum next to a 2 A house (and 3 A
    to spare), and per phase the house of an event: what leaves priority 1 at 6.6 A."""
    high = [0.0, 0.0, 0.0]
    cut = [0.0, 0.0, 0.0]
    for bay in bays:
        for phase in bay.phases:
            p = ("L1", "L2", "L3").index(phase)
            high[p] += HIGH_A
            cut[p] += HIGH_A if bay.priority == 2 else CUT_TO_A
    rating = max(high) + HOUSE_LOW_A + 1.0 + 3.0
    fuse = {"rating_a": rating, "phases": 3, "characteristic": "strict", "margin_a": 1.0}
    event = [rating - 1.0 - c for c in cut]
    return fuse, [HOUSE_LOW_A] * 3, event


class Garage:
    """The boxes' process, the service's process and the meter."""

    def __init__(self, tmp: Path, count: int, *, fast: bool, code: Path | None = None) -> None:
        self.tmp, self.bays, self.fast = tmp, layout(count), fast
        #: the folder of the ``loadbalancer`` the service runs (None: this tree's)
        self.code = code
        self.fuse, self.low, self.event = fuse_and_houses(self.bays)
        self.meter = MeterServer()
        self.boxes: asyncio.subprocess.Process | None = None
        self.service: asyncio.subprocess.Process | None = None
        self.telegrams = Telegrams(self.meter)

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.boxes is not None and self.boxes.stdin and self.boxes.stdout
        self.boxes.stdin.write((json.dumps(command) + "\n").encode())
        await self.boxes.stdin.drain()
        answer: dict[str, Any] = json.loads(await self.boxes.stdout.readline())
        return answer

    async def start(self) -> None:
        await self.meter.start()
        self.boxes = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.garage_boxes", str(len(self.bays)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.boxes.stdout is not None
        served = json.loads(await self.boxes.stdout.readline())
        site_file = self.tmp / "site.yaml"
        site_file.write_text(yaml.safe_dump(self.site(served["ports"], served["units"])))
        env = None if self.code is None else {**os.environ, "PYTHONPATH": str(self.code)}
        self.service = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadbalancer", "run", "--config", str(site_file),
            stdout=asyncio.subprocess.DEVNULL, stderr=(self.tmp / "stderr.txt").open("w"),
            cwd=self.code, env=env,
        )  # fmt: skip
        await self.meter.wait_for_client(60)  # the service reads the site and starts

    def site(self, ports: list[int], units: list[int]) -> dict[str, Any]:
        chargers = []
        for bay, port, unit in zip(self.bays, ports, units, strict=True):
            entry = {"name": bay.name, "profile": bay.profile, "host": "127.0.0.1", "port": port,
                     "phases": list(bay.phases), "max_current_a": HIGH_A,
                     "priority": bay.priority}  # fmt: skip
            if bay.gateway is not None:
                entry["unit_id"] = unit
            chargers.append(entry)
        return {
            "meter": {
                "source": self.meter.url,
                "protocol": "p1",
                "telegram_period_s": 1 if self.fast else 10,
                "stale_after_s": 30 if self.fast else 25,
            },
            "fuse": self.fuse,
            "chargers": chargers,
            "control": {
                "safe_current_a": 6,
                "ramp_up_delay_s": 0 if self.fast else 60,
                # the boxes start at their own (high) limits: the first telegram pauses some
                "resume_delay_s": 3 if self.fast else 20,
                "poll_interval_s": 2,  # a garage's boxes: every 2 s (the example site's)
            },
            "log": {"decisions": str(self.tmp / "decisions.jsonl")},
        }

    async def telegram(self, house_a: list[float]) -> tuple[float, list[float]]:
        """One telegram (house + what the cars draw); when its last byte left, and the limits."""
        state = await self.ask({"op": "state"})
        currents = [h + c for h, c in zip(house_a, state["grid_a"], strict=True)]
        return await self.telegrams.send(currents), state["limits"]

    async def stop(self) -> None:
        for process in (self.service, self.boxes):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
        await self.meter.stop()


async def reaction(
    count: int, events: int, code: Path | None = None
) -> tuple[list[float], list[float], int]:
    """Per event the seconds to the first and to the last box's cut; events without a cut."""
    with tempfile.TemporaryDirectory() as tmp:
        garage = Garage(Path(tmp), count, fast=True, code=code)
        await garage.start()
        try:
            return await events_on(garage, events)
        finally:
            await garage.stop()


async def events_on(garage: Garage, events: int) -> tuple[list[float], list[float], int]:
    first: list[float] = []
    last: list[float] = []
    missed = 0
    for event in range(WARM_UP_EVENTS + events):
        back_by = time.monotonic() + 30.0
        _, limits = await garage.telegram(garage.low)
        while min(limits) < HIGH_A and time.monotonic() < back_by:  # full before each event
            await asyncio.sleep(0.2)  # 5 telegrams a second at most (the flood guard's rate)
            _, limits = await garage.telegram(garage.low)
        await asyncio.sleep(0.1)
        sent, _ = await garage.telegram(garage.event)
        answer = await garage.ask({"op": "changes", "since": sent, "quiet_s": 0.3, "timeout_s": 5})
        cut = [t for t in answer["firsts"] if t is not None]
        if not cut:
            missed += 1
            continue
        if event >= WARM_UP_EVENTS:
            first.append(min(cut) - sent)
            last.append(max(cut) - sent)
    return first, last, missed


async def footprint(
    count: int, window_s: float, code: Path | None = None
) -> tuple[float, float, float]:
    """The service's CPU (% of one core) and RSS (MB), and the boxes' CPU, in steady state."""
    with tempfile.TemporaryDirectory() as tmp:
        garage = Garage(Path(tmp), count, fast=False, code=code)
        await garage.start()
        assert garage.service is not None and garage.boxes is not None
        pids = (garage.service.pid, garage.boxes.pid)
        try:
            for _ in range(3):  # warm-up: imports done, first decisions and writes
                await garage.telegram(garage.low)
                await asyncio.sleep(10)
            ticks, started = [cpu_ticks(pid) for pid in pids], time.monotonic()
            while time.monotonic() - started < window_s:
                await garage.telegram(garage.low)
                await asyncio.sleep(10)
            elapsed_s = time.monotonic() - started
            hz = os.sysconf("SC_CLK_TCK")
            used = [(cpu_ticks(p) - t) / hz for p, t in zip(pids, ticks, strict=True)]
            return 100 * used[0] / elapsed_s, rss_mb(pids[0]), 100 * used[1] / elapsed_s
        finally:
            await garage.stop()


def fairness() -> None:
    """40 cars, room for 25 minimums, 4 hours through the core: the allocation before share
    rotation beside the one with it (:mod:`loadbalancer.sim.fairness`)."""
    rows = zip(("before rotation (main)", "rotation, min_share_hold_s 900"), compare(), strict=True)
    print(f"{'40 cars, room for 25, 4 h':<34} {'mean wait':>10} {'longest':>8} {'ratio':>6} "
          f"{'pauses':>7} {'energy':>8}")  # fmt: skip
    for name, waits in rows:
        print(f"{name:<34} {waits.mean_s / 60:>8.0f} m {waits.longest_s / 60:>6.0f} m "
              f"{waits.ratio:>6.2f} {sum(waits.pauses):>7} {waits.energy_ah:>6.0f}Ah")  # fmt: skip
    print("(target: longest wait <= 2 x the mean; energy in ampere-hours per phase summed)")


async def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--events", type=int, default=100)
    cli.add_argument("--steady-s", type=float, default=60.0)
    cli.add_argument("--sizes", default="1,20,100")
    cli.add_argument("--base", default="", help="git ref whose service runs beside this tree's")
    args = cli.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.base, Path(tmp)) if args.base else None
        if args.base and base is None:
            print(f"(no baseline: git archive {args.base} failed)")
        sides = {"this tree": None} | ({args.base: base} if base is not None else {})
        await side_by_side(sides, [int(size) for size in args.sizes.split(",")], args)


async def side_by_side(sides: dict[str, Path | None], sizes: list[int], args: Any) -> None:
    """The reaction per size and the footprint, each side in turn (the same run)."""
    targets = {20: "p99<=40", 100: "p99<=100"}
    print(f"{'figure':<58} {'p50':>8} {'p99':>8} {'target':>10}")
    for size in sizes:
        for name, code in sides.items():
            first, last, missed = await reaction(size, args.events, code)
            note = f" ({missed} events without a cut)" if missed else ""
            print(f"{f'[{name}] reaction, {size} charger(s), first cut (ms)':<58} "
                  f"{pct(first, 50):>8.1f} {pct(first, 99):>8.1f}")  # fmt: skip
            print(f"{f'[{name}] reaction, {size} charger(s), last cut (ms)':<58} "
                  f"{pct(last, 50):>8.1f} {pct(last, 99):>8.1f} {targets.get(size, ''):>10}"
                  f"{note} (load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    if len(sides) == 1:
        fairness()
    for name, code in sides.items():
        cpu, rss, boxes_cpu = await footprint(max(sizes), args.steady_s, code)
        print(f"{f'[{name}] steady CPU of run, {max(sizes)} chargers, % of a core':<58} "
              f"{cpu:>8.2f} {'':>8} {'<=5':>10} "
              f"(load average {os.getloadavg()[0]:.1f})")  # fmt: skip
        print(f"{f'[{name}] steady RSS of run, {max(sizes)} chargers, MB':<58} {rss:>8.1f} "
              f"{'':>8} {'<=60':>10}")  # fmt: skip
        print(f"{f'[{name}] (the emulated boxes process, % of a core)':<58} {boxes_cpu:>8.2f}")
    print(f"({args.events} events per size; footprint over {args.steady_s:g} s, 10 s telegrams, "
          "2 s polls)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
