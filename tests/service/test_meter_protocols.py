"""The service reads the meter with ``site.meter.protocol``: HDLC frames over loopback, auto
detection, and lists without currents that must not blind the control."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loadbalancer.config import site_from_data
from loadbalancer.errors import ConfigError
from loadbalancer.meter.dlms import DlmsParser
from loadbalancer.meter.emulator import PhaseLoad, aidon_frame
from loadbalancer.meter.parsers import AutoParser
from loadbalancer.meter.smarty import SmartyParser
from loadbalancer.service import Service
from tests.meter.hexfixtures import SMARTY_KEY, hex_fixture
from tests.service.harness import Box, running_site

THREE = ["L1", "L2", "L3"]
T0 = datetime(2026, 1, 14, 18, 0, 0)


def site(**meter: object) -> dict[str, object]:
    return {
        "meter": {"source": "tcp://127.0.0.1:2000", **meter},
        "fuse": "3x20A-gG",
        "chargers": [
            {
                "name": "carport",
                "profile": "alfen-eve",
                "host": "127.0.0.1",
                "phases": THREE,
                "max_current_a": 16,
            }
        ],
    }


@pytest.mark.parametrize(
    ("protocol", "parser"), [("auto", AutoParser), ("p1", SmartyParser), ("dlms", DlmsParser)]
)
def test_the_service_builds_the_parser_of_its_protocol(protocol: str, parser: type) -> None:
    config = site_from_data(site(protocol=protocol, key=SMARTY_KEY), "site.yaml")
    assert config.meter.options.key == bytes.fromhex(SMARTY_KEY)
    assert SMARTY_KEY not in repr(config.meter)
    assert isinstance(Service(config, status=lambda _m: None).intake.parser, parser)


@pytest.mark.parametrize(
    ("meter", "message"),
    [
        ({"key": "abc"}, "site.yaml: meter.key: the key must be 32 hex digits"),
        ({"key": 1234}, "site.yaml: meter.key: write the key in quotes"),
        (
            {"key": SMARTY_KEY, "source": f"tcp://127.0.0.1:2000?key={SMARTY_KEY}"},
            "site.yaml: meter.key: the key is also in meter.source",
        ),
        (
            {"source": f"tcp://127.0.0.1:2000?key={SMARTY_KEY}&crc=no"},
            "site.yaml: meter.source: source 'tcp://127.0.0.1:2000?key=***&crc=no': crc='no'",
        ),
    ],
)
def test_meter_key_and_options_are_validated(meter: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        site_from_data(site(**meter), "site.yaml")
    assert str(info.value).startswith(message), str(info.value)
    assert SMARTY_KEY not in str(info.value)


def test_summary_hides_the_key() -> None:
    config = site_from_data(site(source=f"tcp://127.0.0.1:2000?key={SMARTY_KEY}"), "site.yaml")
    summary = config.summary()
    assert "key=***" in summary and "with its key" in summary and SMARTY_KEY not in summary


@pytest.mark.parametrize("protocol", ["dlms", "auto"])
async def test_hdlc_meter_drives_the_control(tmp_path: Path, protocol: str) -> None:
    boxes = [Box("carport", "alfen-eve", THREE)]
    async with running_site(tmp_path, boxes, protocol=protocol) as s:
        loads = (PhaseLoad(12.0), PhaseLoad(-2.0), PhaseLoad(2.0))
        for i in range(3):
            when = T0 + timedelta(seconds=i)
            await s.meter.send(aidon_frame(when, loads, energy_import_kwh=100.0 + i))
            await asyncio.sleep(0.2)
        await s.until(lambda: s.service.intake.valid_telegrams >= 3)
        assert s.service.intake.meter is not None
        assert s.service.intake.meter.current_a == (12.0, -2.0, 2.0)
        # a list without currents (Kaifa list 1) counts as valid but keeps the last currents
        await s.meter.send(hex_fixture("no_kaifa_hdlc_02.hex"))
        await s.until(lambda: s.service.intake.valid_telegrams >= 4)
        assert s.service.intake.meter.current_a == (12.0, -2.0, 2.0)
        await s.until(lambda: any(d["meter_a"]["L1"] == 12.0 for d in s.records("decision")))
