"""Typed meter readings: what every meter parser returns and everything downstream consumes.

Currents here are already signed (negative = the phase exports); nothing past the parser sees an
unsigned HAN current.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from loadbalancer.electric import PHASES
from loadbalancer.printable import printable

_L1, _L2, _L3 = PHASES


@dataclass(frozen=True, slots=True)
class PhaseValues:
    """One quantity on the three grid phases; ``None`` where the meter did not send it."""

    l1: float | None = None
    l2: float | None = None
    l3: float | None = None

    def __iter__(self) -> Iterator[float | None]:
        return iter((self.l1, self.l2, self.l3))

    def __getitem__(self, phase: str) -> float | None:
        """The value on a grid phase (one of :data:`loadbalancer.electric.PHASES`)."""
        return (self.l1, self.l2, self.l3)[PHASES.index(phase)]

    def as_dict(self) -> dict[str, float | None]:
        return {_L1: self.l1, _L2: self.l2, _L3: self.l3}


@dataclass(frozen=True, slots=True)
class Reading:
    """One valid telegram or frame, decoded.

    ``received_s`` is the host's clock when the last byte arrived (whatever clock the caller
    passed to the parser, monotonic in the service); staleness is judged on it, never on
    ``meter_time``, whose summer/winter flag Swedish meters get wrong.
    """

    received_s: float
    meter_time: datetime | None
    meter_id: str | None
    current_a: PhaseValues
    voltage_v: PhaseValues
    power_w: PhaseValues
    import_w: float | None
    export_w: float | None
    energy_import_kwh: float | None
    energy_export_kwh: float | None
    header: str = ""
    protocol: str = "p1"
    #: fields some countries add (Belgian current limit, quarter-hour demand): name -> value
    extra: Mapping[str, float | str] = field(default_factory=dict)
    #: the telegram's (or frame's) size, for a rejection the service may still make of it
    size_bytes: int = 0

    def to_record(self) -> dict[str, Any]:
        """The ``meter --json`` object, exactly its keys, in its order."""
        return {
            "ts": self.meter_time.isoformat() if self.meter_time is not None else None,
            "meter_id": self.meter_id,
            "current_a": self.current_a.as_dict(),
            "voltage_v": self.voltage_v.as_dict(),
            "power_w": self.power_w.as_dict(),
            "import_w": self.import_w,
            "export_w": self.export_w,
            "energy_import_kwh": self.energy_import_kwh,
            "energy_export_kwh": self.energy_export_kwh,
        }


@dataclass(frozen=True, slots=True)
class Rejection:
    """A telegram (or what looked like one) that was dropped, and why."""

    received_s: float
    reason: str
    size_bytes: int
    header: str = ""

    def describe(self) -> str:
        """One line for a person: what was dropped and why. The header and the reason may carry
        the meter's bytes: their control characters are escaped, never sent to a terminal."""
        who = f", {printable(self.header, 80)}" if self.header else ""
        return f"rejected telegram ({self.size_bytes} bytes{who}): {printable(self.reason)}"


MeterEvent = Reading | Rejection


class MeterParser(Protocol):
    """Bytes in (any chunks, with the host time they arrived), readings and rejections out."""

    @property
    def skipped_bytes(self) -> int: ...

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]: ...

    def close(self, received_s: float) -> list[MeterEvent]: ...
