"""``loadbalancer charger`` end to end: a real subprocess against emulated boxes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.profile import load_profile
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.resources import bundled_profile


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loadbalancer",
        "charger",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("name", ["alfen-eve", "vestel-evc04"])
async def test_json_reports_the_car_and_set_current_lands(name: str) -> None:
    car = SimulatedCar(phases=3, max_current_a=13.0, delay_s=0.0, shortfall_a=0.3)
    async with ChargerEmulator(load_profile(name), car=car) as emulator:
        emulator.box.write_setpoint(16.0)
        host_port = ["--host", "127.0.0.1", "--port", str(emulator.port)]
        code, out, err = await run_cli("--profile", name, *host_port, "--json")
        assert (code, err) == (0, "")
        record = json.loads(out)
        assert record["profile"] == name
        assert record["status"] == "C"
        assert record["status_raw"]
        assert len(record["current_a"]) == 3
        expected = emulator.box.phase_currents_a()
        assert record["current_a"] == pytest.approx(list(expected), abs=0.05)
        assert record["current_a"][0] == pytest.approx(12.7, abs=0.05)
        assert set(record["failsafe"]) == {"current_a", "timeout_s"}
        assert "phases" in record
        assert "limit_a" in record

        code, out, err = await run_cli("--profile", name, *host_port, "--set-current", "10")
        assert (code, err) == (0, "")
        assert emulator.box.setpoint_a == 10.0
        assert emulator.register_value("setpoint") == 10.0
        assert "written    10 A" in out
        assert "status     C" in out


async def test_missing_register_is_one_line_exit_1(tmp_path: Path) -> None:
    resource = bundled_profile("chargers", "alfen-eve")
    assert resource is not None
    moved = tmp_path / "alfen-moved.yaml"
    moved.write_text(
        resource.read_text(encoding="utf-8").replace(
            "status:             {address: 1201,", "status:             {address: 1300,"
        )
    )
    async with ChargerEmulator(load_profile("alfen-eve")) as emulator:
        code, out, err = await run_cli(
            "--profile", str(moved), "--host", "127.0.0.1", "--port", str(emulator.port)
        )
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert f"127.0.0.1:{emulator.port}" in err
    assert "status (holding 1300): Modbus exception 2 (illegal data address)" in err


async def test_refused_is_one_line_exit_1_with_prerequisites() -> None:
    emulator = ChargerEmulator(load_profile("keba-p40"))
    await emulator.start()
    port = emulator.port
    await emulator.stop()
    code, _out, err = await run_cli(
        "--profile", "keba-p40", "--host", "127.0.0.1", "--port", str(port)
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "connection refused" in err
    assert "Modbus TCP 'Enable'" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--profile", "no-such-box", "--host", "127.0.0.1"],
        ["--profile", "alfen-eve"],
        ["--profile", "alfen-eve", "--host", "127.0.0.1", "--port", "70000"],
        ["--profile", "alfen-eve", "--host", "127.0.0.1", "--set-current", "ten"],
    ],
)
async def test_bad_usage_is_one_line_exit_2(args: list[str]) -> None:
    code, _out, err = await run_cli(*args)
    assert code == 2
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("as_json", [False, True])
async def test_set_current_that_went_through_is_said_even_if_the_read_fails(
    as_json: bool,
) -> None:
    # issue 11, item 8: exit 1 and nothing on stdout after a write that went through
    async with ChargerEmulator(load_profile("vestel-evc04")) as emulator:
        emulator.faults.reject_reads = 4
        json_flag = ["--json"] if as_json else []
        code, out, err = await run_cli(
            "--profile", "vestel-evc04", "--host", "127.0.0.1", "--port", str(emulator.port),
            "--set-current", "10", *json_flag,
        )  # fmt: skip
        assert emulator.box.setpoint_a == 10.0
    assert code == 0
    if as_json:
        assert json.loads(out) == {"profile": "vestel-evc04", "written_a": 10.0}
    else:
        assert "written    10 A" in out
    assert err.count("\n") == 1
    assert "10 A was written; reading the box back failed" in err
    assert "Modbus exception 4" in err
    assert "check on the box" not in err  # a failing box, not a missing licence
