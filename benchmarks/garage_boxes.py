"""The emulated garage of ``benchmarks/garage.py``, in a process of its own (real boxes are
separate devices: their Modbus servers must not share the service's CPU time slices).

    python -m benchmarks.garage_boxes N

Builds the layout of N chargers (:func:`layout`), serves them on 127.0.0.1 (some alone on their
port, some behind Modbus gateways, one unit id each), prints one JSON line with every box's
port and unit id, then answers JSON-line commands on stdin:

* ``{"op": "state"}``: the cars' currents per grid phase (summed) and every box's limit;
* ``{"op": "changes", "since": T, "quiet_s": Q, "timeout_s": S}``: waits until some box's limit
  changed after monotonic time T and then none for Q seconds; per box the time of its first
  change after T (null: none) and its limit.

Time is ``time.monotonic`` (CLOCK_MONOTONIC, one clock for every process on the machine).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.gateway import ModbusGateway
from loadbalancer.chargers.profile import load_profile
from loadbalancer.chargers.simbox import SimulatedCar

PHASES = ("L1", "L2", "L3")
#: boxes behind one gateway (an RS-485 bus of a garage row)
PER_GATEWAY = 10


@dataclass(frozen=True, slots=True)
class Bay:
    """One charger of the garage: its profile, its grid phases, its priority, its gateway
    (None: alone on its own port)."""

    name: str
    profile: str
    phases: tuple[str, ...]
    priority: int
    gateway: str | None


#: a repeating pattern of ten bays: (profile, one-phase?, behind a gateway?)
PATTERN = (
    ("vestel-evc04", False, False),
    ("abb-terra-ac", False, False),
    ("amperfied", False, True),
    ("abb-terra-ac", True, False),
    ("phoenix-charx", False, True),
    ("alfen-eve", False, False),
    ("amperfied", False, True),
    ("abb-terra-ac", True, False),
    ("phoenix-charx", False, True),
    ("schneider-evlink", False, False),
)


def layout(count: int) -> list[Bay]:
    """``count`` bays: mixed profiles, one- and three-phase (one-phase ones spread over the
    phases), every tenth of priority 2, and the amperfied and phoenix boxes behind gateways of
    up to :data:`PER_GATEWAY` boxes each (one per profile and row)."""
    bays = []
    for i in range(count):
        profile, one_phase, gated = PATTERN[i % len(PATTERN)]
        phases = (PHASES[i % 3],) if one_phase else PHASES
        gateway = f"{profile}-{i // (len(PATTERN) * PER_GATEWAY // 2)}" if gated else None
        bays.append(Bay(f"bay{i:03d}", profile, phases, 2 if i % 10 == 9 else 1, gateway))
    return bays


async def serve(count: int) -> None:
    bays = layout(count)
    emulators: list[ChargerEmulator] = []
    groups: dict[str, list[ChargerEmulator]] = {}
    for bay in bays:
        car = SimulatedCar(delay_s=0.05, shortfall_a=0.0, phases=len(bay.phases))
        unit = len(groups.get(bay.gateway, [])) + 1 if bay.gateway else None
        emulator = ChargerEmulator(load_profile(bay.profile), car=car, unit_id=unit)
        emulators.append(emulator)
        if bay.gateway is None:
            await emulator.start()
        else:
            groups.setdefault(bay.gateway, []).append(emulator)
    gateways = {name: ModbusGateway(boxes) for name, boxes in groups.items()}
    for gateway in gateways.values():
        await gateway.start()
    ports = [
        gateways[bay.gateway].port if bay.gateway else emulator.port
        for bay, emulator in zip(bays, emulators, strict=True)
    ]
    units = [emulator.unit_id for emulator in emulators]
    print(json.dumps({"ports": ports, "units": units}), flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "state":
            answer = state(bays, emulators)
        else:
            answer = await changes(emulators, command)
        print(json.dumps(answer), flush=True)


def state(bays: list[Bay], emulators: list[ChargerEmulator]) -> dict[str, Any]:
    grid = [0.0, 0.0, 0.0]
    for bay, emulator in zip(bays, emulators, strict=True):
        emulator.advance()
        for phase, amps in zip(bay.phases, emulator.box.phase_currents_a(), strict=False):
            grid[PHASES.index(phase)] += amps
    return {"grid_a": grid, "limits": [e.box.setpoint_a for e in emulators]}


async def changes(emulators: list[ChargerEmulator], command: dict[str, Any]) -> dict[str, Any]:
    since, quiet_s = command["since"], command["quiet_s"]
    deadline = time.monotonic() + command["timeout_s"]

    def firsts() -> list[float | None]:
        return [next((t for t, _ in e.box.offers if t > since), None) for e in emulators]

    def last() -> float:
        return max((e.box.offers[-1][0] for e in emulators), default=-1.0)

    while time.monotonic() < deadline:
        latest = last()
        if latest > since and time.monotonic() - latest >= quiet_s:
            break
        await asyncio.sleep(0.001)
    return {"firsts": firsts(), "limits": [e.box.setpoint_a for e in emulators]}


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
