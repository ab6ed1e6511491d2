"""The expiring-profile failsafe against an emulated charge point that honours profile expiry:
the safe current as a profile at a low stack level, each limit above it valid for the failsafe
timeout and renewed by the keep-alive; when the renewals stop (the service died), the box falls
back to the safe profile. (On real boxes this is unverified: each profile says so.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call_result, enums

from loadbalancer.control.config import ChargerSpec
from loadbalancer.errors import ConfigError
from loadbalancer.ocpp.central import CentralSystem
from loadbalancer.ocpp.charger import OcppCharger
from loadbalancer.ocpp.emulator import EmulatedChargePoint
from loadbalancer.ocpp.profile import load_ocpp_profile
from loadbalancer.ocpp.site import OcppChargerConfig, OcppSite
from tests.ocpp.harness import profile_file

DEADMAN: dict[str, Any] = {
    "charging": {"stack_level": 1},
    "writes": {"min_interval_s": 0, "daily_budget": 100000},
    "failsafe": {"mechanism": "expiring_profile", "safe_stack_level": 0, "note": "test"},
}


async def test_the_box_falls_back_to_the_safe_profile_when_renewals_stop(tmp_path: Path) -> None:
    profile = load_ocpp_profile(str(tmp_path / profile_file(tmp_path, "deadman", **DEADMAN)))
    spec = ChargerSpec("carport", ("L1", "L2", "L3"), 16.0)
    charger = OcppCharger(
        OcppChargerConfig("carport", profile, "deadman", "CP1", spec), clock=time.monotonic
    )
    central = CentralSystem(OcppSite("127.0.0.1", 0, "none"), [charger])
    await central.start()
    box = EmulatedChargePoint("CP1")
    try:
        await box.connect(f"ws://127.0.0.1:{central.port}/ocpp")
        result = await charger.configure_failsafe(6.0, 1.0)
        assert result.settable and not result.verified  # unverified on hardware: said so
        # a renewal every 1/3 s is far past any write economy: said (on a site the timeout is
        # at least 5 s, and the profile's budget must allow 3 writes per timeout)
        assert "makes 259200 writes a day" in result.reason
        assert box.state.installed[0] == (6.0, None)  # the safe profile never expires
        assert await charger.write_limit(16.0) == 16.0
        assert box.state.limit_a == 16.0
        assert charger.keep_alive_interval_s == pytest.approx(1 / 3)
        for _ in range(6):  # 1.5 s of renewals: the limit holds past its first expiry
            await asyncio.sleep(0.25)
            await charger.keep_alive()
        assert box.state.limit_a == 16.0
        # the renewals stop (the service died): within the validity the box is at 6 A
        await asyncio.sleep(1.1)
        assert box.state.limit_a == 6.0
    finally:
        await box.close()
        await central.close()


def test_an_expiring_profile_needs_a_higher_stack_level(tmp_path: Path) -> None:
    flat: dict[str, Any] = {**DEADMAN, "charging": {"stack_level": 0}}
    with pytest.raises(ConfigError, match=r"failsafe\.safe_stack_level: an expiring profile needs"):
        load_ocpp_profile(str(tmp_path / profile_file(tmp_path, "flat", **flat)))


class _AnswersWhenCancelled:
    """A session whose call gives its answer when cancelled, as the ``ocpp`` library's
    ``asyncio.wait_for`` does before Python 3.12 when the cancel and the answer meet."""

    async def call(
        self, request: Any, suppress: bool = True, skip_schema_validation: bool = False
    ) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return call_result.SetChargingProfile(status=enums.ChargingProfileStatus.accepted)
        raise AssertionError("not cancelled")

    async def call_payload(self, action: str, payload: dict[str, Any]) -> Any:
        """The central system's call of OCPP JSON (``Session.call_payload``), the same way."""
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return {"status": "Accepted"}
        raise AssertionError("not cancelled")


async def test_a_cancel_the_library_swallows_still_ends_the_write(tmp_path: Path) -> None:
    profile = load_ocpp_profile("generic-ocpp")
    spec = ChargerSpec("carport", ("L1", "L2", "L3"), 16.0)
    charger = OcppCharger(
        OcppChargerConfig("carport", profile, "generic-ocpp", "CP1", spec), clock=time.monotonic
    )
    charger.session = _AnswersWhenCancelled()
    write = asyncio.create_task(charger.write_limit(16.0))
    await asyncio.sleep(0.01)
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
