"""What ``decide`` returns: per charger a set-point and a reason, and the figures behind them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadbalancer.control.reasons import Reason

#: decimals kept in the decision record (milliamps, the finest charger granularity)
RECORD_DECIMALS = 3


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, RECORD_DECIMALS)


def _by_phase(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {phase: _rounded(value) for phase, value in values.items()}


@dataclass(frozen=True, slots=True)
class ChargerDecision:
    """One charger's outcome. ``phases`` are the grid phases it was counted on."""

    name: str
    setpoint_a: float
    reason: Reason
    previous_a: float | None
    measured_a: tuple[float, ...]
    phases: tuple[str, ...]
    #: what the box is to be set to, 1 or 3 phases (a box that cannot switch: as wired)
    phase_count: int = 3

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured_a": [_rounded(value) for value in self.measured_a],
            "previous_a": _rounded(self.previous_a),
            "setpoint_a": _rounded(self.setpoint_a),
            "reason": str(self.reason),
            "phases": list(self.phases),
            "phase_count": self.phase_count,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision record's figures; by-phase values are None where the meter gave nothing usable.

    ``allowed_a`` is what the chargers that are online may draw in total on each phase:
    rating − margin − house − the failsafe current reserved for offline chargers.
    """

    meter_a: Mapping[str, float | None]
    meter_age_s: float | None
    house_a: Mapping[str, float | None]
    allowed_a: Mapping[str, float | None]
    budget_used_s: Mapping[str, float]
    chargers: tuple[ChargerDecision, ...]

    def setpoint(self, name: str) -> float:
        """The set-point of the charger called ``name``."""
        return self.charger(name).setpoint_a

    def charger(self, name: str) -> ChargerDecision:
        for charger in self.chargers:
            if charger.name == name:
                return charger
        raise KeyError(name)

    def to_record(self) -> dict[str, Any]:
        """The ``decision`` record minus ``ts`` and ``event`` (the service adds them)."""
        return {
            "meter_a": _by_phase(self.meter_a),
            "meter_age_s": _rounded(self.meter_age_s),
            "house_a": _by_phase(self.house_a),
            "allowed_a": _by_phase(self.allowed_a),
            "budget_used_s": _by_phase(self.budget_used_s),
            "chargers": [charger.to_record() for charger in self.chargers],
        }
