"""``loadbalancer run`` as a real process with MQTT: Home Assistant greys the device out when
the process dies (the last will on ``kill -9``) and when it stops (``offline`` said at the
stop); without an ``mqtt:`` section the MQTT library is never imported."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.meter.emulator import MeterServer
from tests.mqtt.broker import home_assistant, mqtt_broker
from tests.mqtt.helpers import BASE, THREE, add_mqtt, mqtt_section
from tests.service.harness import Box, free_port, one_box_site
from tests.service.probe_run import probe as probe_run
from tests.service.test_process import start_process, telegram

REPO = Path(__file__).resolve().parents[2]
STATUS = f"{BASE}/status"


@pytest.mark.both_brokers
async def test_last_will_on_kill_9_and_offline_on_sigterm(tmp_path: Path) -> None:
    async with mqtt_broker(tmp_path) as broker, MeterServer() as meter:
        box = Box("carport", "alfen-eve", THREE)
        async with one_box_site(tmp_path, meter.url, box) as (_emulator, site_file, _log):
            add_mqtt(site_file, mqtt_section(broker.port))
            async with home_assistant(broker.port, (STATUS,)) as ha:
                for how in (signal.SIGKILL, signal.SIGTERM):
                    proc = await start_process(site_file)
                    try:
                        await meter.wait_for_client()
                        await meter.send(telegram(0))
                        await ha.until(lambda: ha.text(STATUS) == "online", 10)
                        proc.send_signal(how)
                        # the broker tells at once: the connection closed without a goodbye
                        # (kill -9), or the service said it (SIGTERM)
                        await ha.until(lambda: ha.text(STATUS) == "offline", 5)
                        assert await asyncio.wait_for(proc.wait(), 10) == (
                            -signal.SIGKILL if how == signal.SIGKILL else 0
                        )
                    finally:
                        if proc.returncode is None:
                            proc.kill()
                            await proc.wait()
                    # retained: a Home Assistant that starts now sees offline too
                    async with home_assistant(broker.port, (STATUS,)) as later:
                        await later.until(lambda: later.text(STATUS) == "offline")


#: the library, what it is built on, and this package's client (the one module importing it)
MQTT_MODULES = ("aiomqtt", "paho", "loadbalancer.mqtt.client")


def probe(tmp_path: Path, mqtt: dict[str, Any] | None) -> dict[str, Any]:
    """Which MQTT modules the real service imported in 1 s (see probe_run)."""
    return probe_run(tmp_path, "mqtt", mqtt, MQTT_MODULES)


def test_without_an_mqtt_section_no_mqtt_library_is_imported(tmp_path: Path) -> None:
    found = probe(tmp_path, None)
    assert found["decisions"] > 0
    assert found["modules"] == []


def test_with_the_section_the_probe_sees_the_library(tmp_path: Path) -> None:
    """The probe can tell: with the section (a broker that is not there) it is imported."""
    found = probe(tmp_path, mqtt_section(free_port()))
    assert found["decisions"] > 0
    assert {"aiomqtt", "paho", "loadbalancer.mqtt.client"} <= set(found["modules"])
