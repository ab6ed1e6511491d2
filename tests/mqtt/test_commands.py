"""Commands from Home Assistant through a real broker: taken within the site file's bounds as
an input of the core, refused otherwise (logged, nothing changes), not heard where the site
file does not allow them, kept across a restart only with ``persist: true``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.mqtt.broker import HomeAssistant, home_assistant, mqtt_broker
from tests.mqtt.helpers import BASE, MqttSite, mqtt_section, mqtt_site

HOUSE = (2.0, 2.0, 2.0)
MAX_SET = f"{BASE}/charger/carport/max_current_a/set"
PAUSE_SET = f"{BASE}/charger/carport/pause/set"


async def drive(live: MqttSite, until: Any, timeout_s: float = 10.0) -> None:
    """Telegrams every 0.2 s until ``until()`` holds."""

    async def loop() -> None:
        while not until():
            await live.site.telegram(HOUSE)
            await asyncio.sleep(0.2)

    await asyncio.wait_for(loop(), timeout_s)


def commands(live: MqttSite) -> list[dict[str, Any]]:
    return live.site.records("command")


async def command(live: MqttSite, ha: HomeAssistant, topic: str, payload: str) -> dict[str, Any]:
    """Send one command as Home Assistant does; its ``command`` record."""
    before = len(commands(live))
    await ha.publish(topic, payload)
    await live.site.until(lambda: len(commands(live)) > before)
    return commands(live)[-1]


@pytest.mark.both_brokers
async def test_max_current_within_bounds_lowers_the_limit_and_refusals_change_nothing(
    tmp_path: Path,
) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port, commands=["max_current_a", "pause"])) as live,
        home_assistant(broker.port) as ha,
    ):
        await drive(live, lambda: live.site.setpoint("carport") == 16.0)
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/max_current_a") == "16")
        record = await command(live, ha, MAX_SET, "10")
        assert record["accepted"] and record["problem"] is None
        assert (record["previous"], record["value"], record["charger"]) == (16.0, 10.0, "carport")
        assert record["source"] == f"mqtt {MAX_SET}"
        # through the core: the next decision's set-point, written to the box
        await drive(live, lambda: live.site.setpoint("carport") == 10.0)
        assert live.site.decisions_for("carport")[-1]["setpoint_a"] == 10.0
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/max_current_a") == "10")
        # refused: above the site file's maximum, below the minimum, not a number, junk
        for payload, problem in (
            ("17", "17 A is outside 6..16 A"),
            ("5.9", "5.9 A is outside 6..16 A"),
            ("abc", "'abc' is not a number"),
            ("nan", "'nan' is not a finite number"),
            ("1e999", "'1e999' is not a finite number"),
            ("", "'' is not a number"),
            ("9" * 40, "40 bytes: longer than any value"),
        ):
            record = await command(live, ha, MAX_SET, payload)
            assert not record["accepted"], payload
            assert record["problem"].startswith(problem), record
            assert (record["previous"], record["value"]) == (10.0, 10.0)
        for _ in range(5):
            await live.site.telegram(HOUSE)
            await asyncio.sleep(0.1)
        assert live.site.setpoint("carport") == 10.0
        mqtt = live.service.mqtt
        assert mqtt is not None
        spec = mqtt.commanded()[0].chargers[0]
        assert spec.max_current_a == 10.0


async def test_a_retained_command_left_at_the_broker_is_refused(tmp_path: Path) -> None:
    """A command kept by the broker (published with retain) would come back at every
    connection and undo the revert at restart: it is refused."""
    async with mqtt_broker(tmp_path) as broker:
        async with home_assistant(broker.port) as ha:
            await ha.publish(MAX_SET, "8", retain=True)
        section = mqtt_section(broker.port, commands=["max_current_a"])
        async with mqtt_site(tmp_path, section) as live:
            await live.site.until(lambda: commands(live) != [])
            # Mosquitto sends it once (for the subscription); amqtt 0.12 also once more at
            # the connection (retained messages for any client's subscriptions): each refused
            await drive(live, lambda: live.site.setpoint("carport") == 16.0)
            records = commands(live)
            assert 1 <= len(records) <= 2, records
            for record in records:
                assert not record["accepted"] and "retained" in record["problem"], record
            mqtt = live.service.mqtt
            assert mqtt is not None and mqtt.commanded()[0].chargers[0].max_current_a == 16.0


async def test_pause_sets_the_charger_to_0_through_the_core_and_resumes(tmp_path: Path) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port, commands=["pause"])) as live,
        home_assistant(broker.port) as ha,
    ):
        await drive(live, lambda: live.site.setpoint("carport") == 16.0)
        record = await command(live, ha, PAUSE_SET, "ON")
        assert record["accepted"] and (record["previous"], record["value"]) == (False, True)
        await drive(live, lambda: live.site.setpoint("carport") == 0.0)
        assert live.site.decisions_for("carport")[-1]["reason"] == "commanded_pause"
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/pause") == "ON")
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/reason_code") == "commanded_pause")
        refused = await command(live, ha, PAUSE_SET, "maybe")
        assert not refused["accepted"] and refused["problem"] == "'MAYBE' is not ON or OFF"
        record = await command(live, ha, PAUSE_SET, "OFF")
        assert record["accepted"] and record["value"] is False
        # it resumes after resume_delay_s (3 s here) with room for its minimum
        await drive(live, lambda: live.site.setpoint("carport") > 0.0)
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/pause") == "OFF")


async def test_a_command_the_site_file_does_not_allow_is_not_heard(tmp_path: Path) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port, commands=["max_current_a"])) as live,
        home_assistant(broker.port) as ha,
    ):
        await drive(live, lambda: live.site.setpoint("carport") == 16.0)
        await ha.publish(PAUSE_SET, "ON")
        await ha.publish(f"{BASE}/budget_kw/set", "3")
        for _ in range(8):
            await live.site.telegram(HOUSE)
            await asyncio.sleep(0.1)
        assert live.site.setpoint("carport") == 16.0
        assert commands(live) == []
        assert not any(topic.endswith("/pause") for topic in ha.latest)


async def test_without_persist_a_command_reverts_at_restart_with_it_it_is_kept(
    tmp_path: Path,
) -> None:
    async with mqtt_broker(tmp_path) as broker:
        await restart_after_a_command(tmp_path, broker.port, persist=False, after_a=16.0)
        await restart_after_a_command(tmp_path, broker.port, persist=True, after_a=9.0)


async def restart_after_a_command(
    tmp_path: Path, port: int, *, persist: bool, after_a: float
) -> None:
    """Set the maximum to 9 A, stop, start again: the maximum in force is ``after_a``."""
    state_dir = tmp_path / f"state-{persist}"
    section = mqtt_section(
        port, commands=["max_current_a"], persist=persist, state_dir=str(state_dir)
    )
    async with mqtt_site(tmp_path, section) as live, home_assistant(port) as ha:
        await drive(live, lambda: live.site.setpoint("carport") == 16.0)
        assert (await command(live, ha, MAX_SET, "9"))["accepted"]
        await drive(live, lambda: live.site.setpoint("carport") == 9.0)
    assert (state_dir / "mqtt-commands.json").exists() is persist
    async with mqtt_site(tmp_path, section) as live, home_assistant(port) as ha:
        topic = f"{BASE}/charger/carport/max_current_a"
        # the new service's own message, not the broker's copy from before
        await ha.until(lambda: ha.text(topic) == f"{after_a:g}" and not ha.retained[topic])
        await drive(live, lambda: live.site.setpoint("carport") == after_a)
        restored = [r for r in commands(live) if r["source"].startswith("state file")]
        assert len(restored) == (1 if persist else 0)
        if persist:
            assert (restored[0]["previous"], restored[0]["value"]) == (16.0, 9.0)
            assert any("mqtt: commands kept from" in m for m in live.site.messages)


TARIFF = {"profile": "ellevio", "budget_kw": 5, "margin_kw": 0.2}
BUDGET_SET = f"{BASE}/budget_kw/set"


async def test_budget_within_the_tariffs_bounds(tmp_path: Path) -> None:
    """budget_kw: more than the margin, at most what the fuse lets through (3 x 19 A x 230 V
    = 13.1 kW); the budget in force is published, and the core is given it (the decision's
    limit on the interval's mean power follows it: budget / the hour's weight)."""
    tariff = {**TARIFF, "state_dir": str(tmp_path / "tariff")}
    async with mqtt_broker(tmp_path) as broker:
        section = mqtt_section(broker.port, commands=["budget_kw"])
        async with (
            mqtt_site(tmp_path, section, tariff=tariff) as live,
            home_assistant(broker.port) as ha,
        ):
            await ha.until(lambda: ha.text(f"{BASE}/budget_kw") == "5")
            before = await tariff_budget_kw(live)
            record = await command(live, ha, BUDGET_SET, "3.5")
            assert record["accepted"] and (record["previous"], record["value"]) == (5.0, 3.5)
            assert record["charger"] is None
            await ha.until(lambda: ha.text(f"{BASE}/budget_kw") == "3.5")
            after = await tariff_budget_kw(live)
            assert abs(after / before - 3.5 / 5.0) < 1e-3, (before, after)
            # the tariff's figures, as the decision record has them
            await ha.until(lambda: ha.text(f"{BASE}/tariff/budget_kw") == f"{after:g}")
            energy = f"{BASE}/tariff/energy_kwh_so_far"
            await ha.until(lambda: ha.text(energy) not in (None, "None"))
            sensor = json.loads(
                ha.latest["homeassistant/sensor/loadbalancer-site/tariff_energy_kwh_so_far/config"]
            )
            assert (sensor["device_class"], sensor["state_class"]) == ("energy", "total_increasing")
            for payload, problem in (
                ("0.2", "0.2 kW is outside 0.3..13.1 kW"),
                ("13.2", "13.2 kW is outside"),
            ):
                refused = await command(live, ha, BUDGET_SET, payload)
                assert not refused["accepted"] and refused["problem"].startswith(problem)
            assert await tariff_budget_kw(live) == after


async def tariff_budget_kw(live: MqttSite) -> float:
    """The next telegram's decision: the capacity tariff's limit the core was given."""
    await live.telegram_decided(HOUSE)
    tariff = live.site.records("decision")[-1].get("tariff")
    assert tariff is not None, "no tariff in the decision"
    return float(tariff["budget_kw"])


async def test_at_most_ten_refusals_a_minute_are_logged(tmp_path: Path) -> None:
    """A client sending junk must not fill the disk: 25 junk commands, 10 records; what was
    not logged is counted in the next record once the minute is over."""
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port, commands=["max_current_a"])) as live,
        home_assistant(broker.port) as ha,
    ):
        mqtt = live.service.mqtt
        assert mqtt is not None
        # subscribed: the settings' state goes out after the subscriptions
        await ha.until(lambda: ha.text(f"{BASE}/charger/carport/max_current_a") == "16")
        for i in range(25):
            await ha.publish(MAX_SET, f"junk{i}")
        await ha.publish(MAX_SET, "12")  # a valid one still goes through, and is logged
        await live.site.until(lambda: commands(live)[-1:] != [] and commands(live)[-1]["accepted"])
        refused = [r for r in commands(live) if not r["accepted"]]
        assert len(refused) == 10
        assert mqtt.commanded()[0].chargers[0].max_current_a == 12.0
        mqtt._refusals = [t - 60.0 for t in mqtt._refusals]  # the minute is over
        record = await command(live, ha, MAX_SET, "junk")
        assert record["problem"] == "'junk' is not a number (15 more refused before, not logged)"
