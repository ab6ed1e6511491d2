"""The real service with OCPP charge points over real WebSockets on loopback (fast timers:
1 s telegrams, stale after 3 s, 0.2 s polls)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.ocpp.emulator import EmulatedChargePoint, Quirks
from tests.ocpp.harness import PASSWORD, OcppSite, Point, fast, ocpp_site, point
from tests.service.harness import Box


async def test_boots_and_its_limit_is_written_and_follows(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        # the first MeterValues (asked for at connection) make it online; the core's limit goes
        # out as a TxDefaultProfile in amperes
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        connector, profile = box.state.profiles[-1]
        assert connector == 1
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        assert profile["charging_schedule"]["charging_rate_unit"] == "A"
        assert [r["charger"] for r in site.records("ocpp_connected")] == ["carport"]
        assert site.records("ocpp_boot")[0]["vendor"] == "Test"
        assert box.state.settings["MeterValuesSampledData"] == "Current.Import,Current.Offered"
        assert site.records("charger_online")
        # OCPP 1.6 has no failsafe: said in the log
        (unverified,) = site.records("failsafe_unverified")
        assert "no failsafe" in unverified["reason"]


def decisions_for(site: OcppSite, name: str) -> list[dict[str, Any]]:
    return [next(c for c in r["chargers"] if c["name"] == name) for r in site.records("decision")]


async def test_an_overload_is_cut_at_once_even_inside_the_minimum_interval(
    tmp_path: Path,
) -> None:
    # an hour between writes (Easee's budget): the raise to 16 A waits, the cut does not
    slow = fast(tmp_path, writes={"min_interval_s": 3600})
    carport = point("carport", slow)
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("ocpp_write_deferred")), 10)
        first = box.state.limit_a
        assert first is not None and first < 16.0  # the raise is held back
        (held,) = site.records("ocpp_write_deferred")
        assert held["setpoint_a"] == 16.0 and "minimum interval" in held["reason"]
        writes = len(box.state.profiles)
        # 30 A of house on L1, far beyond the fuse: paused at once (the second telegram)
        await site.ticks((30.0, 2.0, 2.0), lambda: box.state.limit_a == 0.0, 3)
        assert len(box.state.profiles) == writes + 1
        assert decisions_for(site, "carport")[-1]["setpoint_a"] == 0.0


async def test_a_dropped_connection_is_offline_at_once_and_the_limit_reasserted_on_return(
    tmp_path: Path,
) -> None:
    carport = point("carport", fast(tmp_path), quirks=Quirks(boot_on_reconnect=False))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        await box.disconnect()
        took = await site.until(lambda: bool(site.records("charger_offline")), 2)
        assert took < 1.0
        offline = site.records("charger_offline")[-1]
        assert "dropped" in offline["error"] or "not connected" in offline["error"]
        await site.telegram((2.0, 2.0, 2.0))
        await site.until(
            lambda: decisions_for(site, "carport")[-1]["reason"] == "charger_offline_reserved"
        )
        # the box lost its profile meanwhile (as go-e 56.2 did): on its return (no
        # BootNotification) the limit goes out again
        box.state.limit_a = None
        writes = len(box.state.profiles)
        await box.connect(site.url)
        await site.ticks((2.0, 2.0, 2.0), lambda: len(box.state.profiles) > writes, 5)
        assert _limit(box.state.profiles[-1][1]) <= 16.0  # a limit again, not "unlimited"
        assert len(site.records("ocpp_boot")) == 1
        assert len(site.records("charger_online")) == 2


async def test_the_stop_sends_the_safe_limit_to_the_charge_point(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        service = site.service
    # the site's service was stopped on the way out: the safe current went to the box first
    assert box.state.limit_a == 6.0
    (shutdown,) = [r for r in site.records("shutdown")]
    assert shutdown["chargers"] == {"carport": 6.0}
    assert service.central is not None and service.central.server is not None


async def test_a_wrong_password_and_an_unknown_id_are_refused(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport], connect=False) as site:
        thief = EmulatedChargePoint("CP-carport", password=b"not-the-password-x")
        with pytest.raises(InvalidStatus) as wrong:
            await thief.connect(site.url)
        assert wrong.value.response.status_code == 401
        stranger = EmulatedChargePoint("CP-other", password=PASSWORD)
        with pytest.raises(InvalidStatus) as unknown:
            await stranger.connect(site.url)
        assert unknown.value.response.status_code == 404
        for _ in range(20):  # no Authorization at all, again and again: logged once
            nobody = EmulatedChargePoint("CP-carport")
            with pytest.raises(InvalidStatus):
                await nobody.connect(site.url)
        reasons = [(r["charge_point_id"], r["reason"]) for r in site.records("ocpp_refused")]
        assert reasons == [
            ("CP-carport", "wrong or missing Basic auth"),
            ("CP-other", "unknown charge point id"),
        ]
        assert not site.records("ocpp_connected")
        # the right password gets in
        await carport.box.connect(site.url)
        await site.until(lambda: bool(site.records("ocpp_connected")))


async def test_the_daily_write_budget_holds_raises_and_never_cuts(tmp_path: Path) -> None:
    # 5 writes a day: raises may use 4 of them (the rest is kept for cuts)
    tight = fast(tmp_path, writes={"daily_budget": 5})
    carport = point("carport", tight)
    async with ocpp_site(tmp_path, [carport], ramp_up_delay_s=0.2, resume_delay_s=0.2) as site:
        box = carport.box

        def held() -> bool:
            return any("kept for cuts" in r["reason"] for r in site.records("ocpp_write_deferred"))

        for _ in range(4):  # the oven on and off: a cut to 7 A, a raise to 16 A
            await site.ticks((12.0, 2.0, 2.0), lambda: box.state.limit_a == 7.0, 5)
            await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0 or held(), 5)
            if held():
                break
        assert held()
        (record,) = site.records("ocpp_write_deferred")
        assert record["setpoint_a"] == 16.0 and record["in_force_a"] == 7.0
        assert len(box.state.profiles) == record["writes_24h"] == 4
        assert box.state.limit_a == 7.0  # the raise waits: the box stays low
        # far beyond the fuse: the cuts go out at once (the minimum, then the pause), from the
        # share kept for cuts and past the budget if they must
        await site.ticks((30.0, 2.0, 2.0), lambda: box.state.limit_a == 0.0, 3)
        cuts = [_limit(p) for _, p in box.state.profiles[4:]]
        assert cuts[-1] == 0.0 and all(a > b for a, b in zip([7.0, *cuts], cuts, strict=False))


def _limit(profile: dict[str, Any]) -> float:
    return float(profile["charging_schedule"]["charging_schedule_period"][0]["limit"])


async def test_two_connectors_of_one_box_are_two_chargers(tmp_path: Path) -> None:
    duo = EmulatedChargePoint("CP-duo", password=PASSWORD, car=SimulatedCar(phases=1))
    second = duo.add_connector(2, SimulatedCar(phases=1, shortfall_a=0.2))
    profile = fast(tmp_path)
    left = Point("left", profile, ["L1"], duo, connector=1)
    right = Point("right", profile, ["L2"], duo, connector=2)
    async with ocpp_site(tmp_path, [left, right]) as site:
        await site.ticks(
            (2.0, 2.0, 2.0),
            lambda: duo.state.limit_a == 16.0 and second.state.limit_a == 16.0,
            10,
        )
        # one connection, two chargers: each connector got its own profile
        assert {c for c, _ in duo.state.profiles} == {1}
        assert {c for c, _ in second.state.profiles} == {2}
        # the oven on L2 (the right outlet's phase): only the right one is cut
        await site.ticks((2.0, 12.0, 2.0), lambda: (second.state.limit_a or 32.0) < 16.0, 3)
        assert duo.state.limit_a == 16.0
        online = {r["charger"] for r in site.records("charger_online")}
        assert online == {"left", "right"}
        # the box's own meter (connector 0, the sum of both) is not either outlet's draw
        reads = [site.service.links[i].read for i in (0, 1)]
        stamp = "2026-01-14T18:00:00Z"
        whole = [{"value": "40.0", "measurand": "Current.Import", "phase": "L1"}]
        assert duo.session is not None
        await duo.session.call(
            call.MeterValues(
                connector_id=0, meter_value=[{"timestamp": stamp, "sampled_value": whole}]
            )
        )
        await asyncio.sleep(0.3)
        for i in (0, 1):
            read, before = site.service.links[i].read, reads[i]
            assert read is not None and before is not None
            assert read.measured_a == before.measured_a
        # the box drops: both chargers are offline at once
        await duo.disconnect()
        await site.until(lambda: len(site.records("charger_offline")) >= 4, 2)


async def test_a_mixed_site_shares_the_fuse_between_modbus_and_ocpp(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    garage = Box("garage", "alfen-eve", ["L1", "L2", "L3"])
    async with ocpp_site(tmp_path, [carport], modbus=[garage]) as site:
        box = carport.box
        assert garage.emulator is not None
        modbus = garage.emulator.box
        await site.ticks((2.0, 2.0, 2.0), lambda: len(site.records("charger_online")) == 2, 5)
        # 2 A of house: the two cars share the 17 A left on each phase
        await site.ticks((2.0, 2.0, 2.0), lambda: len(site.records("decision")) > 5, 5)
        for decision in site.records("decision")[3:]:
            assert sum(c["setpoint_a"] for c in decision["chargers"]) <= 17.0 + 1e-6
        # the oven on L1 (12 A): both are held at their minimum, the OCPP box as the Modbus one
        await site.ticks(
            (12.0, 2.0, 2.0), lambda: box.state.limit_a == 6.0 and modbus.setpoint_a == 6.0, 5
        )
        last = site.records("decision")[-1]["chargers"]
        assert {c["name"]: c["setpoint_a"] for c in last} == {"carport": 6.0, "garage": 6.0}


async def test_currents_older_than_the_last_cut_count_at_no_more_than_that_limit(
    tmp_path: Path,
) -> None:
    """A charge point reports its currents only now and then (MeterValues; Easee every 30 s).
    Set against a telegram after the car followed a cut, the last MeterValues still show the
    car's old current and the house looks smaller by the difference: a load that comes then
    must still get its cut, before the box reports again."""
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        for _ in range(3):
            await box.send_meter_values()
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.2)
        # the oven on L1: cut to 7 A; the box's last MeterValues (16 A) came before the cut
        await site.telegram((12.0, 2.0, 2.0))
        await site.until(lambda: box.state.limit_a == 7.0, 2.0)
        await asyncio.sleep(0.3)
        # no MeterValues from here on; a kettle beside the oven leaves nothing of the 19 A
        await site.telegram((20.0, 2.0, 2.0))
        await site.until(lambda: box.state.limit_a is not None and box.state.limit_a < 7.0, 2.0)
        assert site.records("decision")[-1]["house_a"]["L1"] >= 19.5
