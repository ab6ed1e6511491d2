"""An emulated OCPP 1.6J charge point for tests: a real WebSocket client (the ``ocpp``
library's ``ChargePoint``) that connects to the central system on loopback, honours charging
profiles, and sends MeterValues and StatusNotification, with a car behind it.

Vendor quirks can be switched on (:class:`Quirks`): a profile accepted but not applied, a
TxDefaultProfile refused, no ``Current.Offered``, "L1-N" phase labels, no BootNotification on
a reconnect. ``disconnect()`` drops the WebSocket like a box that loses its Wi-Fi.

Issue 19: the box charges on the ``numberPhases`` of the profile in force (its car draws on the
first phase only after a switch to one); each change is logged with what the car drew at that
moment (``EmulatedState.phase_changes``). Fault switches: ``Quirks.reject_number_phases`` (a
profile that changes the count is Rejected), ``Quirks.ignore_number_phases`` (Accepted, the
count stays); a car with ``resumes_after_switch`` False draws nothing after a switch.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import InternalError
from ocpp.v16 import ChargePoint, call, call_result, enums
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.ocpp.central import typed_on

#: what the box offers with no profile at all (OCPP 1.6: no profile = unconstrained)
UNLIMITED_A = 32.0


@dataclass
class Quirks:
    accept_but_ignore: bool = False  # SetChargingProfile Accepted, the old limit stays
    reject_tx_default: bool = False  # SetChargingProfile Rejected
    no_offered: bool = False  # MeterValues without Current.Offered
    phase_labels: tuple[str, str, str] = ("L1", "L2", "L3")  # ("L1-N", "L2-N", "L3-N"): Zaptec
    boot_on_reconnect: bool = True  # False: a reconnect sends no BootNotification
    profile_delay_s: float = 0.0  # answers SetChargingProfile this late (its loop blocked)
    profile_callerror: bool = False  # answers SetChargingProfile with a CALLERROR
    #: answers SetChargingProfile "Accepted" with a field the schema does not know
    profile_odd_answer: bool = False
    #: the measurands MeterValuesSampledData may name (a list with any other is Rejected)
    measurands: tuple[str, ...] = ("Current.Import", "Current.Offered", "Voltage")
    #: issue 19: a profile that changes numberPhases is Rejected / Accepted and its count ignored
    reject_number_phases: bool = False
    ignore_number_phases: bool = False


@dataclass
class EmulatedState:
    """What the box holds: the profiles it was sent (connector, profile), the ones installed
    by stack level (limit, when it expires on the monotonic clock, None: never), its keys."""

    installed: dict[int, tuple[float, float | None]] = field(default_factory=dict)
    limit_at_s: float = 0.0  # when (time.monotonic) the last limit came
    profiles: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    status: str = "Charging"
    #: the box's clock (the simulation's virtual one in ``simulate``)
    clock: Callable[[], float] = time.monotonic
    #: issue 19: the phases it charges on, and each change (from, to, what the car drew then)
    phase_count: int = 3
    phase_changes: list[tuple[int, int, float]] = field(default_factory=list)

    @property
    def limit_a(self) -> float | None:
        """The limit in force: the highest stack level's profile that has not expired (OCPP
        1.6 §3.13.2); None: no profile, unconstrained."""
        now = self.clock()
        valid = [
            (level, limit)
            for level, (limit, until) in self.installed.items()
            if until is None or now < until
        ]
        return max(valid)[1] if valid else None

    @limit_a.setter
    def limit_a(self, value: float | None) -> None:
        """Set the limit by hand (None: the box lost every profile)."""
        self.installed = {} if value is None else {0: (value, None)}

    def install(self, profile: dict[str, Any]) -> None:
        level, limit, until = self.entry(profile)
        self.installed[level] = (limit, until)
        self.limit_at_s = self.clock()

    def entry(self, profile: dict[str, Any]) -> tuple[int, float, float | None]:
        """A charging profile's stack level, limit in amperes and expiry (on ``clock``)."""
        schedule = profile["charging_schedule"]
        period = schedule["charging_schedule_period"][0]
        limit = float(period["limit"])
        if schedule.get("charging_rate_unit") == "W":  # the total at 230 V (OCPP 1.6 §7.13)
            limit = round(limit / (NOMINAL_VOLTAGE_V * (period.get("number_phases") or 3)), 2)
        until = None
        if schedule.get("duration") is not None:
            start = schedule.get("start_schedule")
            began = datetime.fromisoformat(start) if start else datetime.now(UTC)
            age_s = (datetime.now(UTC) - began).total_seconds()
            until = self.clock() + float(schedule["duration"]) - age_s
        return int(profile["stack_level"]), limit, until


