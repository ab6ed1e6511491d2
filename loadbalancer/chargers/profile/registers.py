"""Reading a charger profile's ``transport`` and ``registers`` sections, and checking every
reference to a register by name (that it exists, can be read or written, is in the right unit).
"""

from __future__ import annotations

from typing import Any, cast

from loadbalancer.chargers.codec import DATA_TYPES, WORD_ORDERS, Codec, DataType, WordOrder
from loadbalancer.chargers.profile.model import (
    MODBUS_MAX_READ_REGISTERS,
    UNITS,
    Access,
    Register,
    Table,
    Transport,
)
from loadbalancer.yamlcheck import YamlReader, kind_of

_TRANSPORT_KEYS = {
    "port",
    "unit_id",
    "word_order",
    "max_block_registers",
    "single_register_reads",
    "min_request_interval_s",
    "min_write_interval_s",
    "max_masters",
}
_REGISTER_KEYS = {
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


class RegisterReader(YamlReader):
    """Reads the registers of one profile and answers for references to them by name."""

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

    def transport(self, value: object) -> Transport:
        spec = self.mapping(value, "transport", _TRANSPORT_KEYS)
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

    def read_registers(self, value: object) -> None:
        """The ``registers`` section, into :attr:`registers` (in the file's order)."""
        registers = self.mapping(value, "registers", set(_strings(value)))
        if not registers:
            raise self.fail("registers", "no registers")
        for name, spec in registers.items():
            self.registers[name] = self.register(name, spec, f"registers.{name}")

    def register(self, name: str, value: object, path: str) -> Register:
        spec = self.mapping(value, path, _REGISTER_KEYS, {"address", "type"})
        data_type = cast(DataType, self.choice(spec["type"], f"{path}.type", DATA_TYPES, "type"))
        length = self._length(spec, path, data_type)
        table, access = self._table_and_access(spec, path)
        words = Codec(data_type, length=length).words
        write_fc = self._write_fc(spec, path, access, data_type, words)
        address = self.integer(spec["address"], f"{path}.address", 0, 65535)
        if address + words - 1 > 65535:
            raise self.fail(f"{path}.address", "the value runs past register 65535")
        codec = self._codec(spec, path, data_type, length)
        unit = spec.get("unit", "")
        self.choice(unit, f"{path}.unit", UNITS, "unit")
        self._check_overlap(name, address, words, table, path)
        return Register(name, address, table, codec, unit, access, write_fc)

    def _length(self, spec: dict[str, Any], path: str, data_type: DataType) -> int:
        """A string's length in registers (required); other types have none (0)."""
        if data_type != "string":
            if "length" in spec:
                raise self.fail(f"{path}.length", f"only a string has a length, not a {data_type}")
            return 0
        if "length" not in spec:
            raise self.fail(f"{path}.length", "missing (a string needs its length in registers)")
        return self.integer(spec.get("length"), f"{path}.length", 1, 64)

    def _table_and_access(self, spec: dict[str, Any], path: str) -> tuple[Table, Access]:
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
        return table, access

    def _write_fc(
        self, spec: dict[str, Any], path: str, access: Access, data_type: DataType, words: int
    ) -> int:
        """The write function code: 6 (one register) or 16 (several); 0 for a read-only one."""
        if "w" not in access:
            if "write_fc" in spec:
                raise self.fail(
                    f"{path}.write_fc", "a read-only register has no write function code"
                )
            return 0
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
        return write_fc

    def _codec(self, spec: dict[str, Any], path: str, data_type: DataType, length: int) -> Codec:
        scale = self.number(spec.get("scale", 1.0), f"{path}.scale")
        if scale <= 0:
            raise self.fail(f"{path}.scale", "must be positive")
        missing = spec.get("missing", [])
        if not isinstance(missing, list):
            raise self.fail(
                f"{path}.missing", f"expected a list of raw values, got {kind_of(missing)}"
            )
        word_order = self.choice(
            spec.get("word_order", self.word_order), f"{path}.word_order", WORD_ORDERS, "word order"
        )
        return Codec(
            data_type,
            word_order=cast(WordOrder, word_order),
            scale=scale,
            length=length,
            missing=frozenset(
                self.integer(raw, f"{path}.missing[{i}]", -(2**31), 2**32 - 1)
                for i, raw in enumerate(missing)
            ),
        )

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


def _strings(value: object) -> list[str]:
    """Keys of a mapping that are text (register names); anything else is rejected later."""
    return [key for key in value if isinstance(key, str)] if isinstance(value, dict) else []
