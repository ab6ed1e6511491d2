"""Shared helpers for the charger tests: a hand-driven clock and emulated boxes on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from loadbalancer.chargers.driver import ChargerClient
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.profile import ChargerProfile, load_profile
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.resources import bundled_profile_names

ALL_PROFILES = bundled_profile_names("chargers")
#: fast enough for a loopback box, long enough for a loaded 2-core CI machine
REQUEST_TIMEOUT_S = 1.0


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> float:
        self.now_s += seconds
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        """What the driver awaits to keep a box's pace: time passes at once."""
        self.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Emulated = Callable[..., AbstractAsyncContextManager[tuple[ChargerEmulator, ChargerClient]]]


@pytest.fixture
def emulated(clock: FakeClock) -> Emulated:
    """``async with emulated("alfen-eve") as (emulator, client)``: a served box and a client."""

    @asynccontextmanager
    async def serve(
        profile: str | ChargerProfile,
        *,
        client_profile: ChargerProfile | None = None,
        car: SimulatedCar | None = None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> AsyncIterator[tuple[ChargerEmulator, ChargerClient]]:
        served = load_profile(profile) if isinstance(profile, str) else profile
        emulator = ChargerEmulator(served, clock=clock, car=car)
        await emulator.start()
        client = ChargerClient(
            client_profile or served,
            "127.0.0.1",
            emulator.port,
            connect_timeout_s=REQUEST_TIMEOUT_S,
            request_timeout_s=request_timeout_s,
            clock=clock,
            sleep=clock.sleep,
        )
        try:
            yield emulator, client
        finally:
            await client.close()
            await emulator.stop()

    return serve
