"""``loadbalancer ocpp-probe`` against an emulated charge point on loopback."""

from __future__ import annotations

import asyncio
import io

import pytest
from websockets.exceptions import InvalidStatus

from loadbalancer.ocpp.emulator import EmulatedChargePoint
from loadbalancer.ocpp.probe import print_result, probe
from loadbalancer.ocpp.profile import load_ocpp_profile


async def probe_text(
    box: EmulatedChargePoint, password: bytes | None = None, profile: str = "easee"
) -> str:
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        probe(
            "127.0.0.1",
            0,
            profile=load_ocpp_profile(profile),
            password=password,
            timeout_s=5,
            listening=port.set_result,
        )
    )
    try:
        await box.connect(f"ws://127.0.0.1:{await port}/ocpp")
        result = await asyncio.wait_for(task, 10)
    finally:
        await box.close()
    out = io.StringIO()
    print_result(result, out, as_json=False)
    return out.getvalue()


async def test_the_probe_prints_boot_keys_measurands_and_what_the_profile_sets() -> None:
    box = EmulatedChargePoint("EASEE-1")
    box.state.settings.update({"MeterValuesSampledData": "Voltage", "NumberOfConnectors": "1"})
    text = await probe_text(box)
    assert "charge point 'EASEE-1' from 127.0.0.1" in text
    assert "boot: vendor Test, model Emu" in text
    assert "  NumberOfConnectors = 1" in text
    assert "measurands taken: Current.Import, Current.Offered, Voltage" in text
    assert "  MeterValueSampleInterval = 30" in text  # Easee's
    assert "purpose TxDefaultProfile" in text and "daily_budget 25" in text
    assert "failsafe: none" in text
    assert box.state.settings["MeterValuesSampledData"] == "Voltage"  # put back
    assert box.state.profiles == []  # no limit written


async def test_the_probe_checks_the_password() -> None:
    with pytest.raises(InvalidStatus):
        await probe_text(EmulatedChargePoint("X", password=b"wrong-password-123"), b"a" * 20)
