"""Reaction time of ``loadbalancer run`` with OCPP chargers, and the memory OCPP adds.

    .venv/bin/python -m benchmarks.ocpp_reaction [--events 200]

The service runs as its own process against a TCP meter; emulated OCPP 1.6J charge points
(loadbalancer/ocpp/emulator.py, the ``ocpp`` library's ChargePoint over real WebSockets)
connect to its central system on loopback and send MeterValues every 0.2 s. Each event is a
telegram that overloads L1; the latency runs from the moment its last byte was handed to the
socket to the moment the lowered limit's SetChargingProfile reached the emulated box (which
answers Accepted at once). p50 and p99 over N events, with 1 and with 20 charge points (first
and last box to get its cut). Memory: the resident set size of ``run`` with one OCPP charger
against the same site with one Modbus charger.
Targets (issue 18): p99 <= 20 ms (1), <= 60 ms (20); RSS added <= 10 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from benchmarks.reaction import T0, WARM_UP_EVENTS, Rig, pct, rss_mb, until
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.ocpp.emulator import EmulatedChargePoint
from tests.service.harness import free_port

REPO = Path(__file__).resolve().parents[1]


class OcppRig:
    """The meter and the charge points around one ``loadbalancer run`` process."""

    def __init__(self, tmp: Path, count: int) -> None:
        self.tmp = tmp
        self.meter = MeterServer()
        self.boxes = [
            EmulatedChargePoint(f"CP{i}", car=SimulatedCar(delay_s=0.0, shortfall_a=0.0))
            for i in range(count)
        ]
        self.process: asyncio.subprocess.Process | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.energy_kwh = 1000.0

    async def start(self) -> None:
        await self.meter.start()
        profile = yaml.safe_load((REPO / "profiles/ocpp/generic-ocpp.yaml").read_text())
        profile["writes"]["min_interval_s"] = 0
        (self.tmp / "bench.yaml").write_text(yaml.safe_dump(profile))
        one = len(self.boxes) == 1
        port = free_port()
        site: dict[str, Any] = {
            "meter": {"source": self.meter.url, "protocol": "p1", "telegram_period_s": 1,
                      "stale_after_s": 30},
            "fuse": "3x20A-gG" if one else
            {"rating_a": 250, "phases": 3, "characteristic": "strict", "margin_a": 1},
            "chargers": [
                {"name": f"box{i}", "protocol": "ocpp", "charge_point_id": box.cp_id,
                 "profile": "bench.yaml", "phases": ["L1", "L2", "L3"],
                 "max_current_a": 16 if one else 10}
                for i, box in enumerate(self.boxes)
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
        )  # fmt: skip
        await self.meter.wait_for_client(30)
        for box in self.boxes:
            for _ in range(100):
                with contextlib.suppress(OSError):
                    await box.connect(f"ws://127.0.0.1:{port}/ocpp")
                    break
                await asyncio.sleep(0.1)
            self.tasks.append(asyncio.create_task(box.run_meter(0.2)))

    async def telegram(self, house_l1_a: float) -> float:
        currents = [house_l1_a, 2.0, 2.0]
        for box in self.boxes:
            for i, amps in enumerate(box.phase_currents_a()):
                currents[i] += amps
        self.sent += 1
        self.energy_kwh += 0.01
        loads = (PhaseLoad(currents[0]), PhaseLoad(currents[1]), PhaseLoad(currents[2]))
        data = swedish_telegram(
            T0 + timedelta(seconds=self.sent), loads, energy_import_kwh=self.energy_kwh
        )
        await self.meter.send(data)
        return time.monotonic()

    def limits(self) -> list[float]:
        return [32.0 if b.state.limit_a is None else b.state.limit_a for b in self.boxes]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        for box in self.boxes:
            await box.close()
        await self.meter.stop()


async def reaction(count: int, events: int) -> tuple[list[float], list[float], float]:
    """First and last box's latency per event, and the RSS of ``run`` at the end (MB)."""
    high = 16.0 if count == 1 else 10.0
    overload = 12.0 if count == 1 else 102.0
    first: list[float] = []
    last: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        rig = OcppRig(Path(tmp), count)
        await rig.start()
        try:
            for event in range(WARM_UP_EVENTS + events):
                recovered_by = time.monotonic() + 30.0
                while min(rig.limits()) < high and time.monotonic() < recovered_by:
                    await rig.telegram(2.0)
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.1)
                sent = await rig.telegram(overload)
                try:
                    await until(lambda: max(rig.limits()) < high, 5.0)
                except TimeoutError:
                    print(f"{count}: no cut within 5 s after event {event}", file=sys.stderr)
                    continue
                if event >= WARM_UP_EVENTS:
                    times = [box.state.limit_at_s for box in rig.boxes]
                    first.append(min(times) - sent)
                    last.append(max(times) - sent)
            assert rig.process is not None
            return first, last, rss_mb(rig.process.pid)
        finally:
            await rig.stop()


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
    args = cli.parse_args()
    one_first, _, ocpp_rss = await reaction(1, args.events)
    many_first, many_last, _ = await reaction(20, args.events)
    base_rss = await modbus_rss()
    print(f"{'figure':<48} {'p50':>9} {'p99':>9} {'target':>10}")
    rows = [
        ("OCPP reaction, 1 charge point (ms)", one_first, "p99<=20"),
        ("OCPP reaction, 20 charge points, first (ms)", many_first, ""),
        ("OCPP reaction, 20 charge points, all (ms)", many_last, "p99<=60"),
    ]
    for name, values, target in rows:
        print(f"{name:<48} {pct(values, 50):>9.1f} {pct(values, 99):>9.1f} {target:>10}")
    added = ocpp_rss - base_rss
    print(f"{'RSS of run: 1 OCPP vs 1 Modbus charger, MB':<48} {ocpp_rss:>9.1f} {base_rss:>9.1f}")
    print(f"{'RSS added by OCPP, MB':<48} {added:>9.1f} {'':>9} {'<=10':>10}")
    print(f"({args.events} events per row)")


if __name__ == "__main__":
    asyncio.run(main())
