"""Issue 19 on OCPP boxes: the shell's switching sequence through ``numberPhases``, by a real
charger link and the real central system, against an emulated charge point on loopback
WebSockets. The assertions are on the frames the box received and on what its car drew when a
profile changed its phase count."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.ocpp.emulator import Quirks
from loadbalancer.ocpp.phases import PhaseChangeRefused
from tests.ocpp.harness import ocpp_site, point
from tests.ocpp.phase_rig import Rig, drawing_car, rigged, switching_profile


def switch_to(count: int) -> ChargerDecision:
    """The core's switch decision: paused, to ``count`` phases."""
    reason = Reason.PHASE_SWITCH_DOWN if count == 1 else Reason.PHASE_SWITCH_UP
    return ChargerDecision("carport", 0.0, reason, 10.0, (), ("L1",), phase_count=count)


def running(setpoint_a: float, count: int = 3) -> ChargerDecision:
    return ChargerDecision(
        "carport", setpoint_a, Reason.START, None, (), ("L1",), phase_count=count
    )


async def charging(rig: Rig, setpoint_a: float = 10.0, count: int = 3) -> None:
    """Online, then the car charging at ``setpoint_a`` on ``count`` phases."""
    await rig.link.poll_once()
    rig.link.decided(running(setpoint_a, count))
    await rig.link.write_once()
    await rig.report()


async def test_an_ocpp_box_switches_down_and_up_only_with_its_car_stopped(tmp_path: Path) -> None:
    async with rigged(tmp_path) as rig:
        link, box = rig.link, rig.box
        await charging(rig)
        assert box.phase_currents_a() == (9.8, 9.8, 9.8)
        assert link.phase is not None and link.phase.box_count == 3
        assert link.decided(switch_to(1)) is True
        await link.write_once()  # 0 A, MeterValues asked until it stopped, numberPhases 1
        assert box.state.phase_changes == [(3, 1, 0.0)]
        # the frames: the limit (3), the pause (3), then the 0-A profile with numberPhases 1
        assert rig.sent_counts == [3, 3, 1] and box.state.limit_a == 0.0
        assert box.meter_values_asked >= 1
        started = rig.records("phase_switch_started")
        assert started and (started[0]["from_count"], started[0]["to_count"]) == (3, 1)
        assert rig.records("phase_switch_done")[0]["phase_count"] == 1
        read = link.booked_read(None)
        assert read is not None and (read.phase_count, read.phase_switch_failed) == (1, False)
        # it resumes on one phase: every later limit keeps numberPhases 1
        link.decided(running(8.0, count=1))
        await link.write_once()
        await rig.report()
        assert box.phase_currents_a() == (7.8, 0.0, 0.0) and rig.sent_counts[-1] == 1
        assert not rig.records("phase_switch_failed")
        # and back up: paused again, numberPhases 3 only once the car drew nothing
        link.decided(switch_to(3))
        await link.write_once()
        assert box.state.phase_changes == [(3, 1, 0.0), (1, 3, 0.0)]
        assert rig.sent_counts[-3:] == [1, 1, 3]
        link.decided(running(8.0))
        await link.write_once()
        assert box.phase_currents_a() == (7.8, 7.8, 7.8)


async def test_a_box_that_rejects_the_profile_ends_switching_for_the_session(
    tmp_path: Path,
) -> None:
    async with rigged(tmp_path, quirks=Quirks(reject_number_phases=True)) as rig:
        await charging(rig)
        rig.link.decided(switch_to(1))
        await rig.link.write_once()
        failed = rig.records("phase_switch_failed")
        assert failed and "Rejected" in failed[0]["error"] and failed[0]["to_count"] == 1
        assert rig.box.state.phase_changes == [] and not rig.records("phase_switch_done")
        read = rig.link.booked_read(None)
        assert read is not None and (read.phase_count, read.phase_switch_failed) == (3, True)
        assert rig.link.phase is not None and not rig.link.phase.due()  # not tried again
        # the limits that follow keep the count the box has
        rig.link.decided(running(8.0))
        await rig.link.write_once()
        assert rig.sent_counts[-1] == 3 and rig.box.phase_currents_a() == (7.8, 7.8, 7.8)


