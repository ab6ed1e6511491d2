"""Byte floods on the meter port, on loopback, against the real service (issue 12 item 2).

The bridge is a process of its own (tests/service/flood_sender.py) that sends valid telegrams,
then on command floods as fast as the service reads: random bytes, runs of '/', runs of 0x7E,
random bytes with valid telegrams mixed in. Each flood lasts a few seconds at most. The
service must keep its fault rules: the stale fallback within stale_after_s + 1 s of the last
telegram it used, charger polls at their period, SIGTERM handled within 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.service import Service
from tests.service.harness import Box, one_box_site, service_running
from tests.service.test_process import records, start_process, wait_for

STALE_AFTER_S = 2.0
POLL_S = 0.2


@dataclass
class Sender:
    process: asyncio.subprocess.Process
    url: str

    async def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()


@contextlib.asynccontextmanager
async def flood_sender(kind: str) -> AsyncIterator[Sender]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.service.flood_sender", kind, "--max-flood-s", "8",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = int(await asyncio.wait_for(process.stdout.readline(), 10))
        yield Sender(process, f"tcp://127.0.0.1:{port}")
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def site(
    tmp: Path, meter_url: str
) -> AbstractAsyncContextManager[tuple[ChargerEmulator, Path, Path]]:
    """One emulated Alfen box and the site file around it: the meter polled in auto mode."""
    box = Box("carport", "alfen-eve", ["L1", "L2", "L3"])
    settings = {"meter_settings": {"stale_after_s": STALE_AFTER_S}, "poll_interval_s": POLL_S}
    return one_box_site(tmp, meter_url, box, "auto", **settings)


async def request_rate(emulator: ChargerEmulator, seconds: float) -> float:
    before = emulator.requests
    await asyncio.sleep(seconds)
    return (emulator.requests - before) / seconds


@dataclass
class Flooded:
    sender: Sender
    service: Service
    emulator: ChargerEmulator
    log: Path


@contextlib.asynccontextmanager
async def flooded_service(tmp_path: Path, kind: str) -> AsyncIterator[Flooded]:
    """The real Service in this process, its meter the flood sender, one emulated box; stopped
    (exit 0 asserted) on the way out, so that the shutdown records are in the log."""
    async with flood_sender(kind) as sender, site(tmp_path, sender.url) as served:
        emulator, site_file, log = served
        async with service_running(site_file, log) as service:
            yield Flooded(sender, service, emulator, log)


@pytest.mark.parametrize("kind", ["random", "slash", "flag", "mixed"])
async def test_a_flood_neither_delays_the_stale_fallback_nor_starves_the_polls(
    tmp_path: Path, kind: str
) -> None:
    async with flooded_service(tmp_path, kind) as run:
        service, emulator, log = run.service, run.emulator, run.log
        await wait_for(lambda: service.intake.valid_telegrams >= 3 and service.decisions >= 3, 10)
        assert records(log, "meter_stale") == []
        normal_rate = await request_rate(emulator, 1.0)
        assert normal_rate > 0

        size_before = log.stat().st_size
        await run.sender.command("flood")
        counting = asyncio.create_task(request_rate(emulator, 2.0))
        await wait_for(lambda: emulator.box.setpoint_a == 6.0, STALE_AFTER_S + 4)
        assert service.intake.meter is not None
        since_last = time.monotonic() - service.intake.meter.received_s
        flood_rate = await counting

        (stale,) = records(log, "meter_stale")
        assert stale["meter_age_s"] <= STALE_AFTER_S + 1.0
        assert since_last <= STALE_AFTER_S + 1.0, f"safe current {since_last:.2f} s late"
        # polls keep their period: the box is read about as often as before the flood
        assert flood_rate >= 0.6 * normal_rate, (flood_rate, normal_rate)
        assert not records(log, "charger_offline")
        (flood,) = records(log, "meter_flood")  # one episode, not one record per chunk
        assert flood["rate_bytes_s"] > flood["limit_bytes_s"]
    (ended,) = records(log, "meter_flood_ended")  # written at the shutdown at the latest
    assert ended["dropped_bytes"] > 0 and ended["received_bytes"] >= ended["dropped_bytes"]
    # the log grew by a few fixed records (flood, stale, the safe current, the rejections of
    # the minute, shutdown), not by the flood's size: it was 10-12.7 MB/s before
    grown = log.stat().st_size - size_before
    assert grown < 8_000, (grown, [r["event"] for r in records(log)])


async def test_sigterm_during_a_flood_exits_within_5_s_with_safe_currents(tmp_path: Path) -> None:
    async with flood_sender("slash") as sender, site(tmp_path, sender.url) as served:
        emulator, site_file, log = served
        process = await start_process(site_file)
        try:
            await wait_for(lambda: bool(records(log, "decision")), 15)
            await sender.command("flood")
            await wait_for(lambda: bool(records(log, "meter_flood")), 10)
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            start = time.monotonic()
            code = await asyncio.wait_for(process.wait(), 10)
            took = time.monotonic() - start
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert code == 0
    assert took < 5.0, f"exit took {took:.1f} s"
    (shutdown,) = records(log, "shutdown")
    assert shutdown["chargers"]["carport"] == 6.0
    assert emulator.box.setpoint_a == 6.0


async def test_after_the_flood_the_episode_ends_and_telegrams_are_used_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loadbalancer.meter_intake.FLOOD_QUIET_S", 1.0)
    async with flooded_service(tmp_path, "mixed") as run:
        service, log = run.service, run.log
        await wait_for(lambda: service.intake.valid_telegrams >= 3, 10)
        await run.sender.command("flood")
        await wait_for(lambda: bool(records(log, "meter_stale")), STALE_AFTER_S + 4)
        used = service.intake.valid_telegrams
        await run.sender.command("normal")
        await wait_for(lambda: bool(records(log, "meter_recovered")), 20)
        assert service.intake.valid_telegrams > used
    (ended,) = records(log, "meter_flood_ended")
    assert ended["telegrams_ignored"] > 0  # the valid telegrams inside the flood
    assert 0 < ended["dropped_bytes"] <= ended["received_bytes"]
    events = [r["event"] for r in records(log) if r["event"].startswith("meter_")]
    flood_events = [e for e in events if e != "meter_rejected"]
    assert flood_events == ["meter_flood", "meter_stale", "meter_flood_ended", "meter_recovered"]