@dataclass
class _OddAnswer:
    """A SetChargingProfile answer with a field OCPP 1.6 does not have."""

    status: str
    colour: str = "blue"


class _Box(ChargePoint):  # type: ignore[misc]  # the ocpp library has no type hints
    def __init__(self, cp_id: str, connection: ClientConnection, owner: EmulatedChargePoint):
        super().__init__(cp_id, connection, response_timeout=owner.response_timeout_s)
        self.owner = owner
        if owner.quirks.profile_odd_answer:  # sent as it is, unchecked
            self.route_map[enums.Action.set_charging_profile]["_skip_schema_validation"] = True

    @typed_on(enums.Action.set_charging_profile)
    async def on_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        owner = self.owner
        await asyncio.sleep(owner.quirks.profile_delay_s)
        # connector 0: the default of every connector (OCPP 1.6 §3.13.1)
        targets = [c for n, c in owner.connectors.items() if connector_id in (0, n)]
        if not targets:
            return call_result.SetChargingProfile(status=enums.ChargingProfileStatus.rejected)
        for target in targets:
            target.state.profiles.append((connector_id, cs_charging_profiles))
        if owner.quirks.profile_callerror:
            raise InternalError(description="emulated fault")
        if owner.quirks.profile_odd_answer:
            return _OddAnswer(status=enums.ChargingProfileStatus.accepted)
        count = _number_phases(cs_charging_profiles)
        changes = [t for t in targets if count is not None and count != t.state.phase_count]
        if owner.quirks.reject_tx_default or (changes and owner.quirks.reject_number_phases):
            return call_result.SetChargingProfile(status=enums.ChargingProfileStatus.rejected)
        if not owner.quirks.accept_but_ignore:
            for target in targets:
                if target in changes and not owner.quirks.ignore_number_phases:
                    assert count is not None
                    target.switch_phases(count)
                target.state.install(cs_charging_profiles)
        return call_result.SetChargingProfile(status=enums.ChargingProfileStatus.accepted)

    @typed_on(enums.Action.change_configuration)
    def on_change(self, key: str, value: str) -> Any:
        known = self.owner.quirks.measurands
        if key == "MeterValuesSampledData" and not set(value.split(",")) <= set(known):
            return call_result.ChangeConfiguration(status=enums.ConfigurationStatus.rejected)
        self.owner.state.settings[key] = value
        return call_result.ChangeConfiguration(status=enums.ConfigurationStatus.accepted)

    @typed_on(enums.Action.get_configuration)
    def on_get(self, key: list[str] | None = None) -> Any:
        settings = self.owner.state.settings
        known = [k for k in key or list(settings) if k in settings]
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": settings[k]} for k in known],
            unknown_key=[k for k in key or [] if k not in settings] or None,
        )

    @typed_on(enums.Action.trigger_message)
    def on_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        if requested_message == enums.MessageTrigger.meter_values:
            self.owner.meter_values_asked += 1
            self.owner.later(self.owner.send_meter_values())
        return call_result.TriggerMessage(status=enums.TriggerMessageStatus.accepted)


@dataclass
class EmulatedConnector:
    """One outlet of the box and the car on it."""

    connector_id: int
    car: SimulatedCar
    state: EmulatedState = field(default_factory=EmulatedState)

    @property
    def offered_a(self) -> float:
        return UNLIMITED_A if self.state.limit_a is None else self.state.limit_a

    def phase_currents_a(self) -> tuple[float, ...]:
        """What the car draws now on each of its phases (on one phase: the first only)."""
        draw = self.car.draw_a(self.offered_a)
        on = 1 if self.state.phase_count == 1 else self.car.phases
        return tuple(draw if i < on else 0.0 for i in range(self.car.phases))

    def switch_phases(self, count: int) -> None:
        """The firmware's switch to ``count`` phases, logged with what the car drew then; a
        car that does not resume after one falls asleep."""
        drawn = max(self.phase_currents_a(), default=0.0)
        self.state.phase_changes.append((self.state.phase_count, count, drawn))
        self.state.phase_count = count
        if not self.car.resumes_after_switch:
            self.car.asleep = True


def _number_phases(profile: dict[str, Any]) -> int | None:
    """The first period's ``numberPhases`` (None: absent, the box's count stays)."""
    period = profile["charging_schedule"]["charging_schedule_period"][0]
    value = period.get("number_phases")
    return None if value is None else int(value)


