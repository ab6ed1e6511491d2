"""Reaction time of ``loadbalancer run`` with OCPP chargers, and the memory OCPP adds.

    .venv/bin/python -m benchmarks.ocpp_reaction [--events 200] [--counts 1,20] [--base main]

The service runs as its own process against a TCP meter; emulated OCPP 1.6J charge points
(loadbalancer/ocpp/emulator.py, the ``ocpp`` library's ChargePoint over real WebSockets)
connect to its central system on loopback and send MeterValues every 0.2 s. Each event is a
telegram that overloads L1; the latency runs from the moment its last byte was handed to the
socket to the moment the lowered limit's SetChargingProfile reached the emulated box (which
answers Accepted at once). p50 and p99 over N events, with 1 and with 20 charge points (first
and last box to get its cut). Memory: the resident set size of ``run`` with one OCPP charger
against the same site with one Modbus charger.
With ``--base REF`` the same rows are measured for the package at ``REF`` too (exported with
``git archive``; the emulated boxes and this rig stay this tree's), in alternating rounds of
``--rounds``, so that both builds meet the same load; beside each row the CPU seconds the ``run``
process used per event and the load average over the rounds.
Targets (issue 18): p99 <= 20 ms (1), <= 60 ms (20); RSS added <= 10 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.log_summary import baseline
from benchmarks.reaction import WARM_UP_EVENTS, Rig, Telegrams, cpu_ticks, pct, rss_mb
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.meter.emulator import MeterServer
from loadbalancer.ocpp.emulator import (
    UNLIMITED_A,
    EmulatedChargePoint,
    EmulatedConnector,
    EmulatedState,
)
from tests.service.harness import free_port

REPO = Path(__file__).resolve().parents[1]
#: the car behind every box: follows at once, draws what it is offered
CAR = SimulatedCar(delay_s=0.0, shortfall_a=0.0)


class OcppRig:
    """The meter and the charge points around one ``loadbalancer run`` process."""

    def __init__(
        self, tmp: Path, count: int, meter_interval_s: float, tree: Path | None = None
    ) -> None:
        self.tmp = tmp
        #: where ``run`` starts (its ``loadbalancer`` package: a baseline's export), None: here
        self.tree = tree
        self.count = count
        self.meter_interval_s = meter_interval_s
        self.meter = MeterServer()
        #: what the boxes (in their own process) said: limit, when it came, when their last
        #: MeterValues were taken (time.monotonic, the same clock in every process)
        self.limit_a: list[float | None] = [None] * count
        self.limit_at_s = [0.0] * count
        self.meter_at_s = [-math.inf] * count
        self.connected = 0
        self.process: asyncio.subprocess.Process | None = None
        self.boxes_process: asyncio.subprocess.Process | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.telegrams = Telegrams(self.meter)
        #: set at every line from the boxes' process (waiting on it, not polling: this process
        #: shares the cores with the service)
        self.heard = asyncio.Event()

    async def start(self) -> None:
        await self.meter.start()
        profile = yaml.safe_load((REPO / "profiles/ocpp/generic-ocpp.yaml").read_text())
        profile["writes"]["min_interval_s"] = 0
        # the emulated boxes apply a limit and their cars follow at once: asked for MeterValues
        # right after a raise (else the ones from before it overstate the house: a pause)
        profile["meter_values"]["trigger_after_s"] = 0
        (self.tmp / "bench.yaml").write_text(yaml.safe_dump(profile))
        one = self.count == 1
        port = free_port()
        site: dict[str, Any] = {
            "meter": {"source": self.meter.url, "protocol": "p1", "telegram_period_s": 1,
                      "stale_after_s": 30},
            "fuse": "3x20A-gG" if one else
            {"rating_a": 250, "phases": 3, "characteristic": "strict", "margin_a": 1},
            "chargers": [
                {"name": f"box{i}", "protocol": "ocpp", "charge_point_id": f"CP{i}",
                 "profile": "bench.yaml", "phases": ["L1", "L2", "L3"],
                 "max_current_a": 16 if one else 10}
                for i in range(self.count)
            ],
            "ocpp": {"listen": f"127.0.0.1:{port}", "auth": "none"},
            "control": {"safe_current_a": 6, "ramp_up_delay_s": 0, "resume_delay_s": 300,
                        "poll_interval_s": 0.5},
            "log": {"decisions": str(self.tmp / "decisions.jsonl")},
        }  # fmt: skip
        (self.tmp / "site.yaml").write_text(yaml.safe_dump(site))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadbalancer", "run", "--config", str(self.tmp / "site.yaml"),
            stdout=asyncio.subprocess.DEVNULL, stderr=(self.tmp / "stderr.txt").open("w"),
            cwd=self.tree,
        )  # fmt: skip
        await self.meter.wait_for_client(30)
        # the charge points in a process of their own, as they are separate devices: the
        # latency is then the service's and the network's, not this process's queue
        self.boxes_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.ocpp_reaction", "--serve-boxes",
            f"ws://127.0.0.1:{port}/ocpp", str(self.count), str(self.meter_interval_s),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.tasks.append(asyncio.create_task(self._hear(self.boxes_process)))
        await self.until(lambda: self.connected == self.count, 60.0)

    async def until(self, condition: Any, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.heard.clear()
                await self.heard.wait()

    async def _hear(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            kind, index, value, at_s = line.split()
            i = int(index)
            if kind == b"L":
                self.limit_a[i], self.limit_at_s[i] = float(value), float(at_s)
            elif kind == b"M":
                self.meter_at_s[i] = float(at_s)
            else:
                self.connected += 1
            self.heard.set()

    async def telegram(self, house_l1_a: float) -> float:
        currents = [house_l1_a, 2.0, 2.0]
        for limit in self.limits():
            for i in range(3):
                currents[i] += CAR.draw_a(limit)
        return await self.telegrams.send(currents)

    def settled(self, high_a: float) -> bool:
        """Every box back at ``high_a`` and its MeterValues since then taken by the service
        (a car follows a raise within seconds and the box reports it: a telegram 0.1 s after
        a raise, with the house set against the draw from before it, is not a real site's)."""
        return min(self.limits()) >= high_a and all(
            m > at for m, at in zip(self.meter_at_s, self.limit_at_s, strict=True)
        )

    def limits(self) -> list[float]:
        return [UNLIMITED_A if limit is None else limit for limit in self.limit_a]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for process in (self.process, self.boxes_process):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
        await self.meter.stop()


class _ReportingState(EmulatedState):
    """A box's profiles; each limit said on stdout (``L index limit time``)."""

    index = 0

    def install(self, profile: dict[str, Any]) -> None:
        super().install(profile)
        limit = UNLIMITED_A if self.limit_a is None else self.limit_a
        _say(f"L {self.index} {limit} {self.limit_at_s}")


class _ReportingBox(EmulatedChargePoint):
    """A box that says on stdout when its MeterValues were taken (``M index 0 time``)."""

    index = 0

    async def send_meter_values(self) -> None:
        await super().send_meter_values()
        _say(f"M {self.index} 0 {self.meter_values_at_s}")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def serve_boxes(url: str, count: int, meter_interval_s: float) -> None:
    """The charge points' process: ``count`` boxes connect to ``url`` and send MeterValues
    every ``meter_interval_s``; ``R index 0 0`` once each is connected."""
    boxes: list[_ReportingBox] = []
    tasks = []
    for i in range(count):
        state = _ReportingState()
        state.index = i
        connector = EmulatedConnector(1, CAR, state=state)
        box = _ReportingBox(f"CP{i}", connector=connector)
        box.index = i
        boxes.append(box)
        for _ in range(100):
            with contextlib.suppress(OSError):
                await box.connect(url)
                break
            await asyncio.sleep(0.1)
        _say(f"R {i} 0 0")
        tasks.append(asyncio.create_task(box.run_meter(meter_interval_s)))
    await asyncio.Event().wait()


@dataclass
class Row:
    """One build's figures for one count of boxes (rounds add up)."""

    first: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # CPU time of ``run`` over the counted events
    rss_mb: float = 0.0


async def reaction(
    count: int, events: int, meter_interval_s: float = 0.2, tree: Path | None = None,
    row: Row | None = None,
) -> Row:  # fmt: skip
    """First and last box's latency per event, the CPU time of ``run`` over them, and its RSS
    at the end (MB); added to ``row`` where one is given."""
    row = row or Row()
    with tempfile.TemporaryDirectory() as tmp:
        rig = OcppRig(Path(tmp), count, meter_interval_s, tree)
        await rig.start()
        assert rig.process is not None
        try:
            ticks = 0
            for event in range(WARM_UP_EVENTS + events):
                if event == WARM_UP_EVENTS:
                    ticks = cpu_ticks(rig.process.pid)
                await _event(rig, count, event, row)
            row.cpu_s += (cpu_ticks(rig.process.pid) - ticks) / os.sysconf("SC_CLK_TCK")
            row.rss_mb = rss_mb(rig.process.pid)
            return row
        finally:
            await rig.stop()


async def _event(rig: OcppRig, count: int, event: int, row: Row) -> None:
    """Back to every box's high limit, then the overload and its cuts (counted after the
    warm-up)."""
    high = 16.0 if count == 1 else 10.0
    overload = 12.0 if count == 1 else 102.0
    recovered_by = time.monotonic() + 30.0
    while not rig.settled(high):
        if time.monotonic() > recovered_by:
            low = sum(1 for limit in rig.limits() if limit < high)
            print(f"{count}: {low} box(es) not back within 30 s", file=sys.stderr)
            break
        await rig.telegram(2.0)
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.1)
    sent = await rig.telegram(overload)
    try:
        await rig.until(lambda: max(rig.limits()) < high, 5.0)
    except TimeoutError:
        print(f"{count}: no cut within 5 s after event {event}", file=sys.stderr)
        return
    if event >= WARM_UP_EVENTS:
        times = rig.limit_at_s
        row.first.append(min(times) - sent)
        row.last.append(max(times) - sent)


