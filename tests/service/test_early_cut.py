"""A cut never waits for the fresh reads of other boxes (issue 20).

A telegram's decision waits for the boxes read again for it (:mod:`loadbalancer.fresh_reads`:
their latest reads may predate their cars' following the last set-point). A box slow to answer
held every cut of that telegram back by its read; now the cuts the core makes even on the
lowest house those boxes allow go out at once, and the exact decision follows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from loadbalancer import fresh_reads
from tests.service.harness import Box, running_site

THREE = ["L1", "L2", "L3"]


async def test_a_cut_goes_out_before_a_slow_boxs_fresh_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the decision would wait 2.5 s for the slow box's read, which takes 1.2 s
    monkeypatch.setattr(fresh_reads, "FRESH_READ_WAIT_S", 2.5)
    boxes = [Box("fast", "alfen-eve", THREE), Box("slow", "alfen-eve", THREE)]
    async with running_site(tmp_path, boxes, poll_interval_s=30) as site:
        # the first telegram ends the start's fallback: 17 A of 19 A for two cars, 8.5 A each
        while site.setpoint("fast") != 8.5 or site.setpoint("slow") != 8.5:
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.2)
        site.box("slow").faults.delay_s = 1.2
        # within 3 s of that write the boxes' reads predate it: they are read again
        await site.telegram((7.0, 2.0, 2.0))  # an oven on L1: 12 A left for two cars
        sent_s = time.monotonic()
        await site.until(lambda: site.setpoint("fast") < 8.5, 2.0)
        assert time.monotonic() - sent_s < 0.6
        assert "slow" in site.service.fresh.awaiting  # its read is not back yet
        early = site.records("early_cut")[-1]
        assert "slow" in early["awaiting"] and early["chargers"]["fast"] < 8.5
        # counted at its 8.5 A limit, the slow box leaves a house of 6.6 A: 6.2 A each; then
        # the exact decision, on its read, 6 A each
        assert early["chargers"]["fast"] == pytest.approx(6.2, abs=0.05)
        await site.until(lambda: site.setpoint("fast") == 6.0, 4.0)
        exact = site.records("decision")[-1]
        assert exact["mono_s"] > early["mono_s"]
        # the telegram's own decision comes after the early cut, and raises nothing above it
        for charger in exact["chargers"]:
            assert charger["setpoint_a"] <= early["chargers"][charger["name"]]
