"""The simulated OCPP charge point of ``simulate``: a real OCPP 1.6J client over a WebSocket on
127.0.0.1 (the emulated charge point of :mod:`loadbalancer.ocpp.emulator`), on the
simulation's virtual clock, in the same event loop as the Modbus boxes.

The box behaves as its OCPP profile says: it takes its limit in the profile's rate unit (a W
limit is the total of its phases at 230 V), applies an accepted limit after the profile's
``writes.apply_s``, enforces it on the simulated car (which follows after its own delay), and
sends MeterValues every ``meter_values.interval_s`` and a StatusNotification when its state
changes. The write economy is the central system's (the service's own :mod:`loadbalancer.ocpp`
code, as in ``run``). A ``charger_offline`` fault drops its WebSocket; it keeps the last limit
it applied (OCPP 1.6 has no failsafe) and connects again when the fault ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import SiteConfig
from loadbalancer.errors import UsageError
from loadbalancer.ocpp.emulator import (
    UNLIMITED_A,
    EmulatedChargePoint,
    EmulatedConnector,
    EmulatedState,
)
from loadbalancer.ocpp.site import OcppChargerConfig

#: the OCPP status a simulated box reports, by IEC 61851 letter
STATUS_OF_LETTER = {"A": "Available", "B": "SuspendedEVSE", "C": "Charging"}
#: a CALL of the box waits this long (simulated seconds) for its answer
RESPONSE_TIMEOUT_S = 20.0


@dataclass
class _SimState(EmulatedState):
    """An emulated box's profiles, with an accepted limit applied ``apply_s`` after it came,
    and the history of what the box offered since when (the car follows it after a delay)."""

    apply_s: float = 0.0
    #: (due_s, stack level, limit, expiry): accepted, not applied yet
    pending: list[tuple[float, int, float, float | None]] = field(default_factory=list)
    #: (since_s, offered_a)
    offers: list[tuple[float, float]] = field(default_factory=list)

    def install(self, profile: dict[str, Any]) -> None:
        level, limit, until = self.entry(profile)
        self.pending.append((self.clock() + self.apply_s, level, limit, until))

    def settle(self) -> None:
        """Apply what is due and note what the box offers now."""
        now_s = self.clock()
        while self.pending and self.pending[0][0] <= now_s:
            due_s, level, limit, until = self.pending.pop(0)
            self.installed[level] = (limit, until)
            self.limit_at_s = due_s
            self._offer(due_s)
        self._offer(now_s)  # a profile that expired meanwhile

    def _offer(self, since_s: float) -> None:
        limit = self.limit_a
        value = UNLIMITED_A if limit is None else limit
        if not self.offers or self.offers[-1][1] != value:
            self.offers.append((since_s, value))
            del self.offers[:-64]  # older history is never looked at again

    def offered_at(self, at_s: float) -> float:
        offered = self.offers[0][1] if self.offers else UNLIMITED_A
        for since_s, value in self.offers:
            if since_s <= at_s:
                offered = value
        return offered


@dataclass
class SimulatedOutlet(EmulatedConnector):
    """The box's outlet and its car, as the simulation's ground truth reads a Modbus box."""

    state: _SimState = field(default_factory=_SimState)
    #: the charger's wired phases (its MeterValues report each)
    phases: int = 3
    #: fault switch: the car draws its own maximum whatever the limit
    ignore_setpoint: bool = False

    @property
    def offered_a(self) -> float:
        self.state.settle()
        return super().offered_a

    def draw_a(self) -> float:
        car = self.car
        if self.ignore_setpoint and car.plugged:
            return car.max_current_a
        self.state.settle()
        return car.draw_a(self.state.offered_at(self.state.clock() - car.delay_s))

    def phase_currents_a(self) -> tuple[float, ...]:
        """What the car draws on L1..L3 of the box (one phase, or the box switched to one by
        ``numberPhases``, issue 19: the first)."""
        draw = self.draw_a()
        one = self.car.phases == 1 or self.state.phase_count == 1
        currents = (draw, 0.0, 0.0) if one else (draw, draw, draw)
        return currents[: self.phases]

    def status(self) -> str:
        if not self.car.plugged:
            return "A"
        return "C" if self.draw_a() > 0 else "B"

    def plug_in(self) -> None:
        self.car.plugged = True

    def unplug(self) -> None:
        self.car.plugged = False
        self.car.asleep = False  # issue 19: a car asleep after a switch wakes at a new session


class SimulatedChargePoint:
    """One OCPP charger of the site in the simulation: ``run_clock`` connects it to the
    service's central system and sends what the box sends, on the simulation's clock."""

    def __init__(
        self,
        config: OcppChargerConfig,
        url: str,
        *,
        clock: Callable[[], float],
        car: SimulatedCar,
    ) -> None:
        profile = config.profile
        state = _SimState(clock=clock, apply_s=profile.writes.apply_s, status="Available")
        self.box = SimulatedOutlet(
            config.connector_id, car, state=state, phases=len(config.spec.phases)
        )
        self.point = EmulatedChargePoint(
            config.charge_point_id, connector=self.box, response_timeout_s=RESPONSE_TIMEOUT_S
        )
        self.url = url
        self.clock = clock
        self.interval_s = profile.meter.interval_s
        self.refusing = False
        self.connects = 0

    async def start(self) -> None:
        return None  # it connects from run_clock, once the service listens

    def advance(self, now_s: float | None = None) -> None:
        self.box.state.settle()

    async def set_refusing(self, refusing: bool) -> None:
        """``charger_offline``: the box loses its connection (and tries again when it ends)."""
        self.refusing = refusing
        if refusing:
            await self.point.disconnect()

    async def run_clock(self, period_s: float = 0.5) -> None:
        """Connect (again) while not refusing; a StatusNotification on each change of state,
        MeterValues every profile interval."""
        next_meter_s = self.clock()
        while True:
            await asyncio.sleep(period_s)
            if self.refusing:
                continue
            if not self.point.connected and not await self._connect():
                continue
            letter = self.box.status()
            status = STATUS_OF_LETTER[letter]
            with contextlib.suppress(Exception):  # the connection may drop meanwhile
                if status != self.box.state.status:
                    await self.point.send_status(status)
                if self.clock() >= next_meter_s:
                    next_meter_s = self.clock() + self.interval_s
                    await self.point.send_meter_values()

    async def _connect(self) -> bool:
        self.box.state.status = STATUS_OF_LETTER[self.box.status()]
        try:
            await self.point.connect(self.url)
        except Exception:  # refused, not listening yet, timed out: the next tick tries again
            return False
        self.connects += 1
        return True

    async def stop(self) -> None:
        await self.point.close()


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 now (the central system of the simulation listens there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ocpp_points(
    site: SiteConfig,
    data: dict[str, Any],
    *,
    clock: Callable[[], float],
    car_of: Callable[[str], SimulatedCar],
) -> dict[str, SimulatedChargePoint]:
    """The site's OCPP chargers as simulated charge points, and ``data`` (the site mapping the
    service will run) given a central system on a free port of 127.0.0.1 without
    authentication (the user's ``ocpp:`` listen address and password are not used)."""
    ocpp = [c for c in site.chargers if isinstance(c, OcppChargerConfig)]
    if not ocpp:
        return {}
    ids = [c.charge_point_id for c in ocpp]
    shared = sorted({i for i in ids if ids.count(i) > 1})
    if shared:
        raise UsageError(
            f"simulate: charge point {shared[0]} has several chargers; one each is simulated"
        )
    port = free_loopback_port()
    data["ocpp"] = {"listen": f"127.0.0.1:{port}", "auth": "none"}
    url = f"ws://127.0.0.1:{port}/ocpp"
    return {c.name: SimulatedChargePoint(c, url, clock=clock, car=car_of(c.name)) for c in ocpp}


def scenario_entry(extra: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A charger a scenario adds, as a site entry: a Modbus box on 127.0.0.1 (the simulation
    gives it its port), an OCPP one with a central system for it (``ocpp_points`` moves it)."""
    if extra.get("protocol") != "ocpp":
        return {"host": "127.0.0.1", **extra}
    data.setdefault("ocpp", {"listen": "127.0.0.1:0", "auth": "none"})
    return dict(extra)
