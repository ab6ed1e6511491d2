"""Broker faults: down at start, gone mid-run, refusing the login, stalled. The service keeps
deciding on every telegram as fast as without MQTT, says one line per outage, reconnects, and
holds no more than one payload per topic however long the broker is away."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from pathlib import Path

import pytest

from tests.mqtt.broker import StallingProxy, home_assistant, mqtt_broker
from tests.mqtt.helpers import BASE, MqttSite, mqtt_section, mqtt_site
from tests.service.harness import free_port

HOUSE = (2.0, 2.0, 2.0)
#: a decision comes within this of its telegram even on a busy test machine (the control
#: loop answers in milliseconds: a loop that waited on the broker would miss it by seconds)
REACTION_BOUND_S = 0.5


async def each_telegram_decided(live: MqttSite, count: int, pause_s: float = 0.05) -> float:
    """``count`` telegrams, each decided (a ``decision`` record) within the bound; the slowest."""
    slowest = 0.0
    for _ in range(count):
        slowest = max(slowest, await live.telegram_decided(HOUSE))
        await asyncio.sleep(pause_s)
    assert slowest < REACTION_BOUND_S, slowest
    return slowest


def outage_lines(live: MqttSite) -> list[str]:
    return [m for m in live.lines("mqtt: ") if "retrying with back-off" in m]


async def test_broker_down_at_start_then_up(tmp_path: Path) -> None:
    port = free_port()
    async with mqtt_site(tmp_path, mqtt_section(port)) as live:
        await each_telegram_decided(live, 10)
        # several tries by now (back-off 0.05..0.3 s), one line
        assert len(outage_lines(live)) == 1
        assert f"mqtt://127.0.0.1:{port}" in outage_lines(live)[0]
        async with mqtt_broker(tmp_path, port=port) as broker, home_assistant(broker.port) as ha:
            await live.site.until(lambda: len(live.lines("mqtt: connected to")) == 1, 5)
            assert "again after" in live.lines("mqtt: connected to")[0]
            await ha.until(lambda: ha.text(f"{BASE}/status") == "online")
            await ha.until(lambda: ha.text(f"{BASE}/charger/carport/online") == "ON")
            await each_telegram_decided(live, 5)


async def test_broker_gone_mid_run_one_line_then_back_with_everything(tmp_path: Path) -> None:
    async with (
        mqtt_broker(tmp_path) as broker,
        mqtt_site(tmp_path, mqtt_section(broker.port)) as live,
    ):
        await each_telegram_decided(live, 3)
        await live.site.until(lambda: live.lines("mqtt: connected to") != [], 5)
        broker.stop()
        await each_telegram_decided(live, 15)  # ~1 s of tries
        assert len(outage_lines(live)) == 1
        assert "connection lost" in outage_lines(live)[0]
        await broker.start()  # a broker without persistence: it lost every retained message
        async with home_assistant(broker.port) as ha:
            await live.site.until(lambda: any("again after" in m for m in live.site.messages), 5)
            await ha.until(lambda: ha.text(f"{BASE}/charger/carport/limit_a") is not None)
            await ha.until(
                lambda: "homeassistant/sensor/loadbalancer-site/carport_limit_a/config" in ha.latest
            )
        assert len(outage_lines(live)) == 1


@pytest.mark.both_brokers
async def test_broker_refusing_the_login(tmp_path: Path) -> None:
    (tmp_path / "mqtt.password").write_text("not-the-one\n")
    section = mqtt_section(0, username="lb", password_file="mqtt.password")
    async with mqtt_broker(tmp_path, users={"lb": "the-right-one"}) as broker:
        section["url"] = f"mqtt://127.0.0.1:{broker.port}"
        async with mqtt_site(tmp_path, section) as live:
            await each_telegram_decided(live, 10)
            (line,) = outage_lines(live)
            assert "Not authorized" in line or "password" in line.lower(), line
        (tmp_path / "mqtt.password").write_text("the-right-one\n")
        async with mqtt_site(tmp_path, section) as live:
            await live.site.until(lambda: live.lines("mqtt: connected to") != [], 5)
            assert outage_lines(live) == []
        text = "\\n".join(live.site.messages) + live.site.log_path.read_text()
        assert "not-the-one" not in text and "the-right-one" not in text


async def test_stalled_broker_control_goes_on_memory_stays_bounded(tmp_path: Path) -> None:
    """A broker that stops answering with the connection open: decisions still come at each
    telegram, the store keeps one payload per topic (600 telegrams: ten minutes at one a
    second), the keep-alive finds the stall (one line), and all goes out once it answers."""
    offset_s = [0.0]  # the service's clock: ten minutes pass in a moment below

    def clock() -> float:
        return time.monotonic() + offset_s[0]

    async with mqtt_broker(tmp_path) as broker, StallingProxy(broker.port) as proxy:
        section = mqtt_section(proxy.port)
        async with mqtt_site(tmp_path, section, keepalive_s=1, timeout_s=0.5, clock=clock) as live:
            bridge = live.service.mqtt
            assert bridge is not None
            await live.site.until(lambda: live.lines("mqtt: connected to") != [], 5)
            await each_telegram_decided(live, 3)
            topics = len(bridge.store)
            proxy.stall()
            await each_telegram_decided(live, 20)
            # ten minutes of control steps a second apart (the meter soon stale, the state
            # changing at each): every step's state goes into the store
            tracemalloc.start()
            try:
                first = None
                for i in range(600):
                    offset_s[0] += 1.0
                    live.service.step()
                    await asyncio.sleep(0)
                    if i == 100:
                        first = tracemalloc.get_traced_memory()[0]
                last = tracemalloc.get_traced_memory()[0]
            finally:
                tracemalloc.stop()
            assert first is not None
            assert last - first < 512 * 1024, (first, last)
            assert len(bridge.store) == topics <= bridge.store.max_topics
            assert bridge.store.pending <= topics and bridge.store.refused == 0
            await live.site.until(lambda: len(outage_lines(live)) == 1, 5)
            await each_telegram_decided(live, 5)
            proxy.go_on()
            async with home_assistant(broker.port) as ha:
                await live.site.until(
                    lambda: any("again after" in m for m in live.site.messages), 8
                )
                await live.telegram_decided((5.0, 2.0, 2.0))
                await ha.until(lambda: ha.text(f"{BASE}/phase/l1/meter_a") is not None)
            assert len(outage_lines(live)) == 1
