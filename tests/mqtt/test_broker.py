"""The tests' broker: Mosquitto where installed, the Python broker (amqtt) otherwise or when
``LB_TEST_BROKER=python`` says so; either is a process of its own on a loopback port, so
``kill -9`` and a stall (SIGSTOP) mean what they mean for a real broker."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiomqtt
import pytest

import tests.mqtt.broker as broker_module
from tests.mqtt.broker import broker_kind, default_kind, make_broker, mqtt_broker
from tests.mqtt.conftest import kinds_for_both


def test_without_mosquitto_the_python_broker_and_under_ci_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LB_TEST_BROKER", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(broker_module, "MOSQUITTO", "/usr/sbin/mosquitto")
    assert default_kind() == broker_kind() == "mosquitto"
    assert kinds_for_both() == ["mosquitto", "python"]
    monkeypatch.setattr(broker_module, "MOSQUITTO", None)
    assert default_kind() == broker_kind() == "python"
    assert kinds_for_both() == ["python"]
    # CI installs Mosquitto: without it the tests fail there rather than pass on another broker
    monkeypatch.setenv("CI", "true")
    assert broker_kind() == "mosquitto"
    with pytest.raises(pytest.fail.Exception, match="mosquitto is missing under CI"):
        make_broker(tmp_path)
    monkeypatch.setenv("LB_TEST_BROKER", "python")
    assert broker_kind() == "python" and kinds_for_both() == ["python"]
    monkeypatch.setenv("LB_TEST_BROKER", "emqx")
    with pytest.raises(pytest.fail.Exception, match="LB_TEST_BROKER='emqx'"):
        broker_kind()


@pytest.mark.both_brokers
async def test_the_broker_is_a_process_of_its_own_that_can_stall_and_die(
    tmp_path: Path,
) -> None:
    async with mqtt_broker(tmp_path) as broker:
        assert broker.kind == broker_kind() and broker.proc is not None
        assert broker.proc.pid != os.getpid()
        async with aiomqtt.Client("127.0.0.1", broker.port, timeout=1.0) as client:
            await client.publish("t/retained", b"kept", qos=1, retain=True)
            broker.pause()
            with pytest.raises(aiomqtt.MqttError):  # stopped: no PUBACK comes
                await client.publish("t/other", b"x", qos=1, timeout=0.5)
            broker.resume()
        async with aiomqtt.Client("127.0.0.1", broker.port, timeout=1.0) as client:
            await client.subscribe("t/retained")
            async with asyncio.timeout(3):
                message = await anext(aiter(client.messages))
            assert (message.payload, message.retain) == (b"kept", True)
        broker.stop()  # kill -9
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", broker.port)
