"""``loadbalancer run`` as its own process with an OCPP charge point: SIGTERM sends the safe
limit to the connected box before the process exits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.ocpp.emulator import EmulatedChargePoint
from tests.ocpp.harness import fast
from tests.service.harness import free_port


async def test_sigterm_sends_the_safe_limit_to_the_charge_point(tmp_path: Path) -> None:
    port = free_port()
    box = EmulatedChargePoint("CP1")
    async with MeterServer() as meter:
        site = {
            "meter": {"source": meter.url, "protocol": "p1", "telegram_period_s": 1},
            "fuse": "3x20A-gG",
            "chargers": [
                {
                    "name": "carport",
                    "protocol": "ocpp",
                    "charge_point_id": "CP1",
                    "profile": fast(tmp_path),
                    "phases": ["L1", "L2", "L3"],
                    "max_current_a": 16,
                }
            ],
            "ocpp": {"listen": f"127.0.0.1:{port}", "auth": "none"},
            "control": {"safe_current_a": 8, "poll_interval_s": 0.2},
            "log": {"decisions": str(tmp_path / "decisions.jsonl")},
        }
        (tmp_path / "site.yaml").write_text(yaml.safe_dump(site))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadbalancer", "run", "--config", str(tmp_path / "site.yaml"),
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await meter.wait_for_client(20)
            async with asyncio.timeout(20):
                while box.session is None:
                    with contextlib.suppress(OSError):
                        await box.connect(f"ws://127.0.0.1:{port}/ocpp")
                    await asyncio.sleep(0.05)
                sent = 0
                while box.state.limit_a is None or box.state.limit_a == 8.0:
                    sent += 1
                    await box.send_meter_values()
                    draw = box.phase_currents_a()[0]
                    loads = (PhaseLoad(2 + draw), PhaseLoad(2 + draw), PhaseLoad(2 + draw))
                    start = datetime(2026, 1, 14, 18, 0, 0)
                    telegram = swedish_telegram(
                        start + timedelta(seconds=sent), loads, energy_import_kwh=1000 + sent / 100
                    )
                    await meter.send(telegram)
                    await asyncio.sleep(0.2)
            assert box.state.limit_a != 8.0
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 10) == 0
            assert box.state.limit_a == 8.0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await box.close()
