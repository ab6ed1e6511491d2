"""MeterValues come every so many seconds: between two, the link reads the same currents again.
Those currents were measured before a new limit was written, so they say nothing about whether
the car obeys it (the compliance watch), and only a fresh MeterValues can (after a raise the
box is asked for one where its profile says it can be)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loadbalancer.ocpp.emulator import Quirks
from tests.ocpp.harness import OcppSite, fast, ocpp_site, point


async def telegrams(site: OcppSite, house_a: tuple[float, float, float], seconds: float) -> None:
    """Telegrams every 0.2 s and no MeterValues."""
    for _ in range(round(seconds / 0.2)):
        await site.telegram(house_a)
        await asyncio.sleep(0.2)


async def test_old_meter_values_after_a_cut_are_no_ignored_limit(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path))
    async with ocpp_site(tmp_path, [carport], response_time_s=1) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        await box.send_meter_values()  # 15.8 A, measured at 16 A
        # the house takes 12 A on L1: cut; the box reports nothing for 2.4 s (its interval),
        # while the link reads its last MeterValues (15.8 A, from before the cut) every 0.2 s
        await site.ticks((12.0, 2.0, 2.0), lambda: (box.state.limit_a or 32.0) < 16.0, 3)
        await telegrams(site, (12.0, 2.0, 2.0), 2.4)
        assert site.records("setpoint_ignored") == []
        await box.send_meter_values()  # the car followed
        await telegrams(site, (12.0, 2.0, 2.0), 1.6)
        assert site.records("setpoint_ignored") == []


async def test_fresh_meter_values_over_the_limit_are_still_an_ignored_limit(
    tmp_path: Path,
) -> None:
    # the box says Accepted and applies nothing: its car draws 31.8 A in every MeterValues
    carport = point("carport", fast(tmp_path), quirks=Quirks(accept_but_ignore=True))
    async with ocpp_site(tmp_path, [carport], response_time_s=1) as site:
        await site.ticks((2.0, 2.0, 2.0), lambda: bool(site.records("setpoint_ignored")), 8)
        assert site.records("setpoint_ignored")[0]["measured_a"][0] > 30


@pytest.mark.parametrize("trigger", [True, False])
async def test_after_a_raise_the_box_is_asked_for_meter_values(
    tmp_path: Path, trigger: bool
) -> None:
    # the emulated box applies a limit at once and its car follows at once
    meter = {"trigger": True, "trigger_after_s": 0} if trigger else {"trigger": False}
    carport = point("carport", fast(tmp_path, meter_values=meter))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        # cut by a load on L1, then raised again when it goes
        await site.ticks((12.0, 2.0, 2.0), lambda: (box.state.limit_a or 32.0) < 16.0, 5)
        asked = box.meter_values_asked
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        # no MeterValues of its own for 1.2 s: the one it was asked for shows the car at 16 A,
        # and the telegrams (with the car at 16 A) are no reason for a cut
        await telegrams(site, (2.0, 2.0, 2.0), 1.2)
        (link,) = site.service.links
        if not trigger:  # a box the profile says cannot be asked is not
            assert box.meter_values_asked == asked
            return
        # asked after the raise (and by each telegram while its car may still be following)
        assert box.meter_values_asked >= asked + 1
        assert link.read is not None and link.read.measured_a == (15.8, 15.8, 15.8)
        assert box.state.limit_a == 16.0


async def test_a_telegram_books_a_reporting_box_at_once(tmp_path: Path) -> None:
    """Reading an OCPP box that cannot be asked for MeterValues again gives its last ones: a
    telegram's decision does not wait for a poll of it (one that can be asked is, and the
    decision waits for them: tests/service/test_late_cut.py)."""
    carport = point("carport", fast(tmp_path, meter_values={"trigger": False}))
    async with ocpp_site(tmp_path, [carport]) as site:
        await site.ticks((2.0, 2.0, 2.0), lambda: carport.box.state.limit_a == 16.0, 10)
        (link,) = site.service.links
        await carport.box.send_meter_values()
        await site.until(lambda: link.read is not None and link.read.measured_a[0] == 15.8)
        booked: list[tuple[float, ...]] = []
        link.read_again_for(booked.append)
        assert booked == [(15.8, 15.8, 15.8)]