async def modbus_rss() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp), 1, fast=True)
        await rig.start()
        try:
            for _ in range(10):
                await rig.telegram(2.0)
                await asyncio.sleep(0.2)
            assert rig.process is not None
            return rss_mb(rig.process.pid)
        finally:
            await rig.stop()


async def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--events", type=int, default=200)
    cli.add_argument("--meter-interval-s", type=float, default=0.2)
    cli.add_argument("--counts", default="1,20", help="how many charge points per row")
    cli.add_argument("--base", help="git ref of a baseline measured alongside (e.g. main)")
    cli.add_argument("--rounds", type=int, default=4, help="alternating rounds with --base")
    cli.add_argument("--serve-boxes", nargs=3, metavar=("URL", "COUNT", "INTERVAL_S"))
    args = cli.parse_args()
    if args.serve_boxes:  # the charge points' own process (started by OcppRig)
        url, count, interval = args.serve_boxes
        await serve_boxes(url, int(count), float(interval))
        return
    counts = [int(c) for c in args.counts.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        trees: dict[str, Path | None] = {"this": None}
        rounds = 1
        if args.base:
            base = baseline(args.base, Path(folder))
            if base is None:
                raise SystemExit(f"--base {args.base}: git archive failed")
            trees, rounds = {args.base: base, "this": None}, args.rounds
        loads = [os.getloadavg()[0]]
        rows: dict[tuple[str, int], Row] = {}
        for count in counts:
            for turn in range(rounds):
                order = list(trees) if turn % 2 == 0 else list(reversed(trees))
                for name in order:
                    row = rows.setdefault((name, count), Row())
                    await reaction(count, args.events // rounds, args.meter_interval_s,
                                   trees[name], row)  # fmt: skip
                    loads.append(os.getloadavg()[0])
    _report(rows, counts, args.events)
    print(f"(load average 1 min over the run: {min(loads):.1f} to {max(loads):.1f})")
    if 1 in counts and not args.base:
        base_rss, ocpp_rss = await modbus_rss(), rows["this", 1].rss_mb
        print(
            f"{'RSS of run: 1 OCPP vs 1 Modbus charger, MB':<48} {ocpp_rss:>9.1f} {base_rss:>9.1f}"
        )
        print(f"{'RSS added by OCPP, MB':<48} {ocpp_rss - base_rss:>9.1f} {'':>9} {'<=10':>10}")


def _report(rows: dict[tuple[str, int], Row], counts: list[int], events: int) -> None:
    print(f"{'figure':<54} {'p50':>7} {'p99':>7} {'CPU ms/ev':>9} {'target':>8}")
    for (name, count), row in sorted(rows.items(), key=lambda item: (item[0][1], item[0][0])):
        per_event_ms = 1000 * row.cpu_s / max(len(row.first), 1)
        lines = [(f"{count} charge point(s), first", row.first, "")] if count > 1 else []
        target = "p99<=20" if count == 1 else "p99<=60"
        lines.append((f"{count} charge point(s), all" if count > 1 else "1 charge point",
                      row.last, target))  # fmt: skip
        for label, values, goal in lines:
            figure = f"OCPP reaction [{name}], {label} (ms)"
            print(f"{figure:<54} {pct(values, 50):>7.1f} {pct(values, 99):>7.1f} "
                  f"{per_event_ms:>9.1f} {goal:>8}")  # fmt: skip
    print(f"({events} events per row; CPU: of the run process per counted event, ms)")


if __name__ == "__main__":
    asyncio.run(main())
