"""Issue 19 through the real service on loopback: a TCP meter, an emulated Alfen box that
switches phases, the core's decision, the link's sequence, the resume on one phase."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.meter.emulator import MeterServer
from tests.phases.boxes import THREE, fast_profile, with_switching
from tests.service.harness import Box, Site, served_boxes, service_running, write_site


async def test_a_full_house_on_two_phases_switches_the_car_to_the_third_and_it_charges(
    tmp_path: Path,
) -> None:
    car = SimulatedCar(plugged=False, delay_s=0.1, shortfall_a=0.2)
    box = Box("carport", str(fast_profile(tmp_path)), THREE, car=car)
    # 3x20A-gG, 19 A usable: L2 and L3 leave 2 A, L1 leaves 17 A
    house = (2.0, 17.0, 17.0)
    async with MeterServer() as meter, served_boxes([box]) as ports:
        site_file, log_path = write_site(tmp_path, meter.url, [box], ports)
        with_switching(site_file, one_phase_on="L1")
        async with service_running(site_file, log_path) as service:
            await meter.wait_for_client()
            site = Site(tmp_path, meter, {box.name: box}, service, log_path, [])
            emulator = site.box("carport")
            async with asyncio.timeout(10):  # no car: paused, three phases do not fit
                while emulator.box.applied_limit_a != 0:
                    await site.telegram(house)
                    await asyncio.sleep(0.5)
            emulator.box.plug_in()
            async with asyncio.timeout(20):
                while not (emulator.box.phase_count == 1 and emulator.box.draw_a() > 6):
                    await site.telegram(house)
                    await asyncio.sleep(0.5)
            currents = emulator.box.phase_currents_a()
            assert currents[1:] == (0.0, 0.0) and 6 <= currents[0] <= 17
            await site.telegram(house)
            await asyncio.sleep(0.3)
            decisions = site.decisions_for("carport")
            reasons = [d["reason"] for d in decisions]
            assert reasons.count("phase_switch_down") == 1, reasons
            last = decisions[-1]
            assert (last["phase_count"], last["phases"]) == (1, ["L1"])
            assert 0 < last["setpoint_a"] <= 17
            assert [drawn for _, _, drawn in emulator.box.phase_switches] == [0.0]
            assert site.records("phase_switch_done")
            # the house never went over on any phase: the meter's latest telegram
            assert all(c <= 19 for c in site.grid_currents(house))
