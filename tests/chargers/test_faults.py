"""Network faults: refused, timeouts, exception replies, a silent box, a box that hangs up."""

from __future__ import annotations

import asyncio
import json
import math
import struct
import time

import pytest

from loadbalancer.chargers.profile import ChargerProfile, load_profile, parse_profile
from loadbalancer.control.plausibility import implausible_current
from loadbalancer.errors import (
    ChargerError,
    ChargerExceptionReply,
    ChargerTimeout,
    ChargerUnreachable,
    ChargerWrongAnswer,
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


# ---- issue 11: a box that misbehaves on command ---------------------------------------------


def _packed(fmt: str, value: float | int) -> tuple[int, ...]:
    data = struct.pack(fmt, value)
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


#: per data type, what a lying box can put in a current register: every non-finite float,
#: absurd floats, the all-ones sentinels, and the largest integers (valid, but not a current)
LIES: dict[str, list[tuple[int, ...]]] = {
    "float32": [
        _packed(">f", v) for v in (math.nan, math.inf, -math.inf, 3e38, -3e38, 1e10, 5000.0)
    ],
    "float64": [_packed(">d", v) for v in (math.nan, math.inf, -math.inf, 1e300, 5000.0)],
    "uint16": [(0xFFFF,), (0xFFFE,)],
    "int16": [(0x8000,), (0x7FFF,), (0x8001,)],
    "uint32": [(0xFFFF, 0xFFFF), (0xFFFF, 0xFFFE)],
    "int32": [(0x8000, 0x0000), (0x7FFF, 0xFFFF), (0x8000, 0x0001)],
}


def generic_with_currents(data_type: str) -> ChargerProfile:
    resource = bundled_profile("chargers", "generic")
    assert resource is not None
    text = resource.read_text(encoding="utf-8")
    scale = "" if data_type.startswith("float") else ", scale: 0.1"
    for phase, address in ((1, 130), (2, 134), (3, 138)):
        text = text.replace(
            f"current_l{phase}:       {{address: {100 + phase}, table: input, type: uint16, "
            "scale: 0.1, unit: A}",
            f"current_l{phase}: {{address: {address}, table: input, type: {data_type}{scale}, "
            "unit: A}",
        )
    return parse_profile(text, f"generic-{data_type}.yaml")


@pytest.mark.parametrize("data_type", sorted(LIES))
async def test_lies_in_every_numeric_type_never_read_as_a_current(
    emulated: Emulated, data_type: str
) -> None:
    profile = generic_with_currents(data_type)
    async with emulated(profile) as (emulator, client):
        honest = await client.read()
        assert implausible_current(honest.current_a, 16.0) is None
        for words in LIES[data_type]:
            emulator.faults.words["current_l2"] = words
            reading = await client.read()
            # not available (NaN, inf, sentinel: None), or a number the gate refuses
            assert implausible_current(reading.current_a, 16.0) is not None, words
            assert reading.current_a[1] is None or abs(reading.current_a[1]) > 32, words
            record = reading.to_record(profile.name)
            assert json.loads(json.dumps(record, allow_nan=False)) == record


@pytest.mark.parametrize("fault", ["wrong_unit", "wrong_transaction"])
async def test_an_answer_to_another_request_is_named_as_such(
    emulated: Emulated, clock: FakeClock, fault: str
) -> None:
    async with emulated("alfen-eve") as (emulator, client):
        await client.connect()
        setattr(emulator.faults, fault, True)
        with pytest.raises(ChargerWrongAnswer) as caught:
            await client.read()
        field = "unit" if fault == "wrong_unit" else "transaction"
        assert f"answered with {field} id" in str(caught.value)
        assert "no answer" not in str(caught.value)
        with pytest.raises(ChargerUnreachable, match=r"next attempt in 1\.0 s"):
            await client.read()  # backed off like any failure
        setattr(emulator.faults, fault, False)
        clock.advance(1.5)
        assert (await client.read()).status is not None


@pytest.mark.parametrize(
    ("reads", "code", "hinted"),
    [(False, 1, True), (False, 2, True), (False, 4, False), (False, 6, False), (True, 2, False)],
)
async def test_prerequisites_only_for_illegal_function_or_address_on_a_write(
    emulated: Emulated, reads: bool, code: int, hinted: bool
) -> None:
    async with emulated("keba-p30") as (emulator, client):
        await client.connect()
        if reads:
            emulator.faults.reject_reads = code
        else:
            emulator.faults.reject_writes = code
        with pytest.raises(ChargerExceptionReply) as caught:
            await (client.read() if reads else client.write_limit(10))
        assert caught.value.exception_code == code
        assert ("DIP switch DSW1.3 ON" in str(caught.value)) is hinted
        assert client.connected  # an answer: no back-off, no reconnect


async def test_backoff_grows_on_every_failed_request(emulated: Emulated, clock: FakeClock) -> None:
    # a box that accepts the connection and then times out got a new connection each poll
    async with emulated("vestel-evc04", request_timeout_s=QUICK_TIMEOUT_S) as (emulator, client):
        await client.connect()
        emulator.faults.silent = True
        delays = []
        for _ in range(3):
            with pytest.raises(ChargerTimeout):
                await client.read()
            with pytest.raises(ChargerUnreachable, match="next attempt in") as caught:
                await client.read()
            delays.append(float(str(caught.value).split("next attempt in ")[1].split(" s")[0]))
            clock.advance(delays[-1])
        assert delays == [1.0, 2.0, 4.0]
        emulator.faults.silent = False
        assert (await client.read()).status is not None
        emulator.faults.close_always = True
        clock.advance(1.0)
        with pytest.raises(ChargerUnreachable, match="closed by the charger"):
            await client.read()
        with pytest.raises(ChargerUnreachable, match=r"next attempt in 1\.0 s"):
            await client.read()  # an answer in between reset the back-off


async def test_late_replies_time_out_and_back_off(emulated: Emulated) -> None:
    async with emulated("alfen-eve", request_timeout_s=QUICK_TIMEOUT_S) as (emulator, client):
        await client.connect()
        emulator.faults.delay_s = QUICK_TIMEOUT_S + 0.3
        with pytest.raises(ChargerTimeout):
            await client.read()
        with pytest.raises(ChargerUnreachable, match="next attempt in"):
            await client.read()


async def test_acknowledged_but_ignored_writes_show_in_the_read_back(emulated: Emulated) -> None:
    async with emulated("alfen-eve") as (emulator, client):
        await client.write_limit(16)
        emulator.faults.ignore_writes = True
        assert await client.write_limit(8) == 8.0  # acknowledged
        reading = await client.read()
        assert reading.limit_a == 16.0
