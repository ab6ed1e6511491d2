"""Register codecs: engineering values to Modbus words and back. Pure functions, no I/O.

A Modbus register is one 16-bit word, sent big-endian (the standard). Wider values span
several consecutive words whose order is the device's choice: ``big`` = high word first (ABCD),
``little`` = low word first (CDAB). Strings carry two characters per word, high byte first.
Engineering value = raw value x ``scale`` (e.g. raw mA x 0.001 = A).

Scaling and rounding use decimal arithmetic on the shortest repr of a float, so 10.3 A at a
0.1 A step is 103 steps, not 102.99999.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Literal, get_args

from loadbalancer.errors import ChargerBadValue

DataType = Literal["uint16", "int16", "uint32", "int32", "float32", "float64", "string"]
WordOrder = Literal["big", "little"]
Value = float | str | None

DATA_TYPES: tuple[str, ...] = get_args(DataType)
WORD_ORDERS: tuple[str, ...] = get_args(WordOrder)

#: words per value and struct format of each numeric type (big-endian bytes)
_NUMERIC: dict[str, tuple[int, str]] = {
    "uint16": (1, ">H"),
    "int16": (1, ">h"),
    "uint32": (2, ">I"),
    "int32": (2, ">i"),
    "float32": (2, ">f"),
    "float64": (4, ">d"),
}
#: raw values a box sends for "not available" when its profile declares no ``missing`` list: all
#: bits set for unsigned types, the lowest value for signed ones (SunSpec's convention, and what
#: KEBA, ABB and Phoenix boxes send for an absent value)
SENTINELS: dict[str, int] = {
    "uint16": 0xFFFF,
    "int16": -0x8000,
    "uint32": 0xFFFF_FFFF,
    "int32": -0x8000_0000,
}
#: a decoded float beyond this magnitude (raw, before scale) is no measurement: 3e38 A, 1e300 Wh
FLOAT_PLAUSIBLE_MAX = 1e9
_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "uint16": (0, 0xFFFF),
    "int16": (-0x8000, 0x7FFF),
    "uint32": (0, 0xFFFF_FFFF),
    "int32": (-0x8000_0000, 0x7FFF_FFFF),
}


def is_integer_type(data_type: DataType) -> bool:
    return data_type in _INTEGER_RANGES


def words_of(data_type: DataType, length: int = 0) -> int:
    """How many 16-bit registers one value takes (``length`` is the string's register count)."""
    return length if data_type == "string" else _NUMERIC[data_type][0]


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class Codec:
    """How one register's value is laid out on the wire."""

    data_type: DataType
    word_order: WordOrder = "big"
    scale: float = 1.0
    length: int = 0  # registers, strings only
    #: raw values that mean "not available" (e.g. 0xFFFFFFFF on Bender), decoded as None; when
    #: empty, the type's sentinel (``SENTINELS``) means "not available"
    missing: frozenset[int] = frozenset()

    @property
    def words(self) -> int:
        return words_of(self.data_type, self.length)

    def is_missing(self, raw: int) -> bool:
        """Whether an integer raw value means "not available" on this register."""
        if self.missing:
            return raw in self.missing
        return raw == SENTINELS.get(self.data_type)

    def raw_range(self) -> tuple[float, float] | None:
        """The engineering range an integer type can carry, or None (floats, strings)."""
        bounds = _INTEGER_RANGES.get(self.data_type)
        if bounds is None:
            return None
        ends = sorted(from_raw(bound, self.scale) for bound in bounds)
        return ends[0], ends[1]

    def encode(self, value: float | str) -> tuple[int, ...]:
        """Engineering value -> register words; ChargerBadValue when it does not fit."""
        if self.data_type == "string":
            if not isinstance(value, str):
                raise ChargerBadValue(f"expected text for a string register, got {value!r}")
            return encode_string(value, self.length)
        if isinstance(value, str):
            raise ChargerBadValue(f"expected a number for a {self.data_type} register")
        return encode_number(
            self.data_type, to_raw(self.data_type, value, self.scale), self.word_order
        )

    def decode(self, words: tuple[int, ...] | list[int]) -> Value:
        """Register words -> engineering value; None for "not available": a ``missing`` raw value
        (else the type's all-ones sentinel), a NaN or infinite float, or one beyond any
        measurement (``FLOAT_PLAUSIBLE_MAX``)."""
        if len(words) != self.words:
            raise ChargerBadValue(f"expected {self.words} registers, got {len(words)}")
        if self.data_type == "string":
            return decode_string(words)
        raw = decode_number(self.data_type, words, self.word_order)
        if isinstance(raw, int) and self.is_missing(raw):
            return None
        if isinstance(raw, float):
            if not math.isfinite(raw) or abs(raw) > FLOAT_PLAUSIBLE_MAX:
                return None
            if self.data_type == "float32":
                raw = shortest_float32(raw)
        return from_raw(raw, self.scale)


def to_raw(data_type: DataType, value: float, scale: float) -> int | float:
    """Engineering -> raw: integers rounded half-even to the nearest raw step, range checked."""
    if not math.isfinite(value) and data_type not in ("float32", "float64"):
        raise ChargerBadValue(f"{value!r} cannot be written to a {data_type} register")
    if data_type in ("float32", "float64"):
        return value / scale if scale != 1.0 else float(value)
    raw = int((_decimal(value) / _decimal(scale)).to_integral_value(rounding=ROUND_HALF_EVEN))
    low, high = _INTEGER_RANGES[data_type]
    if not low <= raw <= high:
        raise ChargerBadValue(
            f"{value:g} is outside what a {data_type} register with scale {scale:g} holds"
        )
    return raw


def from_raw(raw: int | float, scale: float) -> float:
    """Raw -> engineering value."""
    if isinstance(raw, int):
        return float(Decimal(raw) * _decimal(scale))
    return raw * scale if scale != 1.0 else float(raw)


def encode_number(data_type: DataType, raw: int | float, word_order: WordOrder) -> tuple[int, ...]:
    count, fmt = _NUMERIC[data_type]
    try:
        packed = struct.pack(fmt, raw)
    except (struct.error, OverflowError) as exc:
        raise ChargerBadValue(f"{raw!r} does not fit a {data_type} register") from exc
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 2 * count, 2)]
    if word_order == "little":
        words.reverse()
    return tuple(words)


