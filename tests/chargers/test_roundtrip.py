"""Every bundled profile against the emulator serving it over real Modbus TCP on 127.0.0.1.

Set, read back, pause and resume, failsafe configure and verify, keep-alive holding the box,
and a missed keep-alive making it fall back. The emulator's clock is driven by hand.
"""

from __future__ import annotations

import pytest

from loadbalancer.chargers.codec import quantise_down
from loadbalancer.chargers.driver import ChargerClient
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.profile import load_profile
from loadbalancer.chargers.simbox import SimulatedCar
from tests.chargers.conftest import ALL_PROFILES, Emulated, FakeClock

#: longer than the simulated car's reaction delay, shorter than any box's failsafe timeout
SETTLE_S = 2.5
FAILSAFE_CURRENT_A = 6.0
FAILSAFE_TIMEOUT_S = 10.0


def in_failsafe(emulator: ChargerEmulator) -> bool:
    return emulator.box.in_failsafe


async def settle(client: ChargerClient, clock: FakeClock) -> None:
    """Let the car follow, keeping the box alive as the service would."""
    clock.advance(SETTLE_S)
    await client.keep_alive()


@pytest.mark.parametrize("name", ALL_PROFILES)
async def test_set_read_back_pause_resume(name: str, emulated: Emulated, clock: FakeClock) -> None:
    profile = load_profile(name)
    car = SimulatedCar(phases=3, max_current_a=32.0, delay_s=2.0, shortfall_a=0.2)
    async with emulated(name, car=car) as (emulator, client):
        request_a = 10.37
        written = await client.write_limit(request_a)
        assert written == quantise_down(request_a, profile.setpoint.granularity_a)
        assert emulator.box.setpoint_a == pytest.approx(written, abs=1e-6)
        assert emulator.register_value(profile.setpoint.register) == pytest.approx(written)

        await settle(client, clock)
        reading = await client.read()
        assert reading.status == "C"
        assert reading.status_raw
        expected_a = written - car.shortfall_a
        assert reading.current_a == pytest.approx((expected_a,) * 3, abs=0.05)
        assert reading.phases == 3
        if profile.readings.limit_a is not None:
            assert reading.limit_a == pytest.approx(written, abs=1e-3)

        assert await client.write_limit(0) == 0.0
        assert emulator.box.applied_limit_a == 0.0
        await settle(client, clock)
        paused = await client.read()
        assert paused.status == "B"
        assert paused.current_a == (0.0, 0.0, 0.0)
        if profile.readings.limit_a is not None:
            assert paused.limit_a == 0.0

        assert await client.write_limit(8.0) == 8.0
        assert emulator.box.applied_limit_a == 8.0
        await settle(client, clock)
        resumed = await client.read()
        assert resumed.status == "C"
        assert resumed.current_a[0] == pytest.approx(8.0 - car.shortfall_a, abs=0.05)


@pytest.mark.parametrize("name", ALL_PROFILES)
async def test_below_minimum_pauses_and_above_maximum_is_capped(
    name: str, emulated: Emulated
) -> None:
    profile = load_profile(name)
    async with emulated(name) as (emulator, client):
        assert await client.write_limit(profile.setpoint.min_a - 0.5) == 0.0
        assert emulator.box.applied_limit_a == 0.0
        assert await client.write_limit(profile.setpoint.max_a + 10) == profile.setpoint.max_a
        assert emulator.box.applied_limit_a == profile.setpoint.max_a


@pytest.mark.parametrize("name", ALL_PROFILES)
async def test_failsafe_configure_and_verify(name: str, emulated: Emulated) -> None:
    profile = load_profile(name)
    failsafe = profile.failsafe
    async with emulated(name) as (emulator, client):
        result = await client.configure_failsafe(FAILSAFE_CURRENT_A, FAILSAFE_TIMEOUT_S)
        writable = [
            spec is not None
            and spec.register is not None
            and profile.register(spec.register).writable
            for spec in (failsafe.current, failsafe.timeout)
        ]
        assert result.settable == all(writable)
        assert result.verified == all(writable)
        if all(writable):
            assert emulator.box.failsafe_current_a == FAILSAFE_CURRENT_A
            assert emulator.box.timeout_s == FAILSAFE_TIMEOUT_S
            assert result.settings.current_a == FAILSAFE_CURRENT_A
            assert result.settings.timeout_s == FAILSAFE_TIMEOUT_S
            assert client.failsafe_timeout_s == FAILSAFE_TIMEOUT_S
            reading = await client.read()
            assert reading.failsafe.current_a == FAILSAFE_CURRENT_A
            assert reading.failsafe.timeout_s == FAILSAFE_TIMEOUT_S
        else:
            assert result.reason
        if failsafe.trigger != "none" and failsafe.current is not None:
            assert result.settings.current_a is not None