async def test_a_box_that_accepts_and_keeps_its_phases_is_reported_once_the_car_draws(
    tmp_path: Path,
) -> None:
    async with rigged(tmp_path, quirks=Quirks(ignore_number_phases=True)) as rig:
        link = rig.link
        await charging(rig)
        link.decided(switch_to(1))
        await link.write_once()
        assert rig.records("phase_switch_done")  # accepted: it looks switched while at 0 A
        link.decided(running(8.0, count=1))
        await link.write_once()
        await rig.report()  # the car draws on three phases: the box kept them
        failed = rig.records("phase_switch_failed")
        assert failed and "kept" in failed[0]["error"] and "3 phases" in failed[0]["error"]
        read = link.booked_read(None)
        assert read is not None and (read.phase_count, read.phase_switch_failed) == (3, True)


async def test_a_car_that_does_not_resume_is_reported_and_switching_ends(tmp_path: Path) -> None:
    async with rigged(tmp_path, drawing_car(resumes=False)) as rig:
        link = rig.link
        await charging(rig)
        link.decided(switch_to(1))
        await link.write_once()
        assert rig.box.state.phase_changes == [(3, 1, 0.0)]
        link.decided(running(8.0, count=1))
        await link.write_once()  # offered again: the car has 1 s (the test profile's) to draw
        await asyncio.sleep(0.5)
        await rig.report()
        assert not rig.records("phase_switch_no_resume")
        await asyncio.sleep(0.7)
        await rig.report()
        report = rig.records("phase_switch_no_resume")
        assert report and report[0]["phase_count"] == 1 and report[0]["waited_s"] == 1
        read = link.booked_read(None)
        assert read is not None and read.phase_switch_failed


async def test_a_car_that_keeps_drawing_gets_no_phase_change(tmp_path: Path) -> None:
    """The box accepts 0 A and does not apply it: the car draws on; no numberPhases 1 goes."""
    async with rigged(tmp_path, quirks=Quirks(accept_but_ignore=True)) as rig:
        await rig.link.poll_once()
        rig.link.decided(switch_to(1))
        await rig.link.write_once()
        assert "still draws" in rig.records("phase_switch_failed")[0]["error"]
        assert 1 not in rig.sent_counts and rig.box.state.phase_changes == []


async def test_the_charger_refuses_a_phase_change_under_load_or_unseen(tmp_path: Path) -> None:
    """The write path's own guard, past the sequence: not at a limit above 0 A, not before a
    MeterValues taken after the 0 A, and never while that one shows current."""
    async with rigged(tmp_path) as rig:
        charger, box = rig.charger, rig.box
        await charging(rig)
        with pytest.raises(PhaseChangeRefused, match="only at 0 A"):
            await charger.write_phases(1)
        await charger.write_limit(0.0)  # paused; the car stops, its MeterValues not sent yet
        with pytest.raises(PhaseChangeRefused, match="no MeterValues since 0 A"):
            await charger.write_phases(1)
        box.car.max_current_a, box.quirks.accept_but_ignore = 16.0, True
        box.state.limit_a = 16.0  # a box that still offers current: the car draws on
        await asyncio.sleep(0.15)  # past the central system's flood guard (0.1 s)
        await box.send_meter_values()
        assert charger.currents_a == [15.8, 15.8, 15.8]
        with pytest.raises(PhaseChangeRefused, match="draws"):
            await charger.write_phases(1)
        assert 1 not in rig.sent_counts and box.state.phase_changes == []


async def test_a_restarted_service_keeps_the_count_of_a_box_charging_on_one_phase(
    tmp_path: Path,
) -> None:
    """The box still holds numberPhases 1 from before and its car draws on L1: the first
    limits of a service that does not know it say 1, never 3 under load."""
    async with rigged(tmp_path, box_count=1) as rig:
        await charging(rig, 10.0, count=1)  # the core books it where the box says: one
        assert rig.sent_counts == [1] and rig.box.state.phase_changes == []
        assert rig.link.phase is not None and rig.link.phase.box_count == 1
        assert rig.box.phase_currents_a() == (9.8, 0.0, 0.0)


async def test_a_box_whose_key_says_it_cannot_switch_is_not_switched(tmp_path: Path) -> None:
    profile = switching_profile(tmp_path, key="ACPhaseSwitchingSupported")
    async with rigged(tmp_path, profile=profile) as rig:
        rig.box.state.settings["ACPhaseSwitchingSupported"] = "false"
        await rig.link.poll_once()  # online: the key is read
        failed = rig.records("phase_switch_failed")
        assert failed and "ACPhaseSwitchingSupported reads 'false'" in failed[0]["error"]
        rig.link.decided(switch_to(1))
        await rig.link.write_once()
        assert 1 not in rig.sent_counts and not rig.records("phase_switch_started")


