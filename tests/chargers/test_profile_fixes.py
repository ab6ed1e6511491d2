"""Profiles checked against vendor documents and peers (issue 11, items 12-16), each served by
the emulator over Modbus TCP on 127.0.0.1."""

from __future__ import annotations

import itertools

import pytest

from loadbalancer.chargers.profile import load_profile, parse_profile
from loadbalancer.errors import ChargerExceptionReply
from loadbalancer.resources import bundled_profile
from tests.chargers.conftest import Emulated, FakeClock


def bundled_text(name: str) -> str:
    resource = bundled_profile("chargers", name)
    assert resource is not None
    return resource.read_text(encoding="utf-8")


async def test_webasto_next_reads_holding_registers(emulated: Emulated) -> None:
    # item 12: the vendor's table has status and currents as holding registers (function 3)
    profile = load_profile("webasto-next")
    readings = profile.readings
    names = [*readings.current_a, readings.status.main.register, readings.max_current_a]
    assert {profile.register(str(name)).table for name in names} == {"holding"}
    async with emulated(profile) as (_emulator, client):
        await client.write_limit(10)
        assert (await client.read()).limit_a is None  # 5004 cannot be read back
    # the emulated box answers only the vendor's table: the old input-register reads fail
    text = bundled_text("webasto-next").replace(
        "charge_point_state: {address: 1000, ", "charge_point_state: {address: 1000, table: input, "
    )
    old = parse_profile(text, "webasto-next-input.yaml")
    async with emulated(profile, client_profile=old) as (_emulator, client):
        with pytest.raises(ChargerExceptionReply, match="Modbus exception 2"):
            await client.read()


async def test_keba_p40_writes_one_register_every_five_seconds(
    emulated: Emulated, clock: FakeClock
) -> None:
    # item 13: "writing interval 5 s"; start-up wrote failsafe current, timeout and limit at once
    async with emulated("keba-p40") as (emulator, client):
        result = await client.configure_failsafe(6.0, 60.0)
        assert result.verified
        await client.write_limit(10)
        await client.keep_alive()
        times = [at for at, _name in emulator.write_log]
        assert [name for _at, name in emulator.write_log] == [
            "failsafe_current",
            "failsafe_timeout",
            "setpoint",
            "failsafe_timeout",
        ]
        assert all(b - a >= 5.0 for a, b in itertools.pairwise(times))
        # reads keep their own (shorter) pace
        before = clock()
        await client.read()
        assert clock() - before < 5.0


async def test_abb_terra_ac_sets_and_verifies_its_communication_timeout(
    emulated: Emulated,
) -> None:
    # item 14: set 0x4106, read back 0x4020; the keep-alive writes it again
    profile = load_profile("abb-terra-ac")
    assert profile.register("comm_timeout").address == 0x4106
    assert profile.register("comm_timeout_read").address == 0x4020
    async with emulated(profile) as (emulator, client):
        result = await client.configure_failsafe(6.0, 60.0)
        assert result.settings.timeout_s == 60.0
        assert emulator.box.timeout_s == 60.0
        assert not result.verified  # the fallback current cannot be set: said, not hidden
        assert "fallback current" in result.reason
        assert client.keep_alive_interval_s == 30.0
        emulator.write_log.clear()
        await client.keep_alive()
        assert [name for _at, name in emulator.write_log] == ["comm_timeout"]


def test_schneider_evlink_says_why_degraded_setpoints_are_not_used() -> None:
    # item 15: checked; the header says why they are not used (no address in our sources)
    header = bundled_text("schneider-evlink").split("\nname:")[0]
    assert "Degraded (fallback) set-points" in header
    assert "NOT used" in header


async def test_em2go_pauses_and_resumes_with_the_charge_command(emulated: Emulated) -> None:
    # item 16: register 95, 1 start and 2 stop, not a 0 A limit
    async with emulated("em2go") as (emulator, client):
        await client.write_limit(10)
        assert emulator.register_value("charge_command") == 1.0
        emulator.write_log.clear()
        assert await client.write_limit(0) == 0.0
        assert [name for _at, name in emulator.write_log] == ["charge_command"]
        assert emulator.register_value("charge_command") == 2.0
        assert emulator.box.setpoint_a == 10.0  # the limit itself is left alone
        assert emulator.box.applied_limit_a == 0.0
        await client.write_limit(8)
        assert emulator.register_value("charge_command") == 1.0
        assert emulator.box.applied_limit_a == 8.0