class EmulatedChargePoint:
    """One emulated box; ``await connect(url)``, then send what a box sends. Its first
    connector is ``state``/``car``; ``add_connector`` gives it more (configuration keys are the
    box's: kept in the first connector's ``state.settings``)."""

    def __init__(
        self,
        cp_id: str,
        *,
        car: SimulatedCar | None = None,
        password: bytes | None = None,
        quirks: Quirks | None = None,
        connector_id: int = 1,
        connector: EmulatedConnector | None = None,
        response_timeout_s: float = 5.0,
    ) -> None:
        self.cp_id = cp_id
        first = connector or EmulatedConnector(
            connector_id, car if car is not None else SimulatedCar(delay_s=0.0, shortfall_a=0.2)
        )
        connector_id = first.connector_id
        self.connectors = {connector_id: first}
        self.response_timeout_s = response_timeout_s
        self.password = password
        self.quirks = quirks if quirks is not None else Quirks()
        self.connector_id = connector_id
        self.state = first.state
        self.car = first.car
        self.session: _Box | None = None
        self.meter_values_sent = 0
        self.meter_values_asked = 0  # TriggerMessage(MeterValues) received
        self.meter_values_at_s = -math.inf  # when (time.monotonic) the last ones were taken
        self._connection: ClientConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._booted = False

    def add_connector(self, connector_id: int, car: SimulatedCar) -> EmulatedConnector:
        connector = EmulatedConnector(connector_id, car)
        self.connectors[connector_id] = connector
        return connector

    @property
    def offered_a(self) -> float:
        return self.connectors[self.connector_id].offered_a

    def phase_currents_a(self) -> tuple[float, ...]:
        """What the first connector's car draws now on each of its phases."""
        return self.connectors[self.connector_id].phase_currents_a()

    async def connect(self, url: str, *, tls: ssl.SSLContext | None = None) -> None:
        headers = {}
        if self.password is not None:
            token = base64.b64encode(self.cp_id.encode() + b":" + self.password).decode()
            headers["Authorization"] = f"Basic {token}"
        self._connection = await connect(
            f"{url.rstrip('/')}/{self.cp_id}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=self.response_timeout_s,
            ssl=tls,
        )
        self.session = _Box(self.cp_id, self._connection, self)
        self.later(self._receive(self.session))
        if not self._booted or self.quirks.boot_on_reconnect:
            await self.session.call(
                call.BootNotification(charge_point_model="Emu", charge_point_vendor="Test")
            )
            self._booted = True
        await self.send_status()

    async def _receive(self, session: _Box) -> None:
        with contextlib.suppress(Exception):  # the connection closed
            await session.start()

    def later(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_status(self, status: str | None = None) -> None:
        if status is not None:
            self.state.status = status
        assert self.session is not None
        for connector in self.connectors.values():
            await self.session.call(
                call.StatusNotification(
                    connector_id=connector.connector_id,
                    error_code=enums.ChargePointErrorCode.no_error,
                    status=enums.ChargePointStatus(connector.state.status),
                )
            )

    async def send_meter_values(self) -> None:
        """One MeterValues per connector."""
        for connector in list(self.connectors.values()):
            await self._send_meter_values(connector)

    async def _send_meter_values(self, connector: EmulatedConnector) -> None:
        if self.session is None:
            return
        samples: list[dict[str, Any]] = []
        for i, current in enumerate(connector.phase_currents_a()):
            samples.append(
                {
                    "value": f"{current:.1f}",
                    "measurand": "Current.Import",
                    "phase": self.quirks.phase_labels[i],
                    "unit": "A",
                }
            )
        if not self.quirks.no_offered:
            samples.append(
                {"value": f"{connector.offered_a:.1f}", "measurand": "Current.Offered", "unit": "A"}
            )
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        with contextlib.suppress(Exception):  # the connection may drop meanwhile
            await self.session.call(
                call.MeterValues(
                    connector_id=connector.connector_id,
                    meter_value=[{"timestamp": stamp, "sampled_value": samples}],
                )
            )
            self.meter_values_sent += 1
            self.meter_values_at_s = time.monotonic()

    async def run_meter(self, interval_s: float) -> None:
        """MeterValues every ``interval_s`` while connected."""
        while True:
            await asyncio.sleep(interval_s)
            await self.send_meter_values()

    @property
    def connected(self) -> bool:
        """Whether the WebSocket is open."""
        return self._connection is not None and self._connection.state is State.OPEN

    def connection(self) -> ClientConnection:
        """The WebSocket, to send raw frames on."""
        assert self._connection is not None
        return self._connection

    async def disconnect(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self.session = None

    async def close(self) -> None:
        await self.disconnect()
        for task in list(self._tasks):
            task.cancel()