async def test_the_service_switches_an_ocpp_box_down_when_two_phases_fill_and_back_up(
    tmp_path: Path,
) -> None:
    """The whole loop: the meter over TCP, the core's decisions, the link's sequence, the
    central system and the box on loopback WebSockets."""
    car = drawing_car()
    car.plugged = False
    charger = point("carport", switching_profile(tmp_path), car=car)
    charger.box.state.status = "Available"
    charger.site_keys = {"phase_switching": "auto", "phase_switch_up_after_s": 1}
    # 3x20A-gG, 19 A usable: L2 and L3 leave 2 A (three phases do not fit 6 A), L1 leaves 17 A
    full = (2.0, 17.0, 17.0)
    async with ocpp_site(tmp_path, [charger], ramp_up_delay_s=1, resume_delay_s=1) as site:
        box = site.box("carport")
        await site.ticks(full, lambda: box.state.limit_a == 0, 10)  # no car yet: paused
        car.plugged = True
        await box.send_status("Charging")
        await site.ticks(full, lambda: box.state.phase_count == 1 and box.offered_a >= 6, 15)
        assert box.state.phase_changes == [(3, 1, 0.0)]
        await site.ticks(full, lambda: box.phase_currents_a()[0] >= 6, 5)
        assert box.phase_currents_a()[1:] == (0.0, 0.0)
        # the heater stops: after three phases fitted for 1 s, back up
        await site.ticks((2.0, 2.0, 2.0), lambda: box.phase_currents_a()[2] >= 6, 15)
        assert box.state.phase_changes == [(3, 1, 0.0), (1, 3, 0.0)]
        reasons = [c["reason"] for r in site.records("decision") for c in r["chargers"]]
        assert "phase_switch_down" in reasons and "phase_switch_up" in reasons
        assert len(site.records("phase_switch_done")) == 2
        assert not site.records("phase_switch_failed")


@settings(max_examples=4, deadline=None, derandomize=True, database=None)
@given(
    drawing_a=st.sampled_from((0.0, 6.0, 16.0)),
    target=st.sampled_from((1, 3)),
    fault=st.sampled_from(("", "accept_but_ignore", "reject_number_phases")),
)
def test_no_number_phases_change_ever_reaches_a_box_whose_car_draws(
    drawing_a: float, target: int, fault: str
) -> None:
    """Whatever the car drew, the box's phases and its faults, each change of the count the
    box received came while its car drew nothing, and a switch is done or reported."""

    async def scenario(tmp: Path) -> None:
        quirks = Quirks()
        if fault:
            setattr(quirks, fault, True)
        async with rigged(tmp, quirks=quirks, box_count=3 if target == 1 else 1) as rig:
            await charging(rig, drawing_a, count=4 - target)
            rig.link.decided(switch_to(target))
            await rig.link.write_once()
            assert all(drawn == 0.0 for _, _, drawn in rig.box.state.phase_changes)
            done = bool(rig.records("phase_switch_done"))
            assert done == (rig.box.state.phase_count == target)
            assert done or rig.records("phase_switch_failed")

    with tempfile.TemporaryDirectory() as where:
        asyncio.run(scenario(Path(where)))


async def test_a_box_that_lost_its_one_phase_profile_is_not_switched_back_by_a_limit(
    tmp_path: Path,
) -> None:
    """Switched to one phase, the box restarts without its profile and charges on three: the
    limits that follow say three (the count it charges on), never one under load."""
    async with rigged(tmp_path) as rig:
        link, box = rig.link, rig.box
        await charging(rig)
        link.decided(switch_to(1))
        await link.write_once()
        link.decided(running(8.0, count=1))
        await link.write_once()
        assert rig.sent_counts[-1] == 1 and box.state.phase_changes == [(3, 1, 0.0)]
        box.state.limit_a, box.state.phase_count = None, 3  # lost: unlimited on three phases
        await asyncio.sleep(0.15)  # past the central system's flood guard
        await rig.report()
        assert "kept" in rig.records("phase_switch_failed")[0]["error"]
        link.decided(running(9.0, count=3))  # the core counts it on three again
        await link.write_once()
        assert rig.sent_counts[-1] == 3 and box.state.phase_changes == [(3, 1, 0.0)]
        assert box.phase_currents_a() == (8.8, 8.8, 8.8)
