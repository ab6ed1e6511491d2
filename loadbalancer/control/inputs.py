"""What ``decide`` reads each time: the latest meter reading and the latest read of each charger."""

from __future__ import annotations

import math
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
    #: 1p/3p switching: the phase count the box reports (None: not known), and whether the
    #: shell gave up switching it in this session (refused, or the car did not resume)
    phase_count: int | None = None
    phase_switch_failed: bool = False


@dataclass(frozen=True, slots=True)
class TariffInput:
    """The capacity tariff's running interval (issue 15): the budget, the interval's edges on
    the core's clock, the energy imported so far in it (from the meter's import register) and
    the margin kept below the budget. ``needed_kw``: per charger whose user asked it to be ready by
    a time (``ready_by``), the power it needs from now on to get there; it may take the house
    above the budget for that (the fuse stays)."""

    budget_kw: float
    interval_start_s: float
    interval_end_s: float
    energy_kwh_so_far: float
    margin_kw: float = 0.0
    needed_kw: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        numbers = (
            self.budget_kw,
            self.interval_start_s,
            self.interval_end_s,
            self.energy_kwh_so_far,
            self.margin_kw,
        )
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError("tariff: budget, interval, energy and margin must be finite numbers")
        if self.budget_kw < 0 or self.margin_kw < 0 or self.energy_kwh_so_far < 0:
            raise ValueError("tariff: budget_kw, margin_kw and energy_kwh_so_far must be >= 0")
        if not all(math.isfinite(kw) and kw >= 0 for kw in self.needed_kw.values()):
            raise ValueError("tariff: needed_kw must be finite numbers >= 0")
        if self.interval_end_s <= self.interval_start_s:
            raise ValueError("tariff: interval_end_s must be after interval_start_s")


@dataclass(frozen=True, slots=True)
class Inputs:
    """``meter`` is None until the first valid telegram; a charger missing here is offline.
    ``tariff`` None: no capacity tariff, only the fuse limits the cars. ``paused``: the
    chargers a user paused (issue 17, :mod:`loadbalancer.control.commanded`)."""

    meter: MeterInput | None
    chargers: Mapping[str, ChargerRead] = field(default_factory=dict)
    tariff: TariffInput | None = None
    paused: frozenset[str] = frozenset()
