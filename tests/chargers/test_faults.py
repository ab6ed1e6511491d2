"""Network faults: refused, timeouts, exception replies, a silent box, a box that hangs up."""

from __future__ import annotations

import asyncio
import time

import pytest

from loadbalancer.chargers.profile import ChargerProfile, load_profile, parse_profile
from loadbalancer.errors import (
    ChargerError,
    ChargerExceptionReply,
    ChargerTimeout,
    ChargerUnreachable,
)
from loadbalancer.resources import bundled_profile
from tests.chargers.conftest import Emulated, FakeClock

QUICK_TIMEOUT_S = 0.3


def alfen_with_status_at(address: int) -> ChargerProfile:
    """The Alfen profile, but its status register moved where the box has nothing."""
    resource = bundled_profile("chargers", "alfen-eve")
    assert resource is not None
    text = resource.read_text(encoding="utf-8").replace(
        "status:             {address: 1201,", f"status:             {{address: {address},"
    )
    return parse_profile(text, "alfen-moved.yaml")


async def test_refused_names_the_box_and_the_prerequisites(
    emulated: Emulated, clock: FakeClock
) -> None:
    async with emulated("alfen-eve") as (emulator, client):
        await emulator.set_refusing(True)
        with pytest.raises(ChargerUnreachable) as caught:
            await client.read()
        message = str(caught.value)
        assert message.startswith(f"charger 127.0.0.1:{emulator.port} unit 1: connection refused")
        assert "Active Load Balancing licence" in message

        # back-off: the next call within the delay does not even try
        with pytest.raises(ChargerUnreachable, match=r"next attempt in 1\.0 s"):
            await client.read()
        await emulator.set_refusing(False)
        with pytest.raises(ChargerUnreachable, match="next attempt in"):
            await client.read()
        clock.advance(1.5)
        assert (await client.read()).status is not None


async def test_backoff_doubles(emulated: Emulated, clock: FakeClock) -> None:
    async with emulated("vestel-evc04") as (emulator, client):
        await emulator.set_refusing(True)
        delays = []
        for _ in range(4):
            with pytest.raises(ChargerUnreachable):
                await client.connect()
            with pytest.raises(ChargerUnreachable, match="next attempt in") as caught:
                await client.connect()
            delays.append(float(str(caught.value).split("next attempt in ")[1].split(" s")[0]))
            clock.advance(delays[-1])
        assert delays == [1.0, 2.0, 4.0, 8.0]


async def test_silent_box_times_out_and_names_the_register(
    emulated: Emulated, clock: FakeClock
) -> None:
    async with emulated("em2go", request_timeout_s=QUICK_TIMEOUT_S) as (emulator, client):
        await client.connect()
        emulator.faults.silent = True
        started = time.monotonic()
        with pytest.raises(ChargerTimeout) as caught:
            await client.write_limit(10)
        assert time.monotonic() - started < QUICK_TIMEOUT_S + 0.5
        assert "no answer to writing setpoint (holding 91) within 0.3 s" in str(caught.value)
        assert isinstance(caught.value, TimeoutError)
        assert not client.connected  # dropped; the next call opens a new connection
        emulator.faults.silent = False
        # ... after a back-off (issue 11, item 7), without the prerequisites (item 8)
        with pytest.raises(ChargerUnreachable) as waiting:
            await client.write_limit(10)
        assert "next attempt in 1.0 s" in str(waiting.value)
        assert "check on the box" not in str(waiting.value)
        clock.advance(1.5)
        assert await client.write_limit(10) == 10.0
        assert emulator.box.setpoint_a == 10.0


async def test_exception_reply_names_register_and_code(emulated: Emulated) -> None:
    moved = alfen_with_status_at(1300)
    async with emulated("alfen-eve", client_profile=moved) as (_emulator, client):
        with pytest.raises(ChargerExceptionReply) as caught:
            await client.read()
        error = caught.value
        assert error.exception_code == 2
        assert error.meaning == "illegal data address"
        assert "reading status (holding 1300): Modbus exception 2 (illegal data address)" in str(
            error
        )
        assert client.connected  # an exception reply is an answer: the connection stays


