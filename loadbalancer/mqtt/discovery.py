"""Home Assistant's MQTT discovery: one device per site, one retained config message per
entity at ``<prefix>/<component>/<node>/<object>/config`` (the README's section "Home
Assistant and MQTT" names them all).

Sensors carry a device class and a state class (current in A, power in W, the meter's age in
s), binary sensors say what is wrong (meter stale, fallback, a charger offline, limiting), and
only the commands the site file allows appear as ``number`` and ``switch`` entities, with the
site file's bounds as their minimum and maximum.
"""

from __future__ import annotations

import json
from typing import Any

from loadbalancer import __version__
from loadbalancer.config import SiteConfig
from loadbalancer.mqtt.commands import budget_bounds, max_current_bounds
from loadbalancer.mqtt.settings import MqttConfig, topic_id
from loadbalancer.mqtt.topics import Topics

_CURRENT = {"device_class": "current", "unit_of_measurement": "A", "state_class": "measurement"}
_PHASE_NAMES = {"meter_a": "meter", "house_a": "house", "allowed_a": "allowed for the cars"}


def discovery_messages(site: SiteConfig, config: MqttConfig, topics: Topics) -> dict[str, bytes]:
    """Every entity's discovery topic and its JSON config."""
    node = topic_id(config.client_id)
    device: dict[str, Any] = {
        "identifiers": [node],
        "name": f"Load balancer {topic_id(_site_name(config))}",
        "manufacturer": "loadbalancer",
        "model": "HAN meter to EV chargers",
        "sw_version": __version__,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", "meter_age_s", _meter_age(topics)),
        ("binary_sensor", "meter_stale", _problem("Meter stale", f"{topics.base}/meter/stale")),
        (
            "binary_sensor",
            "fallback",
            _problem("Fallback (safe current)", f"{topics.base}/fallback"),
        ),
    ]
    for phase in site.fuse.phase_names:
        for value, words in _PHASE_NAMES.items():
            state = topics.phase(phase, value)
            sensor: dict[str, Any] = {"name": f"{phase} {words}", "state_topic": state, **_CURRENT}
            entities.append(("sensor", f"{topic_id(phase)}_{value}", sensor))
    for charger in site.chargers:
        entities += _charger_entities(site, config, topics, charger.name)
    if site.tariff is not None:
        entities += _tariff_entities(topics)
    if "budget_kw" in config.commands and site.tariff is not None:
        bounds = budget_bounds(site)
        state = f"{topics.base}/budget_kw"
        entity = _number("Capacity budget", state, topics, bounds.low, bounds.high, bounds.step)
        entity |= {"unit_of_measurement": "kW", "device_class": "power"}
        entities.append(("number", "budget_kw", entity))
    out = {}
    for component, object_id, entity in entities:
        entity |= {
            "unique_id": f"{node}_{object_id}",
            "object_id": f"{node}_{object_id}",
            "availability_topic": topics.availability,
            "device": device,
        }
        topic = f"{config.discovery_prefix}/{component}/{node}/{object_id}/config"
        out[topic] = json.dumps(entity, sort_keys=True).encode()
    return out


def _tariff_entities(topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """The capacity tariff's figures of the last decision: the limit on the interval's mean
    power, what the cars may still take, the energy of the interval so far."""
    kw = {"device_class": "power", "unit_of_measurement": "kW", "state_class": "measurement"}
    kwh = {"device_class": "energy", "unit_of_measurement": "kWh"}
    return [
        (
            "sensor",
            f"tariff_{key}",
            {"name": name, "state_topic": f"{topics.base}/tariff/{key}", **kind},
        )
        for key, name, kind in (
            ("budget_kw", "Tariff limit now", kw),
            ("cars_kw", "Tariff room for the cars", kw),
            (
                "energy_kwh_so_far",
                "Tariff interval energy",
                kwh | {"state_class": "total_increasing"},
            ),
        )
    ]


def _site_name(config: MqttConfig) -> str:
    return config.base_topic.rsplit("/", 1)[-1]


def _meter_age(topics: Topics) -> dict[str, Any]:
    return {
        "name": "Meter reading age",
        "state_topic": f"{topics.base}/meter/age_s",
        "device_class": "duration",
        "unit_of_measurement": "s",
        "state_class": "measurement",
    }


def _problem(name: str, state: str) -> dict[str, Any]:
    return {"name": name, "state_topic": state, "device_class": "problem"}


def _number(
    name: str, state: str, topics: Topics, low: float, high: float, step: float
) -> dict[str, Any]:
    return {
        "name": name,
        "state_topic": state,
        "command_topic": topics.command(state),
        "min": low,
        "max": high,
        "step": step,
        "mode": "box",
    }


def _charger_entities(
    site: SiteConfig, config: MqttConfig, topics: Topics, name: str
) -> list[tuple[str, str, dict[str, Any]]]:
    cid = config.charger_ids[name]

    def state(value: str) -> str:
        return topics.charger(name, value)

    power = {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", f"{cid}_limit_a", {"name": f"{name} limit", "state_topic": state("limit_a")}),
        (
            "sensor",
            f"{cid}_measured_a",
            {"name": f"{name} current", "state_topic": state("measured_a")},
        ),
        (
            "sensor",
            f"{cid}_power_w",
            {"name": f"{name} power", "state_topic": state("power_w"), **power},
        ),
        ("sensor", f"{cid}_state", {"name": f"{name} state", "state_topic": state("state")}),
        ("sensor", f"{cid}_reason", {"name": f"{name} reason", "state_topic": state("reason")}),
        (
            "binary_sensor",
            f"{cid}_online",
            {
                "name": f"{name} online",
                "state_topic": state("online"),
                "device_class": "connectivity",
            },
        ),
        (
            "binary_sensor",
            f"{cid}_limiting",
            {"name": f"{name} limiting", "state_topic": state("limiting")},
        ),
    ]
    entities[0][2].update(_CURRENT)
    entities[1][2].update(_CURRENT)
    if "max_current_a" in config.commands:
        bounds = max_current_bounds(site, name)
        entity = _number(
            f"{name} maximum", state("max_current_a"), topics, bounds.low, bounds.high, bounds.step
        )
        entity |= {"unit_of_measurement": "A", "device_class": "current"}
        entities.append(("number", f"{cid}_max_current_a", entity))
    if "pause" in config.commands:
        entity = {
            "name": f"{name} pause",
            "state_topic": state("pause"),
            "command_topic": topics.command(state("pause")),
            "icon": "mdi:pause-circle",
        }
        entities.append(("switch", f"{cid}_pause", entity))
    return entities
