"""Vendor quirks and faults of OCPP charge points, against the real service: a profile
accepted but not applied, a refused TxDefaultProfile, "L1-N" labels without Current.Offered,
a vendor offline setting, a CALL that is never answered, a malformed frame, an oversized one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.ocpp.emulator import Quirks
from tests.ocpp.harness import fast, ocpp_site, point, profile_file


async def test_accepted_but_not_applied_is_the_links_not_applied_episode(tmp_path: Path) -> None:
    trusting = fast(tmp_path, meter_values={"current_offered": True})
    carport = point("carport", trusting, quirks=Quirks(accept_but_ignore=True))
    async with ocpp_site(tmp_path, [carport]) as site:
        # the box says Accepted and goes on offering 32 A (no profile in force)
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("setpoint_not_applied")), 8)
        (episode,) = site.records("setpoint_not_applied")
        assert episode["limit_a"] == 32.0
        assert episode["setpoint_a"] < 32.0
        # booked at the 32 A it offers, the car's draw leaves the fuse no room: paused
        decision = site.records("decision")[-1]["chargers"][0]
        assert decision["setpoint_a"] == 0.0
        rewrites = [p for _, p in carport.box.state.profiles]
        assert len(rewrites) >= 2  # written again (the link's rewrite)


@pytest.mark.parametrize(
    ("quirks", "answer"),
    [
        (Quirks(reject_tx_default=True), "SetChargingProfile: Rejected"),
        (Quirks(profile_callerror=True), "SetChargingProfile: CALLERROR InternalError"),
        # our own SetChargingProfile goes out unchecked, so its answer is read as untrusted
        (Quirks(profile_odd_answer=True), "SetChargingProfile: malformed answer"),
    ],
)
async def test_a_refused_profile_is_a_refused_write(
    tmp_path: Path, quirks: Quirks, answer: str
) -> None:
    carport = point("carport", fast(tmp_path), quirks=quirks)
    async with ocpp_site(tmp_path, [carport]) as site:
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("write_refused")), 5)
        (refused,) = site.records("write_refused")
        assert refused["exception_code"] == 0
        assert answer in refused["error"]
        assert not site.records("charger_offline")[1:]  # it answers: online, not offline


async def test_zaptec_labels_and_no_current_offered(tmp_path: Path) -> None:
    quirks = Quirks(phase_labels=("L1-N", "L2-N", "L3-N"), no_offered=True)
    carport = point("carport", "zaptec", quirks=quirks)
    async with ocpp_site(tmp_path, [carport]) as site:
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("charger_online")), 5)
        (online,) = site.records("charger_online")
        assert online["measured_a"] == [31.8, 31.8, 31.8]  # read under the L1-N labels
        # the meter interval the profile asks for (Zaptec's default is 0: off)
        assert carport.box.state.settings["MeterValueSampleInterval"] == "10"


async def test_a_vendor_offline_setting_is_written_and_read_back(tmp_path: Path) -> None:
    carport = point("carport", "charge-amps")
    async with ocpp_site(tmp_path, [carport]) as site:
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("failsafe_unverified")), 5)
        assert carport.box.state.settings["InstallationOfflineCurrent"] == "1.6"
        (unverified,) = site.records("failsafe_unverified")
        assert unverified["current_a"] == 6.0
        assert "written and read back" in unverified["reason"]


async def test_a_vendor_setting_known_to_work_is_a_configured_failsafe(tmp_path: Path) -> None:
    known = profile_file(
        tmp_path, "known", base="charge-amps", failsafe={"semantics_verified": True}
    )
    carport = point("carport", known)
    async with ocpp_site(tmp_path, [carport]) as site:
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("failsafe_configured")), 5)
        assert site.records("failsafe_configured")[0]["current_a"] == 6.0
        assert not site.records("failsafe_unverified")


async def test_a_call_never_answered_makes_the_charger_offline(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path), quirks=Quirks(profile_delay_s=30))
    async with ocpp_site(tmp_path, [carport], ocpp_timeout_s=0.5) as site:
        # (the box's own loop is blocked too: only the meter ticks)
        await site.telegram((2.0, 2.0, 2.0))
        await site.until(lambda: bool(site.records("write_failed")), 3)
        failed = site.records("write_failed")[0]
        assert "no answer to SetChargingProfile within 0.5 s" in failed["error"]
        assert site.records("charger_offline")[1]["error"] == failed["error"]
        # it answers nothing: offline for a growing pause (1 s, 2 s, ...), not flapping
        for _ in range(10):
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.25)
        assert len(site.records("write_failed")) <= 2
        decision = site.records("decision")[-1]["chargers"][0]
        assert decision["reason"] == "charger_offline_reserved"


async def test_a_malformed_frame_and_an_oversized_one(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        connection = box.connection()
        await connection.send('[2,"x","MeterValues",{"connectorId":"one"}')  # not JSON
        await connection.send('[2,"y","MeterValues",{"connectorId":"one"}]')  # bad payload
        sent = box.meter_values_sent
        await site.ticks((2.0, 2.0, 2.0), lambda: box.meter_values_sent > sent + 2, 3)
        assert not site.records("ocpp_disconnected")  # still connected, still read
        await connection.send("[" + " " * 70_000 + "]")  # above the 64 kB frame limit
        await site.until(lambda: bool(site.records("ocpp_disconnected")), 3)
        assert "1009" in site.records("ocpp_disconnected")[0]["reason"]
        await site.until(lambda: bool(site.records("charger_offline")[1:]), 3)


async def test_a_flood_of_meter_values_does_not_hold_back_a_cut(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        stop = asyncio.Event()

        async def flood() -> None:
            while not stop.is_set():
                await box.send_meter_values()

        flooding = asyncio.create_task(flood())
        try:
            await asyncio.sleep(0.3)
            start = box.meter_values_sent
            # far beyond the fuse on L1: the cut still comes with the telegrams
            took = await _cut_within(site, box)
            assert took < 2.0
            assert box.meter_values_sent - start > 50  # it really flooded
            charger = site.service.central.chargers["CP-carport/1"]  # type: ignore[union-attr]
            assert charger.meter_dropped > 0
        finally:
            stop.set()
            await flooding


async def _cut_within(site: Any, box: Any) -> float:
    start = asyncio.get_running_loop().time()
    while box.state.limit_a != 0.0:
        await site.telegram((30.0, 2.0, 2.0))
        await asyncio.sleep(0.2)
        assert asyncio.get_running_loop().time() - start < 5
    return asyncio.get_running_loop().time() - start
