"""The Modbus TCP transport on its own (chargers/modbus.py), against an emulated box on
loopback: words in and out, one request at a time, its start-up step, its back-off. What the
words mean is the device's (chargers/driver.py), tested through ChargerClient elsewhere."""

from __future__ import annotations

import asyncio

import pytest

from loadbalancer.backoff import Backoff
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.modbus import ModbusConnection
from loadbalancer.chargers.profile import load_profile
from loadbalancer.chargers.readplan import plan_reads
from loadbalancer.errors import ChargerUnreachable
from tests.chargers.conftest import REQUEST_TIMEOUT_S, FakeClock


async def test_words_go_out_and_come_back_on_one_connection(clock: FakeClock) -> None:
    profile = load_profile("alfen-eve")
    opened: list[bool] = []

    async def on_open() -> None:
        opened.append(True)

    async with ChargerEmulator(profile, clock=clock) as emulator:
        modbus = ModbusConnection(
            "127.0.0.1",
            emulator.port,
            profile.transport.unit_id,
            profile.transport,
            request_timeout_s=REQUEST_TIMEOUT_S,
            clock=clock,
            sleep=clock.sleep,
            on_open=on_open,
        )
        setpoint = profile.register(profile.setpoint.register)
        words = setpoint.codec.encode(10.0)
        async with modbus.session():
            await modbus.write_words(setpoint, words)
            (block,) = plan_reads([setpoint], profile.transport)
            assert tuple(await modbus.read_block(block)) == words
        assert emulator.box.setpoint_a == 10.0

        # two sessions at once: one request at a time, on the one connection opened once
        async def read_once() -> list[int]:
            async with modbus.session():
                return await modbus.read_block(block)

        assert list(await asyncio.gather(read_once(), read_once())) == [list(words)] * 2
        assert opened == [True] and modbus.connected
        await modbus.close()
        assert not modbus.connected


async def test_a_refused_connection_waits_out_its_back_off(clock: FakeClock) -> None:
    profile = load_profile("vestel-evc04")
    async with ChargerEmulator(profile, clock=clock) as emulator:
        await emulator.set_refusing(True)
        modbus = ModbusConnection(
            "127.0.0.1",
            emulator.port,
            1,
            profile.transport,
            clock=clock,
            backoff=Backoff(2.0, 5.0),
            refused_hint="enable Modbus TCP",
        )
        with pytest.raises(ChargerUnreachable, match="enable Modbus TCP"):
            async with modbus.session():
                pass
        with pytest.raises(ChargerUnreachable, match=r"next attempt in 2\.0 s"):
            async with modbus.session():
                pass
        clock.advance(2.0)
        await emulator.set_refusing(False)
        async with modbus.session():
            assert modbus.connected
        await modbus.close()
