"""The emulator on the real clock: its background task trips the failsafe without requests."""

from __future__ import annotations

import asyncio
import contextlib

from loadbalancer.chargers.driver import ChargerClient
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.profile import load_profile


async def test_background_clock_trips_the_failsafe() -> None:
    profile = load_profile("vestel-evc04")
    async with ChargerEmulator(profile) as emulator:
        ticking = asyncio.create_task(emulator.run_clock(period_s=0.02))
        try:
            async with ChargerClient(profile, "127.0.0.1", emulator.port) as client:
                result = await client.configure_failsafe(6.0, 1.0)
                assert result.verified
                await client.write_limit(16.0)
                await client.keep_alive()
                box = emulator.box
                assert not box.in_failsafe
                await asyncio.sleep(1.3)  # no requests at all
                assert emulator.box.in_failsafe
                assert emulator.box.applied_limit_a == 6.0
                quick = await client.read(failsafe=False)
                assert quick.limit_a == 6.0
                assert quick.failsafe.timeout_s == 1.0  # remembered, not read again
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
