"""What the service needs of a charger, whatever protocol it speaks: the :class:`Charger`
protocol and the values it returns.

The Modbus TCP boxes (:mod:`loadbalancer.chargers.driver`) are one implementation; an OCPP
charger can be another. The service's link (:mod:`loadbalancer.link`) knows only this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class FailsafeSettings:
    """The box's own fallback: current and timeout, None where unknown."""

    current_a: float | None
    timeout_s: float | None


@dataclass(frozen=True, slots=True)
class ChargerReading:
    """One poll of a box."""

    status: str | None  # IEC 61851 letter A-F, None when the box's code is not in the profile
    status_raw: str | None  # the box's own code(s), e.g. "C2", "3", "7/3"
    #: charger phase order; None where the box says "not available" (NaN, inf, a sentinel)
    current_a: tuple[float | None, float | None, float | None]
    limit_a: float | None  # the limit the box applies, where it says
    phases: int | None  # phases in use
    max_current_a: float | None  # hardware maximum, where the box says
    failsafe: FailsafeSettings
    #: when the currents were measured, on the service's clock; None: at this read (a box that
    #: reports them only now and then, like OCPP's MeterValues, says when)
    measured_at_s: float | None = None

    def to_record(self, profile: str) -> dict[str, Any]:
        """The ``charger --json`` object."""
        return {
            "profile": profile,
            "status": self.status,
            "status_raw": self.status_raw,
            "current_a": [_rounded(value) for value in self.current_a],
            "limit_a": _rounded(self.limit_a),
            "phases": self.phases,
            "max_current_a": _rounded(self.max_current_a),
            "failsafe": {
                "current_a": _rounded(self.failsafe.current_a),
                "timeout_s": _rounded(self.failsafe.timeout_s),
            },
        }


@dataclass(frozen=True, slots=True)
class FailsafeResult:
    """What ``configure_failsafe`` achieved."""

    settable: bool  # the profile can write both the current and the timeout
    verified: bool  # written and read back equal to what was asked
    settings: FailsafeSettings  # as read back from the box (or the profile's defaults)
    reason: str  # one line for the log when not verified


class Charger(Protocol):
    """One connected charger. Each call raises a ``ChargerError`` leaf when it fails."""

    async def read(self, *, failsafe: bool = True) -> ChargerReading:
        """Status, currents, applied limit; ``failsafe=False``: without the failsafe's
        read-backs (a fast poll)."""
        ...

    async def write_limit(self, current_a: float) -> float:
        """Offer ``current_a`` to the car (0 pauses); returns what was written."""
        ...

    async def configure_failsafe(self, current_a: float, timeout_s: float) -> FailsafeResult:
        """Set the box's own fallback where it can, and say what it holds."""
        ...

    @property
    def keep_alive_interval_s(self) -> float | None:
        """How often ``keep_alive()`` must be called (None: never)."""
        ...

    async def keep_alive(self) -> None:
        """Hold the box's failsafe off."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class PhaseSwitching(Protocol):
    """A charger whose firmware switches between one and three phases (issue 19)."""

    async def write_phases(self, count: int) -> None:
        """Charge on ``count`` (1 or 3) phases; raises a ``ChargerError`` leaf when it fails."""
        ...

    async def read_phases(self) -> int | None:
        """The phase count the box says it is set to (None: it does not say)."""
        ...


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
