"""A wallbox emulated over Modbus TCP: any profile, served on 127.0.0.1 (pymodbus server side).

The server answers exactly the profile's registers (anything else is "illegal data address"),
enforces the profile's write function codes and block-read limits the way the box would, and
maps reads and writes onto a :class:`~loadbalancer.chargers.simbox.SimulatedBox` (set-point,
pause, failsafe, a simulated car). Time comes from an injectable clock: every request first
advances the box to ``clock()``; tests call :meth:`ChargerEmulator.advance` directly, and
:meth:`ChargerEmulator.run_clock` advances it in real time.

Fault switches for tests: ``faults.silent`` (accept, never reply), ``set_refusing(True)``
(connections refused), ``faults.close_on_unknown`` (drop the connection on an unknown register),
``box.ignore_setpoint`` (the car draws more than its limit), ``faults.reject_writes`` (answer
every write with a Modbus exception, as a box without its licence or Modbus enabled does), and
the misbehaving box of issue 11: ``faults.reject_reads`` (an exception to every read),
``faults.delay_s`` (every request handled and answered that late), ``faults.close_always``
(hang up on every request),
``faults.wrong_unit`` / ``faults.wrong_transaction`` (answer with another unit or transaction
id), ``faults.ignore_writes`` (acknowledge a write and keep the old value) and
``faults.words`` (raw words a register answers instead of its value: NaN, inf, 3e38, all-ones).
Issue 19: a profile's ``phase_switch`` register switches ``box.phase_count``;
``box.phase_switch_stuck`` (the read-back does not change), ``faults.reject_writes_to`` on that
register (an exception) and ``car.resumes_after_switch = False`` (a car that does not wake).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from loadbalancer.chargers.codec import Value
from loadbalancer.chargers.profile import ChargerProfile, CodeMap, Register, Table
from loadbalancer.chargers.simbox import SimulatedBox, SimulatedCar

Clock = Callable[[], float]

_READ_TABLES: dict[int, Table] = {3: "holding", 4: "input"}
_WRITE_CODES = (6, 16)


@dataclass(slots=True)
class Faults:
    """Switches that make the emulated box misbehave."""

    silent: bool = False  # accept connections and requests, never answer
    close_on_unknown: bool = False  # close the connection on a request for an unknown register
    reject_writes: int | None = None  # answer every write with this Modbus exception code
    reject_reads: int | None = None  # answer every read with this Modbus exception code
    delay_s: float = 0.0  # handle and answer every request this late (a slow or busy box)
    close_always: bool = False  # close the connection instead of answering
    wrong_unit: bool = False  # answer with another unit id than asked
    wrong_transaction: bool = False  # answer with another transaction id than asked
    ignore_writes: bool = False  # acknowledge every write, apply none
    #: register name -> the Modbus exception code a write to it is answered with
    reject_writes_to: dict[str, int] = field(default_factory=dict)
    #: register name -> the raw words it answers (a lie in any data type)
    words: dict[str, tuple[int, ...]] = field(default_factory=dict)


class _Server(ModbusTcpServer):
    """pymodbus's TCP server, with per-connection handlers that obey the fault switches."""

    faults: Faults

    def callback_new_connection(self) -> ServerRequestHandler:
        return _Handler(self, self.trace_packet, self.trace_pdu, self.trace_connect, self.faults)


