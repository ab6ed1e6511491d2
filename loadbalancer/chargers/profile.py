"""Charger profiles (SPEC §4.3): a declarative YAML file per wallbox model, validated on load.

A profile says where each value lives (address, table, type, word order, scale, unit), which
register takes the current limit and how a pause is expressed, which registers read back the
car's status and currents, how the box's own failsafe works and what keep-alive it needs,
what to write at start-up, and what the user must set on the box first. Anything procedural is
a named hook (:mod:`loadbalancer.chargers.hooks`). Every problem is a ``ConfigError`` naming the
file and the key path, e.g. ``alfen-eve.yaml: registers.setpoint.type: unknown type 'uint12'``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from loadbalancer.chargers.codec import (
    DATA_TYPES,
    WORD_ORDERS,
    Codec,
    DataType,
    WordOrder,
    quantise_down,
)
from loadbalancer.chargers.hooks import HOOKS
from loadbalancer.errors import ConfigError
from loadbalancer.resources import bundled_profile, unknown_profile
from loadbalancer.yamlcheck import YamlReader, kind_of, parse_yaml, read_text_file

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
    """What the box does by itself when the controller goes quiet (chargers.md §3.1-3.2)."""

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

    def register(self, name: str) -> Register:
        return self.registers[name]

    def prerequisites_hint(self) -> str:
        if not self.prerequisites:
            return ""
        return "check on the box: " + "; ".join(self.prerequisites)


# --------------------------------------------------------------------------------------------
# Loading


def load_profile(name_or_path: str) -> ChargerProfile:
    """A bundled profile by name (``alfen-eve``) or a profile file by path."""
    bundled = bundled_profile("chargers", name_or_path)
    if bundled is not None:
        return parse_profile(bundled.read_text(encoding="utf-8"), f"{name_or_path}.yaml")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return parse_profile(read_text_file(path, "charger profile"), str(path))
    raise ConfigError(name_or_path, "", unknown_profile("chargers", name_or_path, "charger"))


def parse_profile(text: str, file: str) -> ChargerProfile:
    """Parse and validate one profile's YAML text; ``file`` names it in errors."""
    return _Parser(file).profile(parse_yaml(text, file))


_TOP_KEYS = {
    "name",
    "vendor",
    "models",
    "sources",
    "verified_on_hardware",
    "transport",
    "registers",
    "setpoint",
    "readings",
    "failsafe",
    "keep_alive",
    "startup",
    "prerequisites",
    "hooks",
}
_REQUIRED_TOP = {"name", "vendor", "sources", "transport", "registers", "setpoint", "readings"}


