"""A flood of corrupt telegrams on the meter port: the decision log grows by one record per
reason per minute, not one per telegram (it was 10-12.7 MB/s under a flood)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from loadbalancer.meter.emulator import PhaseLoad, swedish_telegram
from tests.service.harness import Box, running_site

THREE = ["L1", "L2", "L3"]
T0 = datetime(2026, 1, 14, 18, 0, 0)


def corrupt(i: int) -> bytes:
    """A telegram with one digit changed after its CRC was computed: a bad CRC."""
    load = PhaseLoad(3.0)
    good = swedish_telegram(T0 + timedelta(seconds=i), (load, load, load), energy_import_kwh=100)
    at = good.index(b"1-0:1.8.0(") + len(b"1-0:1.8.0(")
    return good[:at] + (b"9" if good[at : at + 1] != b"9" else b"8") + good[at + 1 :]


async def test_a_minute_of_rejections_is_one_record_per_reason(tmp_path: Path) -> None:
    async with running_site(tmp_path, [Box("carport", "alfen-eve", THREE)]) as site:
        await site.telegram((2.0, 2.0, 2.0))
        await site.until(lambda: bool(site.records("decision")), 5.0)
        sent = 0
        # 50 corrupt telegrams in 3 s (a meter sends one a second), within the flood budget
        # (meter/flood.py): a faster source is a flood, dropped before the parser
        for burst in range(10):
            await site.meter.send(b"".join(corrupt(burst * 5 + i) for i in range(5)))
            sent += 5
            await asyncio.sleep(0.3)
        await site.until(lambda: site.service.intake.rejected_telegrams == sent, 5.0)
        # no record yet: the minute is not over (50 records, ~10 KB, before)
        assert not site.records("meter_rejected")
    # the shutdown writes the open window: one record, with the count
    (record,) = site.records("meter_rejected")
    assert record["count"] == sent and record["reason"].startswith("bad CRC")
    assert record["header"] and record["size_bytes"] > 0
    assert record["first"] < record["last"]
    lines = site.log_path.read_text().splitlines()
    assert sum(len(line) for line in lines if '"meter_rejected"' in line) < 1000
    assert site.records("shutdown")[0]["rejected_telegrams"] == sent
