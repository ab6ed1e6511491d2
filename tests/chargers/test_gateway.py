"""Boxes behind one Modbus TCP gateway (issue 20): one host and port, one unit id each. A cut to
all of them goes out concurrently, with at most ``GATEWAY_IN_FLIGHT`` requests in flight to the
gateway at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml

from loadbalancer.charger_open import GATEWAY_IN_FLIGHT, gateway_gates, modbus_charger
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.gateway import ModbusGateway
from loadbalancer.chargers.profile import load_profile
from loadbalancer.config import ModbusChargerConfig, load_site
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.link import ChargerLink, LinkContext
from loadbalancer.logwriter import open_decision_log

BOXES = 8
#: each request the gateway handles takes this long (an RS-485 bus is slow)
DELAY_S = 0.2


async def test_a_cut_to_boxes_behind_one_gateway_goes_out_concurrently_and_bounded(
    tmp_path: Path,
) -> None:
    profile = load_profile("abb-terra-ac")
    boxes = [ChargerEmulator(profile, unit_id=unit) for unit in range(1, BOXES + 1)]
    gateway = ModbusGateway(boxes)
    await gateway.start()
    alone = ChargerEmulator(profile)  # a box on its own endpoint: no gate
    await alone.start()
    chargers = [
        {"name": f"bay{unit}", "profile": "abb-terra-ac", "host": "127.0.0.1",
         "port": gateway.port, "unit_id": unit, "phases": ["L1", "L2", "L3"],
         "max_current_a": 16}
        for unit in range(1, BOXES + 1)
    ]  # fmt: skip
    chargers.append({**chargers[0], "name": "alone", "port": alone.port, "unit_id": 1})
    site_file = tmp_path / "site.yaml"
    site_file.write_text(
        yaml.safe_dump(
            {
                "meter": {"source": "tcp://127.0.0.1:1", "protocol": "p1"},
                "fuse": {"rating_a": 250, "phases": 3, "characteristic": "strict"},
                "chargers": chargers,
                "log": {"decisions": str(tmp_path / "log.jsonl")},
            }
        )
    )
    site = load_site(site_file)
    gates = gateway_gates(site.chargers)
    assert "alone" not in gates and len({id(gates[f"bay{u}"]) for u in range(1, 9)}) == 1
    log = open_decision_log(str(tmp_path / "log.jsonl"))
    context = LinkContext(site, log, lambda _m: None, time.monotonic, lambda: None)
    links = []
    for config in site.chargers[:BOXES]:
        assert isinstance(config, ModbusChargerConfig)
        client = modbus_charger(
            config, connect_timeout_s=2, request_timeout_s=2, clock=time.monotonic
        )
        links.append(ChargerLink(config, client, context, gate=gates.get(config.name)))
    try:
        await asyncio.gather(*(link.poll_once() for link in links))
        assert all(link.online for link in links)
        boxes[0].faults.delay_s = DELAY_S  # the gateway's handler: every request this late
        for link in links:
            cut = ChargerDecision(link.name, 7.0, Reason.OVERLOAD_CUT, None, (), ())
            assert link.decided(cut)
        started = time.monotonic()
        await asyncio.gather(*(link.write_once() for link in links))
        took_s = time.monotonic() - started
        assert [box.box.setpoint_a for box in boxes] == [7.0] * BOXES
        # at most GATEWAY_IN_FLIGHT at once: two rounds at least; all at once would take one,
        # one after the other eight
        rounds = BOXES / GATEWAY_IN_FLIGHT
        assert rounds * DELAY_S - 0.02 <= took_s < BOXES * DELAY_S * 0.75, took_s
    finally:
        for link in links:
            await link.charger.close()
        log.close()
        await gateway.stop()
        await alone.stop()
