"""A Modbus TCP gateway emulated on 127.0.0.1: several boxes behind one port, one unit id each.

Garages wire their wallboxes on an RS-485 bus behind one Modbus TCP gateway: every box answers
on the gateway's host and port under its own unit id. Here each box is a
:class:`~loadbalancer.chargers.emulator.ChargerEmulator` (its profile, its simulated car); the
gateway serves all of their devices on one port. A request for a unit id no box has is answered
with the gateway's exception (pymodbus: no such device).
"""

from __future__ import annotations

from collections.abc import Sequence

from loadbalancer.chargers.emulator import ChargerEmulator, _Server, serve_devices


class ModbusGateway:
    """Serves ``boxes`` (unit ids all different) on one TCP port."""

    def __init__(
        self, boxes: Sequence[ChargerEmulator], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        units = [box.unit_id for box in boxes]
        if len(set(units)) != len(units):
            raise ValueError(f"gateway: unit ids must differ, got {units}")
        self.boxes = list(boxes)
        self.host = host
        self.port = port
        self._server: _Server | None = None

    async def start(self) -> None:
        self._server, self.port = await serve_devices(
            [box.device() for box in self.boxes], self.host, self.port, self.boxes[0].faults
        )

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