class _Handler(ServerRequestHandler):
    def __init__(
        self, owner: Any, trace_packet: Any, trace_pdu: Any, trace_connect: Any, faults: Faults
    ) -> None:
        super().__init__(owner, trace_packet, trace_pdu, trace_connect)  # type: ignore[no-untyped-call]
        self.faults = faults

    async def handle_request(self) -> None:
        if self.faults.delay_s > 0:  # once per request (the action may run twice for one write)
            await asyncio.sleep(self.faults.delay_s)
        await super().handle_request()  # type: ignore[no-untyped-call]

    def server_send(self, pdu: Any, addr: Any) -> None:
        if self.faults.silent:
            return
        if self.faults.close_always:
            self.close()
            return
        if pdu is not None and self.faults.wrong_unit:
            pdu.dev_id = (pdu.dev_id + 1) % 256
        if pdu is not None and self.faults.wrong_transaction:
            pdu.transaction_id = (pdu.transaction_id + 1) % 65536
        if (
            self.faults.close_on_unknown
            and isinstance(pdu, ExceptionResponse)
            and pdu.exception_code == ExcCodes.ILLEGAL_ADDRESS
        ):
            self.close()
            return
        super().server_send(pdu, addr)  # type: ignore[no-untyped-call]


class ChargerEmulator:
    """Serves one profile as a Modbus TCP box with a simulated car behind it."""

    def __init__(
        self,
        profile: ChargerProfile,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unit_id: int | None = None,
        clock: Clock = time.monotonic,
        car: SimulatedCar | None = None,
    ) -> None:
        self.profile = profile
        self.host = host
        self.unit_id = profile.transport.unit_id if unit_id is None else unit_id
        self.clock = clock
        self.box = SimulatedBox(profile, car if car is not None else SimulatedCar(), now_s=clock())
        self.faults = Faults()
        self.requests = 0
        #: (clock time, register name) of every write applied, in order
        self.write_log: list[tuple[float, str]] = []
        self._port = port
        self._server: _Server | None = None
        self._by_address: dict[tuple[Table, int], Register] = {
            (register.table, register.address): register for register in profile.registers.values()
        }
        self._stored: dict[str, Value] = {}
        self._readers = self._build_readers()
        self._writers = self._build_writers()

    # ---- life cycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port served (the free port picked when started with port 0)."""
        return self._port

    async def start(self) -> None:
        self._server, self._port = await serve_devices(
            [self._device()], self.host, self._port, self.faults
        )

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def __aenter__(self) -> ChargerEmulator:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def set_refusing(self, refusing: bool) -> None:
        """Refuse connections (stop listening) or serve again on the same port."""
        if refusing:
            await self.stop()
        elif self._server is None:
            await self.start()

    def advance(self, now_s: float | None = None) -> None:
        """Let the box and the car reach ``now_s`` (default: the clock's time)."""
        self.box.advance(self.clock() if now_s is None else now_s)

    async def run_clock(self, period_s: float = 0.1) -> None:
        """Advance in real time until cancelled (the failsafe trips without any request)."""
        while True:
            self.advance()
            await asyncio.sleep(period_s)

    # ---- registers ---------------------------------------------------------------------------

    def register_value(self, name: str) -> Value:
        """What a read of register ``name`` answers now (engineering units)."""
        register = self.profile.register(name)
        reader = self._readers.get(name)
        if reader is not None:
            return reader()
        return self._stored.get(name, "" if register.codec.data_type == "string" else 0.0)

    def device(self) -> SimDevice:
        """The box as pymodbus serves it (a gateway serves several: :mod:`.gateway`)."""
        return self._device()

    def _device(self) -> SimDevice:
        tables: dict[Table, list[SimData]] = {"holding": [], "input": []}
        for register in self.profile.registers.values():
            tables[register.table].append(
                SimData(
                    register.address,
                    count=register.words,
                    datatype=DataType.REGISTERS,
                    readonly=not register.writable,
                )
            )
        for table in tables.values():
            if not table:  # pymodbus wants every table non-empty: one invalid address
                table.append(SimData(0, datatype=DataType.INVALID))
        bits = [SimData(0, values=False, datatype=DataType.BITS)]
        return SimDevice(
            self.unit_id,
            simdata=(bits, list(bits), tables["holding"], tables["input"]),
            action=self._action,
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.faults.silent:
            return None  # a hung box: nothing happens, nothing is answered
        self.requests += 1
        self.box.request(self.clock())
        if function_code in _WRITE_CODES:
            if self.faults.reject_writes is not None:
                return ExcCodes(self.faults.reject_writes)
            target = self._by_address.get(("holding", address))
            if target is not None and target.name in self.faults.reject_writes_to:
                return ExcCodes(self.faults.reject_writes_to[target.name])
            if self.faults.ignore_writes:
                return None  # acknowledged, not applied
            return self._write(function_code, address, [int(v) for v in values or []])
        table = _READ_TABLES.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if self.faults.reject_reads is not None:
            return ExcCodes(self.faults.reject_reads)
        return self._read(table, address, count, registers, start_address)

    def _covering(self, table: Table, address: int, count: int) -> list[Register] | ExcCodes:
        """The registers a request covers exactly, or the exception the box answers."""
        covered: list[Register] = []
        cursor = address
        while cursor < address + count:
            register = self._by_address.get((table, cursor))
            if register is None:
                return ExcCodes.ILLEGAL_ADDRESS  # starts inside a value, or a gap
            covered.append(register)
            cursor += register.words
        if cursor != address + count:
            return ExcCodes.ILLEGAL_ADDRESS  # ends inside a value
        return covered

    def _read(
        self, table: Table, address: int, count: int, registers: list[int], start_address: int
    ) -> ExcCodes | None:
        transport = self.profile.transport
        if count > transport.max_block_registers:
            return ExcCodes.ILLEGAL_VALUE
        covered = self._covering(table, address, count)
        if isinstance(covered, ExcCodes):
            return covered
        if transport.single_register_reads and len(covered) > 1:
            return ExcCodes.ILLEGAL_ADDRESS
        offset = address - start_address
        for register in covered:
            if not register.readable:
                return ExcCodes.ILLEGAL_ADDRESS
            lie = self.faults.words.get(register.name)
            words = lie if lie is not None else register.codec.encode(self._raw_value(register))
            registers[offset : offset + register.words] = words
            offset += register.words
        return None

    def _write(self, function_code: int, address: int, words: list[int]) -> ExcCodes | None:
        covered = self._covering("holding", address, len(words))
        if isinstance(covered, ExcCodes):
            return covered
        if any(register.write_fc != function_code for register in covered):
            return ExcCodes.ILLEGAL_FUNCTION
        offset = 0
        for register in covered:
            value = register.codec.decode(words[offset : offset + register.words])
            offset += register.words
            if value is None:
                return ExcCodes.ILLEGAL_VALUE
            self._stored[register.name] = value
            self.write_log.append((self.clock(), register.name))
            for writer in self._writers.get(register.name, []):
                writer(value)
        return None

    def _raw_value(self, register: Register) -> float | str:
        value = self.register_value(register.name)
        return 0.0 if value is None else value

    # ---- what each register means ------------------------------------------------------------

    def _build_readers(self) -> dict[str, Callable[[], Value]]:
        profile, box = self.profile, self.box
        readers: dict[str, Callable[[], Value]] = {}
        setpoint = profile.setpoint
        readers[setpoint.register] = lambda: box.setpoint_a
        pause = setpoint.pause
        if pause.kind == "register" and pause.register is not None:
            readers[pause.register] = lambda: (
                pause.enable_value if box.enabled else pause.disable_value
            )
        failsafe = profile.failsafe
        if failsafe.current is not None:
            for name in (failsafe.current.register, failsafe.current.readback):
                if name is not None:
                    readers[name] = lambda: box.failsafe_current_a
        if failsafe.timeout is not None:
            for name in (failsafe.timeout.register, failsafe.timeout.readback):
                if name is not None:
                    readers[name] = lambda: box.timeout_s
        keep = profile.keep_alive
        if keep.action == "write" and keep.register is not None and keep.value is not None:
            readers[keep.register] = lambda: 0.0  # the box clears its life bit
        readings = profile.readings
        for phase, name in enumerate(readings.current_a):
            readers[name] = lambda phase=phase: box.phase_currents_a()[phase]  # type: ignore[misc]
        if readings.limit_a is not None:
            readers[readings.limit_a] = lambda: box.applied_limit_a
        if readings.max_current_a is not None:
            readers[readings.max_current_a] = lambda: setpoint.max_a
        if readings.phases is not None:
            phases = readings.phases
            readers[phases.register] = lambda: _code_value(
                phases, phases.first_code(str(box.car.phases))
            )
        readers.update(_phase_readers(profile, box))
        main, override = readings.status.main, readings.status.override
        readers[main.register] = lambda: _code_value(main, _main_code(main, box.status()))
        if override is not None:
            readers[override.register] = lambda: _code_value(
                override, _override_code(override, box.status())
            )
        return readers

    def _build_writers(self) -> dict[str, list[Callable[[float | str], None]]]:
        profile, box = self.profile, self.box
        writers: dict[str, list[Callable[[float | str], None]]] = {}

        def on(name: str | None, action: Callable[[float], None]) -> None:
            if name is not None:
                writers.setdefault(name, []).append(lambda value: action(_as_float(value)))

        setpoint = profile.setpoint
        on(setpoint.register, box.write_setpoint)
        pause = setpoint.pause
        if pause.kind == "register":
            on(pause.register, lambda value: box.set_enabled(value == pause.enable_value))
        failsafe = profile.failsafe
        if failsafe.current is not None:
            on(failsafe.current.register, lambda value: setattr(box, "failsafe_current_a", value))
        if failsafe.timeout is not None:
            on(failsafe.timeout.register, lambda value: setattr(box, "timeout_s", value))
        keep = profile.keep_alive
        if keep.action == "write":
            on(keep.register, lambda value: box.life_bit() if value != 0 else None)
        switch = profile.phase_switch
        if switch is not None:
            on(
                switch.register,
                lambda value: box.switch_phases(1 if value == switch.one_phase else 3),
            )
        return writers


def _phase_readers(profile: ChargerProfile, box: SimulatedBox) -> dict[str, Callable[[], Value]]:
    """Issue 19: the box's phase switch register and its read-back, from its phase count."""
    switch = profile.phase_switch
    if switch is None:
        return {}
    readers: dict[str, Callable[[], Value]] = {}
    if profile.register(switch.register).readable:
        readers[switch.register] = lambda: switch.value_for(box.phase_count)
    readers[switch.readback] = lambda: (
        switch.readback_one if box.phase_count == 1 else switch.readback_three
    )
    return readers


async def serve_devices(
    devices: list[SimDevice], host: str, port: int, faults: Faults
) -> tuple[_Server, int]:
    """A started server for ``devices`` (one unit id each) and the port it listens on."""
    server = _Server(devices, address=(host, port))
    server.faults = faults
    await server.serve_forever(background=True)
    sockets = getattr(server.transport, "sockets", None)
    return server, int(sockets[0].getsockname()[1]) if sockets else port


def _as_float(value: float | str) -> float:
    return float(value) if not isinstance(value, str) else float("nan")


def _code_value(code_map: CodeMap, code: int | str | None) -> Value:
    """A raw code as the register's engineering value (shifted into place)."""
    if code is None:
        return 0.0
    if isinstance(code, str):
        return code
    return float(code << code_map.shift)


def _main_code(code_map: CodeMap, letter: str) -> int | str | None:
    code = code_map.first_code(letter)
    if code is None and letter in ("C", "D", "E", "F"):
        code = code_map.first_code("B")  # the override register says the rest
    return code if code is not None else code_map.codes[0][1][0]


def _override_code(code_map: CodeMap, letter: str) -> int | str:
    code = code_map.first_code(letter)
    if code is not None:
        return code
    used = {raw for _meaning, raws in code_map.codes for raw in raws}
    if any(isinstance(raw, str) for raw in used):
        return ""
    return next(value for value in range(len(used) + 1) if value not in used)