class _Parser(YamlReader):
    """Walks the YAML tree with the key path at hand, so every error says where it is."""

    def __init__(self, file: str) -> None:
        super().__init__(file)
        self.registers: dict[str, Register] = {}
        self.word_order: WordOrder = "big"

    def register_name(
        self,
        value: object,
        path: str,
        *,
        readable: bool = False,
        writable: bool = False,
        unit: str | None = None,
    ) -> str:
        name = self.text(value, path)
        register = self.registers.get(name)
        if register is None:
            raise self.fail(path, f"no register named {name!r} under registers")
        if readable and not register.readable:
            raise self.fail(path, f"register {name!r} is write-only (access: {register.access})")
        if writable and not register.writable:
            raise self.fail(path, f"register {name!r} is read-only (access: {register.access})")
        if unit is not None and register.unit != unit:
            raise self.fail(
                path, f"register {name!r} must be in {unit} (it says {register.unit!r})"
            )
        return name

    # ---- sections --------------------------------------------------------------------------

    def profile(self, data: object) -> ChargerProfile:
        top = self.mapping(data, "", _TOP_KEYS, _REQUIRED_TOP)
        transport = self.transport(top["transport"])
        registers = self.mapping(top["registers"], "registers", set(_strings(top["registers"])))
        if not registers:
            raise self.fail("registers", "no registers")
        for name, spec in registers.items():
            self.registers[name] = self.register(name, spec, f"registers.{name}", transport)
        setpoint = self.setpoint(top["setpoint"])
        readings = self.readings(top["readings"])
        failsafe = self.failsafe(top.get("failsafe", {"trigger": "none"}))
        keep_alive = self.keep_alive(top.get("keep_alive", {"action": "none"}), failsafe)
        hooks = self.hooks(top.get("hooks", []), keep_alive)
        startup = self.startup(top.get("startup", []))
        models = self.texts(top.get("models", []), "models")
        prerequisites = self.texts(top.get("prerequisites", []), "prerequisites")
        return ChargerProfile(
            name=self.text(top["name"], "name"),
            file=self.file,
            vendor=self.text(top["vendor"], "vendor"),
            models=models,
            sources=self.texts(top["sources"], "sources"),
            verified_on_hardware=self.flag(
                top.get("verified_on_hardware", False), "verified_on_hardware"
            ),
            transport=transport,
            registers=dict(self.registers),
            setpoint=setpoint,
            readings=readings,
            failsafe=failsafe,
            keep_alive=keep_alive,
            startup=startup,
            prerequisites=prerequisites,
            hooks=hooks,
        )

    def transport(self, value: object) -> Transport:
        allowed = {
            "port",
            "unit_id",
            "word_order",
            "max_block_registers",
            "single_register_reads",
            "min_request_interval_s",
            "min_write_interval_s",
            "max_masters",
        }
        spec = self.mapping(value, "transport", allowed)
        self.word_order = cast(
            WordOrder,
            self.choice(
                spec.get("word_order", "big"), "transport.word_order", WORD_ORDERS, "word order"
            ),
        )
        max_masters = spec.get("max_masters")
        return Transport(
            port=self.integer(spec.get("port", 502), "transport.port", 1, 65535),
            unit_id=self.integer(spec.get("unit_id", 1), "transport.unit_id", 0, 255),
            max_block_registers=self.integer(
                spec.get("max_block_registers", MODBUS_MAX_READ_REGISTERS),
                "transport.max_block_registers",
                1,
                MODBUS_MAX_READ_REGISTERS,
            ),
            single_register_reads=self.flag(
                spec.get("single_register_reads", False), "transport.single_register_reads"
            ),
            min_request_interval_s=self.number(
                spec.get("min_request_interval_s", 0.0),
                "transport.min_request_interval_s",
                0.0,
                10.0,
            ),
            min_write_interval_s=self.number(
                spec.get("min_write_interval_s", 0.0),
                "transport.min_write_interval_s",
                0.0,
                60.0,
            ),
            max_masters=None
            if max_masters is None
            else self.integer(max_masters, "transport.max_masters", 1, 255),
        )

    def register(self, name: str, value: object, path: str, transport: Transport) -> Register:
        allowed = {
            "address",
            "table",
            "type",
            "length",
            "word_order",
            "scale",
            "unit",
            "access",
            "write_fc",
            "missing",
        }
        spec = self.mapping(value, path, allowed, {"address", "type"})
        data_type = cast(DataType, self.choice(spec["type"], f"{path}.type", DATA_TYPES, "type"))
        if data_type == "string":
            length = (
                self.integer(spec.get("length"), f"{path}.length", 1, 64)
                if "length" in spec
                else None
            )
            if length is None:
                raise self.fail(
                    f"{path}.length", "missing (a string needs its length in registers)"
                )
        elif "length" in spec:
            raise self.fail(f"{path}.length", f"only a string has a length, not a {data_type}")
        else:
            length = 0
        table = cast(
            Table,
            self.choice(
                spec.get("table", "holding"), f"{path}.table", ("holding", "input"), "table"
            ),
        )
        default_access = "r" if table == "input" else "rw"
        access = cast(
            Access,
            self.choice(
                spec.get("access", default_access), f"{path}.access", ("r", "w", "rw"), "access"
            ),
        )
        if table == "input" and access != "r":
            raise self.fail(f"{path}.access", "input registers are read-only")
        words = Codec(data_type, length=length).words
        write_fc = 0
        if "w" in access:
            write_fc = self.integer(
                spec.get("write_fc", 6 if words == 1 else 16), f"{path}.write_fc", 6, 16
            )
            if write_fc not in (6, 16):
                raise self.fail(
                    f"{path}.write_fc", f"{write_fc} is not a write function code (6 or 16)"
                )
            if write_fc == 6 and words != 1:
                raise self.fail(
                    f"{path}.write_fc",
                    f"function 6 writes one register; a {data_type} takes {words}",
                )
        elif "write_fc" in spec:
            raise self.fail(f"{path}.write_fc", "a read-only register has no write function code")
        address = self.integer(spec["address"], f"{path}.address", 0, 65535)
        if address + words - 1 > 65535:
            raise self.fail(f"{path}.address", "the value runs past register 65535")
        scale = self.number(spec.get("scale", 1.0), f"{path}.scale")
        if scale <= 0:
            raise self.fail(f"{path}.scale", "must be positive")
        missing = spec.get("missing", [])
        if not isinstance(missing, list):
            raise self.fail(
                f"{path}.missing", f"expected a list of raw values, got {kind_of(missing)}"
            )
        codec = Codec(
            data_type,
            word_order=cast(
                WordOrder,
                self.choice(
                    spec.get("word_order", self.word_order),
                    f"{path}.word_order",
                    WORD_ORDERS,
                    "word order",
                ),
            ),
            scale=scale,
            length=length,
            missing=frozenset(
                self.integer(raw, f"{path}.missing[{i}]", -(2**31), 2**32 - 1)
                for i, raw in enumerate(missing)
            ),
        )
        unit = spec.get("unit", "")
        self.choice(unit, f"{path}.unit", UNITS, "unit")
        self._check_overlap(name, address, words, table, path)
        return Register(name, address, table, codec, unit, access, write_fc)

    def _check_overlap(self, name: str, address: int, words: int, table: str, path: str) -> None:
        for other in self.registers.values():
            if (
                other.table == table
                and address < other.address + other.words
                and other.address < address + words
            ):
                raise self.fail(
                    f"{path}.address", f"overlaps register {other.name!r} ({table} {other.address})"
                )

    def setpoint(self, value: object) -> Setpoint:
        spec = self.mapping(
            value,
            "setpoint",
            {"register", "granularity_a", "min_a", "max_a", "pause"},
            {"register", "granularity_a", "min_a", "max_a", "pause"},
        )
        name = self.register_name(spec["register"], "setpoint.register", writable=True, unit="A")
        register = self.registers[name]
        granularity = self.number(spec["granularity_a"], "setpoint.granularity_a", 0.001, 1.0)
        if register.codec.raw_range() is not None:
            steps = granularity / register.codec.scale
            if abs(steps - round(steps)) > 1e-9:
                raise self.fail(
                    "setpoint.granularity_a",
                    f"{granularity:g} A is not a whole number of register steps "
                    f"({register.codec.scale:g} A)",
                )
        min_a = self.number(spec["min_a"], "setpoint.min_a", 0.0, 80.0)
        max_a = self.number(spec["max_a"], "setpoint.max_a", min_a, 80.0)
        bounds = register.codec.raw_range()
        if bounds is not None and not bounds[0] <= max_a <= bounds[1]:
            raise self.fail("setpoint.max_a", f"{max_a:g} A does not fit register {name!r}")
        return Setpoint(name, granularity, min_a, max_a, self.pause(spec["pause"]))

    def pause(self, value: object) -> Pause:
        if value == "zero" or value == "none":
            return Pause(value)
        if isinstance(value, str):
            raise self.fail(
                "setpoint.pause",
                f"unknown pause {value!r} "
                "(zero, none, or a mapping with register, enable_value, disable_value)",
            )
        spec = self.mapping(
            value, "setpoint.pause", {"register", "enable_value", "disable_value"}, {"register"}
        )
        return Pause(
            "register",
            self.register_name(spec["register"], "setpoint.pause.register", writable=True),
            self.number(spec.get("enable_value", 1), "setpoint.pause.enable_value"),
            self.number(spec.get("disable_value", 0), "setpoint.pause.disable_value"),
        )

    def readings(self, value: object) -> Readings:
        spec = self.mapping(
            value,
            "readings",
            {"current_a", "status", "limit_a", "phases", "max_current_a"},
            {"current_a", "status"},
        )
        currents = spec["current_a"]
        if not isinstance(currents, list) or len(currents) != 3:
            raise self.fail(
                "readings.current_a",
                "expected a list of three register names (the charger's phases 1, 2, 3)",
            )
        current_names = tuple(
            self.register_name(item, f"readings.current_a[{i}]", readable=True, unit="A")
            for i, item in enumerate(currents)
        )
        status_spec = self.mapping(
            spec["status"],
            "readings.status",
            {"register", "map", "shift", "mask", "override"},
            {"register", "map"},
        )
        override = None
        if "override" in status_spec:
            override_spec = self.mapping(
                status_spec["override"],
                "readings.status.override",
                {"register", "map", "shift", "mask"},
                {"register", "map"},
            )
            override = self.code_map(override_spec, "readings.status.override", IEC_LETTERS)
        status = StatusMap(self.code_map(status_spec, "readings.status", IEC_LETTERS), override)
        phases = None
        if "phases" in spec:
            phases_spec = self.mapping(
                spec["phases"],
                "readings.phases",
                {"register", "map", "shift", "mask"},
                {"register", "map"},
            )
            phases = self.code_map(phases_spec, "readings.phases", ("1", "2", "3"))
        limit = spec.get("limit_a")
        maximum = spec.get("max_current_a")
        return Readings(
            current_names,
            status,
            None
            if limit is None
            else self.register_name(limit, "readings.limit_a", readable=True, unit="A"),
            phases,
            None
            if maximum is None
            else self.register_name(maximum, "readings.max_current_a", readable=True, unit="A"),
        )

    def code_map(self, spec: dict[str, Any], path: str, meanings: tuple[str, ...]) -> CodeMap:
        name = self.register_name(spec["register"], f"{path}.register", readable=True)
        register = self.registers[name]
        if register.codec.scale != 1.0:
            raise self.fail(f"{path}.register", f"codes are raw values: {name!r} must have scale 1")
        raw_map = spec["map"]
        if not isinstance(raw_map, dict) or not raw_map:
            raise self.fail(f"{path}.map", "expected a mapping of meaning -> list of raw values")
        codes: list[tuple[str, tuple[RawCode, ...]]] = []
        seen: dict[RawCode, str] = {}
        for key, raws in raw_map.items():
            meaning = str(key)
            key_path = f"{path}.map.{meaning}"
            if meaning not in meanings:
                raise self.fail(
                    key_path, f"unknown meaning {meaning!r} (one of: {', '.join(meanings)})"
                )
            if not isinstance(raws, list) or not raws:
                raise self.fail(key_path, "expected a non-empty list of raw values")
            checked: list[RawCode] = []
            for i, raw in enumerate(raws):
                if register.codec.data_type == "string":
                    checked.append(self.text(raw, f"{key_path}[{i}]"))
                elif register.codec.raw_range() is not None:
                    checked.append(self.integer(raw, f"{key_path}[{i}]", -(2**31), 2**32 - 1))
                else:
                    raise self.fail(
                        f"{path}.register",
                        "a code map needs an integer or string register, "
                        f"{name!r} is {register.codec.data_type}",
                    )
                if checked[-1] in seen:
                    raise self.fail(
                        f"{key_path}[{i}]",
                        f"{checked[-1]!r} is already mapped to {seen[checked[-1]]}",
                    )
                seen[checked[-1]] = meaning
            codes.append((meaning, tuple(checked)))
        mask = spec.get("mask")
        return CodeMap(
            name,
            tuple(codes),
            shift=self.integer(spec.get("shift", 0), f"{path}.shift", 0, 31),
            mask=None if mask is None else self.integer(mask, f"{path}.mask", 1, 2**32 - 1),
        )

    def failsafe(self, value: object) -> Failsafe:
        spec = self.mapping(
            value, "failsafe", {"trigger", "current", "timeout", "note"}, {"trigger"}
        )
        trigger = cast(
            FailsafeTrigger,
            self.choice(
                spec["trigger"], "failsafe.trigger", get_args(FailsafeTrigger), "failsafe trigger"
            ),
        )
        current = (
            None
            if "current" not in spec
            else self.failsafe_value(spec["current"], "failsafe.current", "A")
        )
        timeout = (
            None
            if "timeout" not in spec
            else self.failsafe_value(spec["timeout"], "failsafe.timeout", "s")
        )
        if trigger != "none" and timeout is None:
            raise self.fail("failsafe.timeout", f"missing (a {trigger} failsafe has a timeout)")
        note = spec.get("note", "")
        return Failsafe(trigger, current, timeout, self.text(note, "failsafe.note") if note else "")

    def failsafe_value(self, value: object, path: str, unit: str) -> FailsafeValue:
        default_key = f"default_{unit.lower()}"
        spec = self.mapping(
            value,
            path,
            {"register", "readback", f"min_{unit.lower()}", f"max_{unit.lower()}", default_key},
        )
        register = (
            None
            if "register" not in spec
            else self.register_name(spec["register"], f"{path}.register", unit=unit)
        )
        readback = (
            None
            if "readback" not in spec
            else self.register_name(spec["readback"], f"{path}.readback", readable=True, unit=unit)
        )
        if readback is None and register is not None and self.registers[register].readable:
            readback = register
        default = (
            None
            if default_key not in spec
            else self.number(spec[default_key], f"{path}.{default_key}", 0.0)
        )
        if register is None and default is None:
            raise self.fail(path, f"needs a register or a {default_key}")
        low_key, high_key = f"min_{unit.lower()}", f"max_{unit.lower()}"
        return FailsafeValue(
            register,
            readback,
            None if low_key not in spec else self.number(spec[low_key], f"{path}.{low_key}", 0.0),
            None
            if high_key not in spec
            else self.number(spec[high_key], f"{path}.{high_key}", 0.0),
            default,
        )

    def keep_alive(self, value: object, failsafe: Failsafe) -> KeepAlive:
        allowed = {
            "action",
            "register",
            "value",
            "fraction_of_timeout",
            "max_interval_s",
            "min_interval_s",
        }
        spec = self.mapping(value, "keep_alive", allowed, {"action"})
        action = cast(
            KeepAliveAction,
            self.choice(
                spec["action"], "keep_alive.action", get_args(KeepAliveAction), "keep-alive action"
            ),
        )
        register = None
        keep_value: float | None = None
        if action in ("write", "read"):
            if "register" not in spec:
                raise self.fail(
                    "keep_alive.register", f"missing (a {action} keep-alive names its register)"
                )
            register = self.register_name(
                spec["register"],
                "keep_alive.register",
                readable=action == "read",
                writable=action == "write",
            )
        elif "register" in spec:
            raise self.fail("keep_alive.register", f"a {action} keep-alive has no register")
        if action == "write":
            raw_value = spec.get("value")
            if raw_value == "failsafe_timeout":
                keep_value = None
            elif raw_value is None:
                raise self.fail("keep_alive.value", "missing (a number, or failsafe_timeout)")
            else:
                keep_value = self.number(raw_value, "keep_alive.value")
        elif "value" in spec:
            raise self.fail("keep_alive.value", f"a {action} keep-alive writes no value")
        if action == "none" and failsafe.trigger not in ("none", "any_request"):
            raise self.fail(
                "keep_alive.action", f"a {failsafe.trigger} failsafe needs a keep-alive"
            )
        if (
            action == "write"
            and keep_value is None
            and (failsafe.timeout is None or failsafe.timeout.register is None)
        ):
            raise self.fail("keep_alive.value", "failsafe_timeout needs failsafe.timeout.register")
        max_interval = spec.get("max_interval_s")
        return KeepAlive(
            action,
            register,
            keep_value,
            self.number(
                spec.get("fraction_of_timeout", 0.5), "keep_alive.fraction_of_timeout", 0.01, 0.5
            ),
            None
            if max_interval is None
            else self.number(max_interval, "keep_alive.max_interval_s", 0.1),
            self.number(spec.get("min_interval_s", 1.0), "keep_alive.min_interval_s", 0.0),
        )

    def hooks(self, value: object, keep_alive: KeepAlive) -> tuple[str, ...]:
        names = self.texts(value, "hooks")
        for i, name in enumerate(names):
            hook = HOOKS.get(name)
            if hook is None:
                raise self.fail(
                    f"hooks[{i}]", f"unknown hook {name!r} (known: {', '.join(sorted(HOOKS))})"
                )
            if hook.keep_alive is not None and (
                keep_alive.action != "write" or keep_alive.value is None
            ):
                raise self.fail(
                    f"hooks[{i}]", f"hook {name!r} replaces a write keep-alive with a value"
                )
        return names

    def startup(self, value: object) -> tuple[StartupWrite, ...]:
        if not isinstance(value, list):
            raise self.fail("startup", f"expected a list of writes, got {kind_of(value)}")
        writes = []
        for i, item in enumerate(value):
            spec = self.mapping(item, f"startup[{i}]", {"register", "value"}, {"register", "value"})
            writes.append(
                StartupWrite(
                    self.register_name(spec["register"], f"startup[{i}].register", writable=True),
                    self.number(spec["value"], f"startup[{i}].value"),
                )
            )
        return tuple(writes)


def _strings(value: object) -> list[str]:
    """Keys of a mapping that are text (register names); anything else is rejected later."""
    return [key for key in value if isinstance(key, str)] if isinstance(value, dict) else []
