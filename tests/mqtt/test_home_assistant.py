"""The service as Home Assistant sees it through a real broker: discovery, retained state that
matches the decision, availability, and discovery again when Home Assistant comes back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from loadbalancer.review.explain import REASON_MEANINGS
from tests.mqtt.broker import home_assistant, mqtt_broker
from tests.mqtt.helpers import BASE, mqtt_section, mqtt_site

NODE = "loadbalancer-site"
HOUSE = (2.0, 2.0, 2.0)


async def settle(site: object, telegrams: int = 20) -> None:
    from tests.mqtt.helpers import MqttSite

    assert isinstance(site, MqttSite)
    for _ in range(telegrams):
        await site.site.telegram(HOUSE)
        await asyncio.sleep(0.1)
        decision = site.service.last_decision
        # the car draws its 16 A in the telegrams too (a car still ramping up while the box
        # already reports 16 A would make the house look smaller than it is)
        house = None if decision is None else decision.house_a["L1"]
        if site.site.setpoint("carport") == 16.0 and house is not None and abs(house - 2.0) < 0.3:
            break


def config_of(ha_latest: dict[str, bytes], component: str, object_id: str) -> dict[str, object]:
    topic = f"homeassistant/{component}/{NODE}/{object_id}/config"
    assert topic in ha_latest, sorted(ha_latest)
    return dict(json.loads(ha_latest[topic]))


@pytest.mark.both_brokers
async def test_discovery_and_retained_state_as_home_assistant_sees_them(tmp_path: Path) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        # no state between telegrams for 5 s: what is published is the last telegram's decision
        mqtt_site(
            tmp_path,
            mqtt_section(broker.port, commands=["max_current_a"]),
            meter_settings={"telegram_period_s": 5, "stale_after_s": 15},
        ) as live,
    ):
        bridge = live.service.mqtt
        assert bridge is not None
        await settle(live)
        await live.telegram_decided(HOUSE)
        await live.site.until(lambda: bridge.idle, 5)
        decision = bridge.published
        assert decision is not None
        # Home Assistant starts later: everything it needs is retained at the broker
        async with home_assistant(broker.port) as ha:
            await ha.until(lambda: ha.text(f"{BASE}/charger/carport/limit_a") is not None)
            await asyncio.sleep(0.2)
            assert all(ha.retained.values())
            assert ha.text(f"{BASE}/status") == "online"
            limit = config_of(ha.latest, "sensor", "carport_limit_a")
            assert limit["state_topic"] == f"{BASE}/charger/carport/limit_a"
            assert limit["device_class"] == "current" and limit["unit_of_measurement"] == "A"
            assert limit["state_class"] == "measurement"
            assert limit["availability_topic"] == f"{BASE}/status"
            assert limit["unique_id"] == f"{NODE}_carport_limit_a"
            device = limit["device"]
            assert isinstance(device, dict) and device["identifiers"] == [NODE]
            power = config_of(ha.latest, "sensor", "carport_power_w")
            assert (power["device_class"], power["unit_of_measurement"]) == ("power", "W")
            stale = config_of(ha.latest, "binary_sensor", "meter_stale")
            assert stale["device_class"] == "problem"
            online = config_of(ha.latest, "binary_sensor", "carport_online")
            assert online["device_class"] == "connectivity"
            config_of(ha.latest, "binary_sensor", "carport_limiting")
            for phase in ("l1", "l2", "l3"):
                config_of(ha.latest, "sensor", f"{phase}_house_a")
            number = config_of(ha.latest, "number", "carport_max_current_a")
            # the Alfen takes milliamps: the slider moves by 0.1 A
            assert (number["min"], number["max"], number["step"]) == (6.0, 16.0, 0.1)
            assert number["command_topic"] == f"{BASE}/charger/carport/max_current_a/set"
            # only the commands the site file allows
            assert not any("/switch/" in topic for topic in ha.latest)
            assert not any(topic.endswith("budget_kw/config") for topic in ha.latest)
            # the state is the decision's
            outcome = decision.charger("carport")
            assert ha.text(f"{BASE}/charger/carport/limit_a") == f"{outcome.setpoint_a:g}"
            assert ha.text(f"{BASE}/charger/carport/reason_code") == str(outcome.reason)
            assert ha.text(f"{BASE}/charger/carport/reason") == REASON_MEANINGS[str(outcome.reason)]
            assert ha.text(f"{BASE}/charger/carport/online") == "ON"
            assert ha.text(f"{BASE}/charger/carport/state") == "charging"
            assert ha.text(f"{BASE}/charger/carport/max_current_a") == "16"
            assert ha.text(f"{BASE}/meter/stale") == "OFF"
            assert ha.text(f"{BASE}/fallback") == "OFF"
            for phase in ("L1", "L2", "L3"):
                house = decision.house_a[phase]
                assert house is not None
                assert ha.text(f"{BASE}/phase/{phase.lower()}/house_a") == f"{round(house, 2):g}"
            age = ha.text(f"{BASE}/meter/age_s")
            assert age is not None and 0 <= float(age) < 2


async def test_state_follows_the_decisions_and_the_meter_going_stale(tmp_path: Path) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port)) as live,
        home_assistant(broker.port) as ha,
    ):
        await settle(live)
        limit = f"{BASE}/charger/carport/limit_a"
        await ha.until(lambda: ha.text(limit) == "16")
        # a kettle: the cut goes out as the new limit, with its reason
        await live.telegram_decided((12.0, 2.0, 2.0))
        cut = live.service.last_decision
        assert cut is not None and cut.setpoint("carport") < 16
        await ha.until(lambda: ha.text(limit) == f"{cut.setpoint('carport'):g}")
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/limiting") == "ON")
        # the meter goes silent: stale, fallback, the safe current
        await ha.until(lambda: ha.text(f"{BASE}/fallback") == "ON", 6.0)
        assert ha.text(f"{BASE}/meter/stale") == "ON"
        # one topic after the other: the reason comes a moment after the limit
        await ha.until(lambda: ha.text(limit) == "6")
        await ha.until(
            lambda: ha.text(f"{BASE}/charger/carport/reason_code") == "meter_stale_fallback"
        )


async def test_discovery_again_when_home_assistant_says_online(tmp_path: Path) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port)) as live,
        home_assistant(broker.port) as ha,
    ):
        await settle(live, 3)
        topic = f"homeassistant/sensor/{NODE}/carport_limit_a/config"
        await ha.until(lambda: topic in ha.count)
        await asyncio.sleep(0.3)
        before = ha.count[topic]
        await ha.publish("homeassistant/status", "offline")
        await asyncio.sleep(0.3)
        assert ha.count[topic] == before  # only "online" asks for it
        await ha.publish("homeassistant/status", "online")
        await ha.until(lambda: ha.count[topic] > before)
        assert not ha.retained[topic]  # a live message this time, not the broker's copy
        assert json.loads(ha.latest[topic])["unique_id"] == f"{NODE}_carport_limit_a"
