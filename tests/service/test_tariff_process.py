"""Issue 15's acceptance: ``loadbalancer run`` as a real process, killed with SIGKILL mid-month
and started again, keeps the month's peaks.

The process runs on a wall clock a few seconds before the end of an hour: libfaketime (its own
build, shipped in the ``libfaketime`` test dependency) is preloaded with the start time, the
clock then runs at the real rate, and the monotonic clock is left alone. Everything else is real:
the meter over TCP, the emulated charger over Modbus TCP, the state file on disk.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from tests.service.harness import Box, served_boxes
from tests.service.tariff_harness import THREE, read_records, tariff_site_file


def faketime_library() -> Path | None:
    spec = importlib.util.find_spec("libfaketime")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(spec.submodule_search_locations[0]) / "vendor/libfaketime/src/libfaketime.so.1"
    return found if found.is_file() else None


LIBRARY = faketime_library()


async def start_at(site_file: Path, local: datetime) -> asyncio.subprocess.Process:
    """``loadbalancer run`` with the Stockholm wall clock starting at ``local``."""
    assert LIBRARY is not None
    env = {
        **os.environ,
        "LD_PRELOAD": str(LIBRARY),
        "FAKETIME": f"@{local:%Y-%m-%d %H:%M:%S}",
        "TZ": "Europe/Stockholm",
        "DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadbalancer", "run", "--config", str(site_file),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def feed_until(
    meter: MeterServer, log: Path, closed: int, house_a: float, start: datetime, kwh: float
) -> float:
    """Telegrams every 0.2 s (the register rising with ``house_a``) until the log holds
    ``closed`` tariff_interval records; the register then."""
    async with asyncio.timeout(20):
        i = 0
        while len(read_records(log, "tariff_interval")) < closed:
            loads = (PhaseLoad(house_a),) * 3
            kwh += house_a * 3 * 0.23 * 0.2 / 3600
            await meter.send(
                swedish_telegram(start + timedelta(seconds=i), loads, energy_import_kwh=kwh)
            )
            i += 1
            await asyncio.sleep(0.2)
    return kwh


@pytest.mark.slow  # two process starts and a clean stop: some 6 s
@pytest.mark.skipif(LIBRARY is None, reason="the libfaketime test dependency is not installed")
async def test_a_kill_9_mid_month_keeps_the_month_s_peaks(tmp_path: Path) -> None:
    tariff = {"profile": "generic-hourly", "budget_kw": 5.0, "mode": "follow_peak"}
    box = Box("carport", "vestel-evc04", THREE)
    async with MeterServer() as meter, served_boxes([box]) as ports:
        site_file, log = tariff_site_file(tmp_path, meter.url, [box], ports, tariff)
        # 14 January, 18:59:57: the hour 18-19 closes 3 s after the start, at the house's
        # 15 A a phase (10 kW, estimated back from the first telegram's power)
        first = await start_at(site_file, datetime(2026, 1, 14, 18, 59, 57))
        try:
            await meter.wait_for_client(15)
            kwh = await feed_until(meter, log, 1, 15.0, datetime(2026, 1, 14, 18, 59, 57), 900.0)
            (peak,) = read_records(log, "tariff_interval")
            first.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(first.wait(), 5) == -signal.SIGKILL
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        assert peak["start"] == "2026-01-14T18:00:00+01:00" and peak["peak_rank"] == 1
        assert peak["mean_kw"] > 8.0
        # the next day, 07:59:57: an hour at 2 A a phase closes; the month still has its peak
        second = await start_at(site_file, datetime(2026, 1, 15, 7, 59, 57))
        try:
            await meter.wait_for_client(15)
            await feed_until(meter, log, 2, 2.0, datetime(2026, 1, 15, 7, 59, 57), kwh + 5)
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 6) == 0
        finally:
            if second.returncode is None:
                second.kill()
                await second.wait()
        assert second.stderr is not None
        stderr = (await second.stderr.read()).decode()
    month = read_records(log, "tariff_month")[-1]
    assert month["source"] == "state_file", stderr
    assert month["billed_kw"] == {"all hours": pytest.approx(peak["mean_kw"], abs=1e-3)}
    low = read_records(log, "tariff_interval")[-1]
    assert low["start"] == "2026-01-15T07:00:00+01:00"
    assert low["peak_rank"] is None  # not the month's peak: the one before the kill still is
    # follow_peak: the budget in force is the peak paid for before the kill
    assert low["budget_kw"] == pytest.approx(peak["mean_kw"], abs=1e-3)
    decisions = [d for d in read_records(log, "decision") if "tariff" in d]
    assert decisions[-1]["tariff"]["budget_kw"] == pytest.approx(peak["mean_kw"], abs=1e-3)
    assert "Traceback" not in stderr
