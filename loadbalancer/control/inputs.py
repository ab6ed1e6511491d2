"""What ``decide`` reads each time: the latest meter reading and the latest read of each charger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loadbalancer.meter.reading import Reading

#: IEC 61851 states in which no car can draw: A (no vehicle), E and F (error)
NO_CAR_STATUSES: frozenset[str] = frozenset({"A", "E", "F"})


@dataclass(frozen=True, slots=True)
class MeterInput:
    """Signed currents on L1, L2, L3 (None where the meter sent none) and host receive time."""

    current_a: tuple[float | None, float | None, float | None]
    received_s: float

    @classmethod
    def from_reading(cls, reading: Reading) -> MeterInput:
        current = reading.current_a
        return cls((current.l1, current.l2, current.l3), reading.received_s)


@dataclass(frozen=True, slots=True)
class ChargerRead:
    """The latest poll of one charger: per-phase current in the charger's phase order.

    ``limit_a``: the limit the box is known to apply (the last one it acknowledged, or its own
    read-back if higher); ``controlled``: False while the box refuses or ignores its set-point;
    ``ignores_limit``: the shell's compliance check has escalated to a pause and the car still
    draws above its limit (the core pauses it, :mod:`loadbalancer.control.ignored`).
    A read whose currents are implausible (:mod:`loadbalancer.control.plausibility`) or that is
    not ``controlled`` makes the charger *unknown*: booked at the highest limit it may apply.
    """

    measured_a: tuple[float, ...]
    status: str | None
    online: bool
    read_s: float
    limit_a: float | None = None
    controlled: bool = True
    ignores_limit: bool = False


@dataclass(frozen=True, slots=True)
class Inputs:
    """``meter`` is None until the first valid telegram; a charger missing here is offline."""

    meter: MeterInput | None
    chargers: Mapping[str, ChargerRead] = field(default_factory=dict)