def _box_timeout_s(name: str) -> float:
    profile = load_profile(name)
    failsafe = profile.failsafe
    assert failsafe.timeout is not None
    settable = failsafe.timeout.register is not None and (
        profile.register(failsafe.timeout.register).writable
    )
    if settable:
        return FAILSAFE_TIMEOUT_S
    assert failsafe.timeout.default is not None
    return failsafe.timeout.default


WITH_FAILSAFE = [name for name in ALL_PROFILES if load_profile(name).failsafe.trigger != "none"]
WITHOUT_FAILSAFE = [name for name in ALL_PROFILES if name not in WITH_FAILSAFE]


@pytest.mark.parametrize("name", WITH_FAILSAFE)
async def test_keep_alive_holds_the_box_and_a_missed_one_falls_back(
    name: str, emulated: Emulated, clock: FakeClock
) -> None:
    async with emulated(name) as (emulator, client):
        await client.configure_failsafe(FAILSAFE_CURRENT_A, FAILSAFE_TIMEOUT_S)
        assert await client.write_limit(16.0) == 16.0
        timeout_s = _box_timeout_s(name)
        interval = client.keep_alive_interval_s
        assert interval is not None
        assert interval <= timeout_s / 2

        # three timeouts' worth of keep-alives and nothing else: the box holds 16 A
        elapsed = 0.0
        while elapsed < 3 * timeout_s:
            elapsed += interval
            clock.advance(interval)
            await client.keep_alive()
            emulator.advance()
            assert not in_failsafe(emulator), f"fell back after {elapsed} s"
        assert emulator.box.applied_limit_a == 16.0

        # silence for longer than the timeout: the box falls back to its failsafe current
        clock.advance(timeout_s + 0.5)
        emulator.advance()
        assert in_failsafe(emulator)
        fallback_a = emulator.box.failsafe_current_a
        assert emulator.box.applied_limit_a == fallback_a
        reading = await client.read()
        if client.profile.readings.limit_a is not None:
            assert reading.limit_a == pytest.approx(fallback_a)

        # keep-alive and a new set-point bring it back
        await client.keep_alive()
        assert await client.write_limit(12.0) == 12.0
        emulator.advance()
        assert not in_failsafe(emulator)
        assert emulator.box.applied_limit_a == 12.0


@pytest.mark.parametrize("name", WITHOUT_FAILSAFE)
async def test_box_without_failsafe_never_falls_back(
    name: str, emulated: Emulated, clock: FakeClock
) -> None:
    async with emulated(name) as (emulator, client):
        result = await client.configure_failsafe(FAILSAFE_CURRENT_A, FAILSAFE_TIMEOUT_S)
        assert not result.settable
        assert "no failsafe" in result.reason
        await client.write_limit(16.0)
        clock.advance(3600)
        emulator.advance()
        assert emulator.box.applied_limit_a == 16.0


async def test_one_phase_car_and_unplugged(emulated: Emulated, clock: FakeClock) -> None:
    car = SimulatedCar(phases=1, delay_s=1.0)
    async with emulated("alfen-eve", car=car) as (emulator, client):
        await client.write_limit(16.0)
        clock.advance(SETTLE_S)
        reading = await client.read()
        assert reading.current_a == pytest.approx((15.8, 0.0, 0.0))
        assert reading.status == "C"
        assert reading.status_raw == "C2"
        emulator.box.unplug()
        reading = await client.read()
        assert reading.status == "A"
        assert reading.current_a == (0.0, 0.0, 0.0)


async def test_alfen_starts_at_its_safe_current_until_written(emulated: Emulated) -> None:
    # ALFEN-DOC §1.3.1: after a reboot the station runs at the safe current until written
    async with emulated("alfen-eve") as (emulator, client):
        reading = await client.read()
        assert reading.limit_a == emulator.box.failsafe_current_a
        await client.write_limit(20)
        assert (await client.read()).limit_a == 20.0


async def test_keep_alive_rewrites_the_last_setpoint(emulated: Emulated, clock: FakeClock) -> None:
    async with emulated("alfen-eve") as (emulator, client):
        await client.write_limit(0)  # paused is a set-point too
        clock.advance(50)
        await client.keep_alive()
        clock.advance(50)
        emulator.advance()
        assert not in_failsafe(emulator)
        assert emulator.box.applied_limit_a == 0.0


async def test_startup_writes_run_on_every_connect(emulated: Emulated) -> None:
    # Amperfied: standby off (258 = 4) after each (re)connect
    async with emulated("amperfied") as (emulator, client):
        await client.connect()
        assert emulator.register_value("standby") == 4.0
        await client.write_value("standby", 0)
        await client.close()
        await client.read()
        assert emulator.register_value("standby") == 4.0
