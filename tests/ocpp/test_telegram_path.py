"""A telegram's path to the cut of an OCPP box that cannot be asked for MeterValues (its
profile says ``trigger: false``): its read is its last report, booked at once, so the telegram's
own decision comes at once; no early cut (a second decision on the cut's path, see
loadbalancer/fresh_reads.py) goes before it, even within a car's response time after a write,
when a Modbus box would be read again (and a box that can be asked, asked) first."""

from __future__ import annotations

from pathlib import Path

from tests.ocpp.harness import fast, ocpp_site, point


async def test_a_cut_of_a_reporting_box_after_a_write_is_one_decision(tmp_path: Path) -> None:
    carport = point("carport", fast(tmp_path, meter_values={"trigger": False}))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        (link,) = site.service.links
        await box.send_meter_values()  # after the write: the car at its 16 A
        await site.until(lambda: link.read is not None and link.read.measured_a[0] == 15.8)
        assert link.following()  # within the car's response time after the write
        decisions, written = len(site.records("decision")), len(box.state.profiles)
        # the house takes 12 A on L1: 27.8 A on a 20 A fuse
        await site.telegram((12.0, 2.0, 2.0))
        await site.until(lambda: (box.state.limit_a or 32.0) < 16.0)
        await site.until(lambda: len(site.records("decision")) > decisions)
        assert site.records("early_cut") == []
        telegram = site.records("decision")[decisions]
        assert telegram["trigger"] == "telegram"
        assert telegram["chargers"][0]["setpoint_a"] == box.state.limit_a
        assert len(box.state.profiles) == written + 1
