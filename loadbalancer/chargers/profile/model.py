"""The charger profile's types: what a wallbox model's YAML file says, once loaded.

A profile says where each value lives (address, table, type, word order, scale, unit), which
register takes the current limit and how a pause is expressed, which registers read back the
car's status and currents, how the box's own failsafe works and what keep-alive it needs,
what to write at start-up, and what the user must set on the box first. Anything procedural is
a named hook (:mod:`loadbalancer.chargers.hooks`). The file is read and checked by
:mod:`loadbalancer.chargers.profile.loader`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from loadbalancer.chargers.codec import Codec, quantise_down
from loadbalancer.chargers.profile.phase import PhaseSwitch

Table = Literal["holding", "input"]
Access = Literal["r", "w", "rw"]
PauseKind = Literal["zero", "register", "none"]
FailsafeTrigger = Literal["setpoint_write", "life_bit", "any_request", "none"]
KeepAliveAction = Literal["rewrite_setpoint", "write", "read", "none"]
RawCode = int | str

IEC_LETTERS = ("A", "B", "C", "D", "E", "F")
#: currents and timeouts must come out of their registers in these units (after ``scale``)
UNITS = ("A", "V", "W", "kW", "Wh", "kWh", "s", "")
#: the largest read a Modbus request allows (Modbus Application Protocol, FC03/FC04)
MODBUS_MAX_READ_REGISTERS = 125


@dataclass(frozen=True, slots=True)
class Register:
    """One value on the box: where it is and how it is coded."""

    name: str
    address: int
    table: Table
    codec: Codec
    unit: str
    access: Access
    #: function code for writes: 6 (write single register) or 16 (write multiple); 0 read-only
    write_fc: int

    @property
    def words(self) -> int:
        return self.codec.words

    @property
    def readable(self) -> bool:
        return "r" in self.access

    @property
    def writable(self) -> bool:
        return "w" in self.access

    def describe(self) -> str:
        """``setpoint (holding 1210)``: how errors name a register."""
        return f"{self.name} ({self.table} {self.address})"


@dataclass(frozen=True, slots=True)
class Transport:
    port: int = 502
    unit_id: int = 1
    #: registers per read request; KEBA reads one value at a time
    max_block_registers: int = MODBUS_MAX_READ_REGISTERS
    #: one read per register: the box cannot read blocks (KEBA, Vestel/Unite across gaps)
    single_register_reads: bool = False
    #: pause between two requests (EM2GO 60 ms)
    min_request_interval_s: float = 0.0
    #: pause between two writes (KEBA P40: "writing interval 5 s")
    min_write_interval_s: float = 0.0
    #: how many clients the box serves at once (Alfen: 2); informational
    max_masters: int | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """How the box is told not to charge: set-point 0, a separate enable register, or not at all."""

    kind: PauseKind
    register: str | None = None
    enable_value: float = 1.0
    disable_value: float = 0.0


@dataclass(frozen=True, slots=True)
class Setpoint:
    register: str
    granularity_a: float
    min_a: float
    max_a: float
    pause: Pause

    def allowed_a(self, current_a: float) -> float:
        """What a request for ``current_a`` becomes: rounded DOWN to the box's step, at most its
        maximum, and 0 (pause) below its minimum. Never more than asked."""
        if math.isnan(current_a) or current_a < 0:
            raise ValueError(f"cannot offer {current_a} A")
        value = quantise_down(min(current_a, self.max_a), self.granularity_a)
        return value if value >= self.min_a else 0.0


@dataclass(frozen=True, slots=True)
class CodeMap:
    """Raw register values -> a meaning (IEC 61851 letter, or a phase count)."""

    register: str
    codes: tuple[tuple[str, tuple[RawCode, ...]], ...]
    shift: int = 0
    mask: int | None = None

    def extract(self, raw: RawCode) -> RawCode:
        """The part of the raw value the codes talk about (shift right, then mask)."""
        if isinstance(raw, str):
            return raw
        value = raw >> self.shift
        return value & self.mask if self.mask is not None else value

    def lookup(self, raw: RawCode) -> str | None:
        key = self.extract(raw)
        for meaning, raws in self.codes:
            if key in raws:
                return meaning
        return None

    def first_code(self, meaning: str) -> RawCode | None:
        """The raw value that stands for ``meaning`` (for the emulator)."""
        for name, raws in self.codes:
            if name == meaning:
                return raws[0]
        return None


@dataclass(frozen=True, slots=True)
class StatusMap:
    """IEC 61851 status from one register, optionally overridden by a second (charging state)."""

    main: CodeMap
    override: CodeMap | None = None


@dataclass(frozen=True, slots=True)
class Readings:
    current_a: tuple[str, ...]  # register names in the charger's phase order
    status: StatusMap
    limit_a: str | None = None
    phases: CodeMap | None = None  # meanings "1" / "3"
    max_current_a: str | None = None


@dataclass(frozen=True, slots=True)
class FailsafeValue:
    """A failsafe setting (current or timeout) on the box: where to write and where to read it."""

    register: str | None = None  # written by configure_failsafe when writable
    readback: str | None = None  # read to verify; defaults to ``register`` when readable
    min: float | None = None
    max: float | None = None
    default: float | None = None  # what the box uses when it cannot be read (or reads 0)


@dataclass(frozen=True, slots=True)
class Failsafe:
    """What the box does by itself when the controller goes quiet (docs/chargers.md §Failsafe)."""

    trigger: FailsafeTrigger
    current: FailsafeValue | None = None
    timeout: FailsafeValue | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    action: KeepAliveAction
    register: str | None = None
    #: what a ``write`` writes: a number, or None = the failsafe timeout in seconds (KEBA)
    value: float | None = None
    fraction_of_timeout: float = 0.5
    max_interval_s: float | None = None
    min_interval_s: float = 1.0

    def interval_s(self, timeout_s: float | None) -> float | None:
        """How often to keep the box alive: at most ``fraction`` (<= 1/2) of its timeout."""
        if self.action == "none":
            return None
        candidates = [] if timeout_s is None else [timeout_s * self.fraction_of_timeout]
        if self.max_interval_s is not None:
            candidates.append(self.max_interval_s)
        if not candidates:
            return None
        return max(min(candidates), self.min_interval_s)


@dataclass(frozen=True, slots=True)
class StartupWrite:
    register: str
    value: float


@dataclass(frozen=True, slots=True)
class ChargerProfile:
    name: str
    file: str
    vendor: str
    models: tuple[str, ...]
    sources: tuple[str, ...]
    verified_on_hardware: bool
    transport: Transport
    registers: Mapping[str, Register]
    setpoint: Setpoint
    readings: Readings
    failsafe: Failsafe
    keep_alive: KeepAlive
    startup: tuple[StartupWrite, ...] = ()
    prerequisites: tuple[str, ...] = ()
    hooks: tuple[str, ...] = field(default=())
    #: issue 19: 1p/3p switching through the box's firmware (None: it cannot)
    phase_switch: PhaseSwitch | None = None

    def register(self, name: str) -> Register:
        return self.registers[name]

    def prerequisites_hint(self) -> str:
        if not self.prerequisites:
            return ""
        return "check on the box: " + "; ".join(self.prerequisites)
