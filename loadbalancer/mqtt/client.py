"""The MQTT task: the only module that imports the MQTT library (aiomqtt).

Connects (the last will says ``offline`` on the availability topic), says ``online``,
subscribes to Home Assistant's status and the allowed command topics, then publishes whatever
the store holds that has not gone out, one message at a time (the library's own queue never
holds more than that one). A broker that is down, refuses the login, drops the connection or
stalls (no answer within the bridge's ``timeout_s``, or to the keep-alive) is an outage: one line on
stderr when it begins and one when it ends, and a new try after an exponential back-off, for
ever. Nothing here is awaited by the control loop. At a stop, ``offline`` goes out (a last will
is only sent for a connection that was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable

import aiomqtt

from loadbalancer.mqtt.bridge import PUBLISH_AFTER_S, MqttBridge
from loadbalancer.mqtt.settings import MqttConfig
from loadbalancer.printable import printable

#: at a stop: how long ``offline`` and the goodbye may take
GOODBYE_S = 1.0
#: the most incoming messages held before the receiver reads them (a flood is dropped)
MAX_INCOMING = 100

#: the library's own log (paho's): kept quiet, the outage lines say what happened
_QUIET = logging.getLogger("loadbalancer.mqtt.library")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class Outage:
    """One line when an outage begins and one when it ends, however many tries it took."""

    def __init__(self, bridge: MqttBridge) -> None:
        self.bridge = bridge
        self.since_s: float | None = None
        self.connected_once = False

    def down(self, why: str) -> None:
        if self.since_s is not None:
            return
        self.since_s = asyncio.get_running_loop().time()
        url = self.bridge.config.url
        self.bridge.service.status(
            f"mqtt: {url}: {printable(why)}; control goes on, retrying with back-off"
        )

    def up(self) -> None:
        url = self.bridge.config.url
        if self.since_s is not None:
            lasted_s = asyncio.get_running_loop().time() - self.since_s
            self.bridge.service.status(f"mqtt: connected to {url} again after {lasted_s:.0f} s")
        elif not self.connected_once:
            self.bridge.service.status(f"mqtt: connected to {url}")
        self.since_s = None
        self.connected_once = True


async def run_client(bridge: MqttBridge) -> None:
    """Connected, or trying to be, until cancelled."""
    backoff, timeout_s = bridge.backoff, bridge.timeout_s
    outage = Outage(bridge)
    while True:
        client = _client(bridge, timeout_s)
        try:
            await client.__aenter__()
        except Exception as exc:  # MqttError, and whatever else a connect may raise
            outage.down(_why(exc))
            await _pause(backoff.next_delay_s())
            continue
        try:
            outage.up()
            backoff.reset()
            await _session(client, bridge, timeout_s)
        except aiomqtt.MqttError as exc:
            outage.down(f"connection lost ({_why(exc)})")
        except Exception as exc:  # a bug here must not stop the service: MQTT goes on later
            outage.down(f"internal error {exc!r}")
        except asyncio.CancelledError:
            await _bounded(client.publish(bridge.topics.availability, b"offline", 1, True))
            raise
        finally:
            await _bounded(client.__aexit__(None, None, None))
        await _pause(backoff.next_delay_s())


def _client(bridge: MqttBridge, timeout_s: float) -> aiomqtt.Client:
    config = bridge.config
    return aiomqtt.Client(
        config.host,
        config.port,
        username=config.username,
        password=config.password,
        identifier=config.client_id,
        will=aiomqtt.Will(bridge.topics.availability, b"offline", qos=1, retain=True),
        timeout=timeout_s,
        keepalive=config.keepalive_s,
        tls_context=_tls(config),
        max_queued_incoming_messages=MAX_INCOMING,
        max_queued_outgoing_messages=len(bridge.store) + 8,
        logger=_QUIET,
    )


def _tls(config: MqttConfig) -> ssl.SSLContext | None:
    """Verified: the broker's certificate against the system's CAs or ``tls.ca_file``, and its
    name against the url's host."""
    if not config.tls:
        return None
    return ssl.create_default_context(cafile=config.ca_file)


async def _session(client: aiomqtt.Client, bridge: MqttBridge, timeout_s: float) -> None:
    topics = bridge.topics
    await client.publish(topics.availability, b"online", qos=1, retain=True, timeout=timeout_s)
    await client.subscribe(topics.ha_status, timeout=timeout_s)
    for topic in bridge.commands:
        await client.subscribe(topic, qos=1, timeout=timeout_s)
    _raise_if_cancelled()
    bridge.store.resend()  # a broker may have lost what it kept: all of it again
    publisher = asyncio.create_task(_publisher(client, bridge, timeout_s))
    receiver = asyncio.create_task(_receiver(client, bridge))
    try:
        done, _ = await asyncio.wait((publisher, receiver), return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # the MqttError that ended it
    finally:
        for task in (publisher, receiver):
            task.cancel()
        await asyncio.gather(publisher, receiver, return_exceptions=True)


async def _publisher(client: aiomqtt.Client, bridge: MqttBridge, timeout_s: float) -> None:
    store = bridge.store
    while True:
        bridge.refresh()
        item = store.take()
        if item is None:
            await store.changed.wait()
            await asyncio.sleep(PUBLISH_AFTER_S)  # the decision's writes go first
            continue
        topic, payload = item
        try:
            await client.publish(topic, payload, qos=0, retain=True, timeout=timeout_s)
        except BaseException:
            store.failed(topic)
            raise
        store.sent(topic, payload)
        _raise_if_cancelled()


async def _receiver(client: aiomqtt.Client, bridge: MqttBridge) -> None:
    async for message in client.messages:
        topic = message.topic.value
        payload = message.payload
        raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
        if topic == bridge.topics.ha_status:
            if raw.strip() == b"online":  # Home Assistant (re)started: discovery again
                bridge.store.resend()
        elif topic in bridge.commands:
            bridge.on_command(topic, raw, retained=message.retain)


def _raise_if_cancelled() -> None:
    """Python 3.11's ``wait_for`` (inside the library's calls) can swallow a cancel that
    comes as its future completes: a task asked to stop stops here all the same."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _pause(delay_s: float) -> None:
    _raise_if_cancelled()
    await asyncio.sleep(delay_s)


async def _bounded(step: Awaitable[object]) -> None:
    """A goodbye that must not hold the stop up (a stalled broker never answers)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(step, GOODBYE_S)


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