async def test_box_refusing_writes_gives_the_prerequisites(emulated: Emulated) -> None:
    async with emulated("keba-p30") as (emulator, client):
        emulator.faults.reject_writes = 1
        with pytest.raises(ChargerExceptionReply) as caught:
            await client.write_limit(10)
        message = str(caught.value)
        assert "writing setpoint (holding 5004): Modbus exception 1 (illegal function)" in message
        assert "DIP switch DSW1.3 ON" in message


async def test_box_closing_on_unknown_register(emulated: Emulated, clock: FakeClock) -> None:
    moved = alfen_with_status_at(1300)
    async with emulated("alfen-eve", client_profile=moved, request_timeout_s=2.0) as (
        emulator,
        client,
    ):
        emulator.faults.close_on_unknown = True
        started = time.monotonic()
        with pytest.raises(ChargerUnreachable) as caught:
            await client.read()
        assert time.monotonic() - started < 1.0  # noticed at once, not by the timeout
        assert "connection closed by the charger (reading status (holding 1300))" in str(
            caught.value
        )
        assert not client.connected
        clock.advance(1.5)  # after the back-off (issue 11, item 7)
        await client.write_limit(9)  # other registers still work on a new connection
        assert emulator.box.setpoint_a == 9.0


async def test_write_function_code_and_block_reads_are_enforced(emulated: Emulated) -> None:
    # a client that believes KEBA reads blocks and takes FC16 is told otherwise, as by the box
    keba = load_profile("keba-p30")
    resource = bundled_profile("chargers", "keba-p30")
    assert resource is not None
    text = resource.read_text(encoding="utf-8")
    blocks = parse_profile(
        text.replace("single_register_reads: true", "single_register_reads: false").replace(
            "max_block_registers: 2", "max_block_registers: 125"
        ),
        "keba-blocks.yaml",
    )
    fc16 = parse_profile(
        text.replace("unit: A, access: w}  # 6000-63000 mA", "unit: A, access: w, write_fc: 16}"),
        "keba-fc16.yaml",
    )
    async with emulated(keba, client_profile=blocks) as (_emulator, client):
        with pytest.raises(ChargerExceptionReply, match="Modbus exception 3"):
            await client.read()
    async with emulated(keba, client_profile=fc16) as (_emulator, client):
        with pytest.raises(ChargerExceptionReply, match="Modbus exception 1"):
            await client.write_limit(10)


async def test_car_ignoring_the_setpoint_shows_in_the_readings(
    emulated: Emulated, clock: FakeClock
) -> None:
    async with emulated("vestel-evc04") as (emulator, client):
        emulator.box.ignore_setpoint = True
        await client.write_limit(10)
        clock.advance(3)
        reading = await client.read()
        assert reading.limit_a == 10.0
        assert all(value is not None and value > 10.0 for value in reading.current_a)


async def test_wrong_port_is_refused_not_a_traceback() -> None:
    from loadbalancer.chargers.driver import ChargerClient

    client = ChargerClient(load_profile("generic"), "127.0.0.1", 1, connect_timeout_s=1.0)
    with pytest.raises(ChargerError, match="connection refused"):
        await client.read()


async def test_refused_startup_write_is_retried_after_backoff(
    emulated: Emulated, clock: FakeClock
) -> None:
    async with emulated("amperfied") as (emulator, client):
        emulator.faults.reject_writes = 4
        with pytest.raises(ChargerExceptionReply, match=r"writing standby \(holding 258\)"):
            await client.connect()
        assert not client.connected
        with pytest.raises(ChargerUnreachable, match="start-up write refused"):
            await client.read()
        emulator.faults.reject_writes = None
        clock.advance(1.5)
        await client.read()
        assert emulator.register_value("standby") == 4.0


async def test_cancelled_request_leaves_no_request_behind(emulated: Emulated) -> None:
    async with emulated("generic", request_timeout_s=5.0) as (emulator, client):
        await client.connect()
        emulator.faults.silent = True
        reading = asyncio.create_task(client.read())
        await asyncio.sleep(0.1)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert not client.connected
        emulator.faults.silent = False
        assert (await client.read()).status is not None
