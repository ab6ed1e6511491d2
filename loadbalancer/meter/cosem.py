"""DLMS/COSEM values as HAN meters push them (A-XDR encoded ``Data``), and their date-times.

Pure functions over bytes; everything malformed raises :class:`DecodeError`.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import TypeAlias

from loadbalancer.errors import DecodeError

#: A decoded value: arrays and structures become tuples, octet strings bytes, visible and UTF-8
#: strings str; integers, enums and BCD int; floats float; null-data None.
CosemValue: TypeAlias = "bool | int | float | bytes | str | tuple[CosemValue, ...] | None"

#: Nesting deeper than this is no meter list (and would only feed a recursion bomb).
MAX_DEPTH = 8

_FIXED: dict[int, struct.Struct] = {
    0x05: struct.Struct(">i"),  # double-long
    0x06: struct.Struct(">I"),  # double-long-unsigned
    0x0F: struct.Struct(">b"),  # integer
    0x10: struct.Struct(">h"),  # long
    0x11: struct.Struct(">B"),  # unsigned
    0x12: struct.Struct(">H"),  # long-unsigned
    0x14: struct.Struct(">q"),  # long64
    0x15: struct.Struct(">Q"),  # long64-unsigned
    0x16: struct.Struct(">B"),  # enum
    0x17: struct.Struct(">f"),  # float32
    0x18: struct.Struct(">d"),  # float64
    0x0D: struct.Struct(">B"),  # bcd
}
#: Tags whose value is a signed number (a meter sending a current this way gives its sign).
SIGNED_TAGS = frozenset({0x05, 0x0F, 0x10, 0x14, 0x17, 0x18})
_DATE_TIME, _DATE, _TIME = 0x19, 0x1A, 0x1B
_DATE_TIME_SIZES = {_DATE_TIME: 12, _DATE: 5, _TIME: 4}


def read_length(data: bytes, at: int) -> tuple[int, int]:
    """An A-XDR length at ``at`` (one byte, or 0x8N and N bytes); returns (length, next index)."""
    if at >= len(data):
        raise DecodeError("the data ends inside a length")
    first = data[at]
    if first < 0x80:
        return first, at + 1
    size = first & 0x7F
    if not 1 <= size <= 4 or at + 1 + size > len(data):
        raise DecodeError(f"bad length encoding 0x{first:02X} at byte {at}")
    return int.from_bytes(data[at + 1 : at + 1 + size], "big"), at + 1 + size


#: A decoded value with its type tag; arrays and structures hold their elements as nodes.
Node: TypeAlias = "tuple[int, CosemValue | tuple[Node, ...]]"


def read_data(data: bytes, at: int, depth: int = 0) -> tuple[Node, int]:
    """One ``Data`` value at ``at``; returns (its node, next index)."""
    if at >= len(data):
        raise DecodeError("the data ends where a value should start")
    tag = data[at]
    at += 1
    fixed = _FIXED.get(tag)
    if fixed is not None:
        end = at + fixed.size
        if end > len(data):
            raise DecodeError(f"the data ends inside a value of type 0x{tag:02X}")
        number: int | float = fixed.unpack_from(data, at)[0]
        return (tag, number), end
    if tag in (0x01, 0x02):  # array, structure
        return _read_container(data, tag, at, depth)
    if tag in (0x09, 0x0A, 0x0C, 0x04):  # octet-, visible-, utf8-, bit-string
        return _read_string(data, tag, at)
    if tag == 0x00:
        return (tag, None), at
    if tag == 0x03:
        if at >= len(data):
            raise DecodeError("the data ends inside a boolean")
        return (tag, data[at] != 0), at + 1
    size = _DATE_TIME_SIZES.get(tag)
    if size is not None:
        end = at + size
        if end > len(data):
            raise DecodeError("the data ends inside a date or time")
        return (tag, data[at:end]), end
    raise DecodeError(f"unknown data type 0x{tag:02X} at byte {at - 1}")


def _read_container(data: bytes, tag: int, at: int, depth: int) -> tuple[Node, int]:
    """An array or structure whose tag was at ``at - 1``: its count, then its elements."""
    if depth >= MAX_DEPTH:
        raise DecodeError(f"values nested deeper than {MAX_DEPTH}")
    count, at = read_length(data, at)
    if count > len(data) - at:  # every element takes at least one byte
        raise DecodeError(f"{count} elements announced, {len(data) - at} bytes left")
    items: list[Node] = []
    for _ in range(count):
        item, at = read_data(data, at, depth + 1)
        items.append(item)
    return (tag, tuple(items)), at


def _read_string(data: bytes, tag: int, at: int) -> tuple[Node, int]:
    """An octet-, visible-, UTF-8 or bit-string whose tag was at ``at - 1``."""
    size, at = read_length(data, at)
    if tag == 0x04:
        size = (size + 7) // 8
    end = at + size
    if end > len(data):
        raise DecodeError(f"a {size}-byte string runs past the end of the data")
    raw = data[at:end]
    if tag == 0x0A:
        return (tag, raw.decode("latin-1")), end
    if tag == 0x0C:
        return (tag, raw.decode("utf-8", errors="replace")), end
    return (tag, raw), end


def is_container(node: Node) -> bool:
    """An array or a structure."""
    return node[0] in (0x01, 0x02)


def value_of(node: Node) -> CosemValue:
    """The plain value of a node: containers become tuples of plain values."""
    tag, payload = node
    if tag in (0x01, 0x02):
        assert isinstance(payload, tuple)
        return tuple(value_of(child) for child in payload)  # type: ignore[arg-type]
    return payload


def read_date_time(raw: bytes) -> datetime | None:
    """A 12-byte COSEM date-time; None when it is not one or leaves the time unspecified.

    The deviation is minutes from local time to UTC (-60 = UTC+01:00); 0x8000 = not
    specified, and then the result is naive rather than carrying a made-up offset.
    """
    if len(raw) != 12:
        return None
    year = int.from_bytes(raw[0:2], "big")
    month, day, _weekday, hour, minute, second = raw[2:8]
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    if year == 0xFFFF or 0xFF in (month, day, hour, minute):
        return None
    if second == 0xFF:
        second = 0
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if deviation == -0x8000 or not -720 <= deviation <= 840:
        return naive
    return naive.replace(tzinfo=timezone(timedelta(minutes=-deviation)))


def obis_text(code: bytes) -> str:
    """``0100010700FF`` -> ``1-0:1.7.0.255``."""
    a, b, c, d, e, f = code
    return f"{a}-{b}:{c}.{d}.{e}.{f}"