def decode_number(
    data_type: DataType, words: tuple[int, ...] | list[int], word_order: WordOrder
) -> int | float:
    _count, fmt = _NUMERIC[data_type]
    ordered = list(words) if word_order == "big" else list(reversed(words))
    packed = b"".join(word.to_bytes(2, "big") for word in ordered)
    value: int | float = struct.unpack(fmt, packed)[0]
    return value


def shortest_float32(value: float) -> float:
    """The shortest decimal that is the same float32 (10.300000190734863 -> 10.3)."""
    if not math.isfinite(value):
        return value
    packed = struct.pack(">f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        try:
            if struct.pack(">f", candidate) == packed:
                return candidate
        except OverflowError:
            continue
    return value


def encode_string(text: str, length: int) -> tuple[int, ...]:
    """Two characters per register, high byte first, NUL padded."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ChargerBadValue(f"{text!r} is not ASCII") from exc
    if len(data) > 2 * length:
        raise ChargerBadValue(f"{text!r} is longer than {2 * length} characters")
    data = data.ljust(2 * length, b"\0")
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def decode_string(words: tuple[int, ...] | list[int]) -> str:
    data = b"".join(word.to_bytes(2, "big") for word in words)
    return data.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()


def quantise_down(value: float, step: float) -> float:
    """The largest multiple of ``step`` that is not above ``value`` (decimal steps)."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step!r}")
    steps = (_decimal(value) / _decimal(step)).to_integral_value(rounding=ROUND_FLOOR)
    return float(steps * _decimal(step))
