"""How the service opens a charger: a Modbus TCP client of its own (with the bound shared by
the boxes behind one gateway) or the OCPP charge point of the central system, by protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from loadbalancer.backoff import BACKOFF_INITIAL_S, BACKOFF_MAX_S
from loadbalancer.chargers.charger import Charger
from loadbalancer.chargers.driver import ChargerClient
from loadbalancer.config import ChargerConfig, ModbusChargerConfig

Clock = Callable[[], float]

#: requests in flight at once to one Modbus TCP gateway (several boxes on one host and port,
#: one unit id each, usually on one RS-485 bus behind it): the writes of a cut to many boxes go
#: out together, but a gateway is not flooded with more than it can queue
GATEWAY_IN_FLIGHT = 4


def modbus_charger(
    config: ModbusChargerConfig,
    *,
    connect_timeout_s: float,
    request_timeout_s: float,
    clock: Clock,
    retry_s: float | None = None,
) -> ChargerClient:
    """A Modbus TCP client for one box; ``retry_s``: a fixed pause between failed tries instead
    of the growing back-off (the shutdown's)."""
    first_s, most_s = (BACKOFF_INITIAL_S, BACKOFF_MAX_S) if retry_s is None else (retry_s,) * 2
    return ChargerClient(
        config.profile,
        config.host,
        config.port,
        config.unit_id,
        connect_timeout_s=connect_timeout_s,
        request_timeout_s=request_timeout_s,
        clock=clock,
        backoff_initial_s=first_s,
        backoff_max_s=most_s,
    )


def gateway_gates(chargers: Sequence[ChargerConfig]) -> dict[str, asyncio.Semaphore]:
    """Per charger name, the bound shared by the Modbus boxes behind its gateway (boxes on one
    host and port); a box alone on its endpoint gets none."""
    behind: dict[tuple[str, int], list[str]] = {}
    for config in chargers:
        if isinstance(config, ModbusChargerConfig):
            behind.setdefault((config.host, config.port), []).append(config.name)
    gates: dict[str, asyncio.Semaphore] = {}
    for names in behind.values():
        if len(names) > 1:
            gate = asyncio.Semaphore(GATEWAY_IN_FLIGHT)
            gates.update(dict.fromkeys(names, gate))
    return gates


class OpenedCharger(Charger, Protocol):
    """A charger as the service opens it: its timeouts can be set (the shutdown gives each
    try what is left of its budget)."""

    request_timeout_s: float
    connect_timeout_s: float


def open_charger(
    config: ChargerConfig,
    ocpp: Mapping[str, OpenedCharger] | None,
    *,
    connect_timeout_s: float,
    request_timeout_s: float,
    clock: Clock,
    retry_s: float | None = None,
) -> OpenedCharger:
    """The charger for ``config``: a Modbus TCP client of its own, or the OCPP charge point of
    that id (``ocpp``: the central system's, by charge point id)."""
    if isinstance(config, ModbusChargerConfig):
        return modbus_charger(
            config,
            connect_timeout_s=connect_timeout_s,
            request_timeout_s=request_timeout_s,
            clock=clock,
            retry_s=retry_s,
        )
    assert ocpp is not None, "an OCPP charger without the central system"
    return ocpp[config.key]
