"""The house is the meter minus what the chargers measure, and the two must be of the same
moment. A charger read taken before its last lowered set-point still shows the car's old
current; set against a telegram that came after the car followed the new one, it understates
the house by the difference, and a load that came with that telegram went without its cut
until the next poll and the next telegram (found by benchmarks/reaction.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.service.harness import Box, Site, running_site

THREE = ["L1", "L2", "L3"]


async def settle(site: Site, house: tuple[float, float, float], target: float) -> None:
    async def loop() -> None:
        while site.setpoint("carport") != target:
            await site.telegram(house)
            await asyncio.sleep(0.3)

    await asyncio.wait_for(loop(), 15)


async def test_a_read_older_than_the_last_cut_does_not_hide_the_next_load(tmp_path: Path) -> None:
    # polls far apart: between a write and the reads after it, only the telegram can ask
    async with running_site(
        tmp_path, [Box("carport", "alfen-eve", THREE)], poll_interval_s=30
    ) as site:
        await settle(site, (2.0, 2.0, 2.0), 16.0)
        for _ in range(12):  # the reads after that write are done: the box reads 16 A
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.5)
        assert site.setpoint("carport") == 16.0
        # the oven on L1: 12 A of house leaves 7 A for the car
        await site.telegram((12.0, 2.0, 2.0))
        await site.until(lambda: site.setpoint("carport") == 7.0, 2.0)
        await asyncio.sleep(0.3)  # the car follows in 0.1 s; no read of the box since
        # a kettle beside the oven: 20 A of house on L1 leaves nothing of the 19 A target
        await site.telegram((20.0, 2.0, 2.0))
        await site.until(lambda: site.setpoint("carport") < 7.0, 1.0)
        last = site.records("decision")[-1]
        assert last["house_a"]["L1"] >= 19.5  # the house as it was: 20 A, not 11 A


async def test_a_read_older_than_the_last_raise_does_not_cut_for_nothing(tmp_path: Path) -> None:
    # the other way round: the box's read still shows the car's old, lower current while the
    # telegram has the raised one; set against each other, the house looks bigger than it is
    async with running_site(
        tmp_path, [Box("carport", "alfen-eve", THREE)], poll_interval_s=30
    ) as site:
        await settle(site, (12.0, 2.0, 2.0), 7.0)
        for _ in range(12):  # the reads after that write are done: the box reads 7 A
            await site.telegram((12.0, 2.0, 2.0))
            await asyncio.sleep(0.5)
        # the oven goes off: after the ramp-up delay, up to 16 A in one step
        await settle(site, (2.0, 2.0, 2.0), 16.0)
        raised = len(site.records("decision"))
        for _ in range(6):  # the car follows in 0.1 s; the next telegrams have its 16 A
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.3)
        after = [d["chargers"][0] for d in site.records("decision")[raised:]]
        assert after, "no decision after the raise"
        assert [c["setpoint_a"] for c in after] == [16.0] * len(after)
        assert site.records("decision")[-1]["house_a"]["L1"] <= 2.5


async def test_a_box_too_slow_to_be_read_again_counts_at_no_more_than_its_limit(
    tmp_path: Path,
) -> None:
    async with running_site(
        tmp_path,
        [Box("carport", "alfen-eve", THREE)],
        poll_interval_s=30,
        service_options={"request_timeout_s": 5.0},
    ) as site:
        await settle(site, (2.0, 2.0, 2.0), 16.0)
        for _ in range(12):
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.5)
        await site.telegram((12.0, 2.0, 2.0))
        await site.until(lambda: site.setpoint("carport") == 7.0, 2.0)
        await asyncio.sleep(0.3)
        site.box("carport").faults.delay_s = 2.0  # every answer from now on takes 2 s
        await site.telegram((20.0, 2.0, 2.0))

        def cut_decided() -> bool:
            last = site.records("decision")[-1]["chargers"][0]
            return bool(last["setpoint_a"] < 7.0)

        # decided when the wait for the read is over (0.5 s), not when the read comes (2 s):
        # the car counted at its written 7 A, the house at 20 A
        await site.until(cut_decided, 1.5)
        assert site.records("decision")[-1]["house_a"]["L1"] >= 19.5
