"""A simulated wallbox with a simulated car: pure state, time passed in. No sockets.

The box holds a set-point, an enable flag and its failsafe (current, timeout, and what resets
the timer: a set-point write, a life-bit write or any request, per the profile). When the timer
runs out it applies its failsafe current until the next set-point write. The car follows the
applied limit after a delay, draws a little less than offered, stops below its minimum, charges
on one or three phases, and can be unplugged (status A), plugged and waiting (B) or charging (C).
:mod:`loadbalancer.chargers.emulator` serves this over Modbus TCP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from loadbalancer.chargers.profile import ChargerProfile
from loadbalancer.electric import IEC_MIN_CURRENT_A


def car_draw_a(
    offered_a: float,
    max_current_a: float,
    shortfall_a: float,
    min_current_a: float = IEC_MIN_CURRENT_A,
) -> float:
    """The car model every simulation shares: what a plugged car draws per phase when offered
    ``offered_a``: nothing below its minimum (IEC 61851-1: no charging below 6 A), else the
    offer up to its own on-board limit, less its shortfall."""
    if offered_a < min_current_a:
        return 0.0
    return max(min(offered_a, max_current_a) - shortfall_a, 0.0)


@dataclass(slots=True)
class SimulatedCar:
    """What the car does with the current it is offered."""

    plugged: bool = True
    phases: int = 3  # 1 or 3
    max_current_a: float = 32.0  # the car's own on-board charger limit
    delay_s: float = 2.0  # how long it takes to follow a new offer
    shortfall_a: float = 0.2  # draws this much less than offered
    min_current_a: float = IEC_MIN_CURRENT_A
    #: issue 19: False: after its box switches phases the car draws nothing until re-plugged
    #: (a car that does not wake after a switch); ``asleep`` is that state
    resumes_after_switch: bool = True
    asleep: bool = False

    def draw_a(self, offered_a: float) -> float:
        if not self.plugged or self.asleep:
            return 0.0
        return car_draw_a(offered_a, self.max_current_a, self.shortfall_a, self.min_current_a)


@dataclass(slots=True)
class SimulatedBox:
    """One wallbox's state, driven by register writes and ``advance(now_s)``."""

    profile: ChargerProfile
    car: SimulatedCar = field(default_factory=SimulatedCar)
    setpoint_a: float = 0.0
    enabled: bool = True
    failsafe_current_a: float = 0.0
    timeout_s: float = 0.0
    in_failsafe: bool = False
    #: fault switch: the car draws its own maximum whatever the limit ("ignore set-point")
    ignore_setpoint: bool = False
    #: a forced IEC status (e.g. "E", "F") overriding what the car implies
    forced_status: str | None = None
    now_s: float = 0.0
    last_alive_s: float = 0.0
    #: (since_s, offered_a): what the box offered the car from when
    offers: list[tuple[float, float]] = field(default_factory=list)
    #: issue 19: the phases the box charges on (its firmware's switch), a fault switch that
    #: leaves it there whatever is written, and (time, count, what the car drew) per switch
    phase_count: int = 3
    phase_switch_stuck: bool = False
    phase_switches: list[tuple[float, int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_alive_s = self.now_s
        failsafe = self.profile.failsafe
        self.setpoint_a = self.profile.setpoint.max_a
        self.failsafe_current_a = _default_or(
            failsafe.current.default if failsafe.current else None, self.profile.setpoint.min_a
        )
        self.timeout_s = _default_or(failsafe.timeout.default if failsafe.timeout else None, 0.0)
        # Alfen: after a (re)boot the box runs at its safe current until the master writes
        self.in_failsafe = failsafe.trigger == "setpoint_write"
        self.offers = [(-math.inf, self.applied_limit_a)]

    # ---- what the box applies ----------------------------------------------------------------

    @property
    def applied_limit_a(self) -> float:
        if self.in_failsafe:
            return self.failsafe_current_a
        return self.setpoint_a if self.enabled else 0.0

    def offered_a(self, at_s: float) -> float:
        """What the car sees at ``at_s`` (the offer that was in force ``delay_s`` earlier)."""
        seen_at = at_s - self.car.delay_s
        offered = self.offers[0][1]
        for since_s, value in self.offers:
            if since_s <= seen_at:
                offered = value
        return offered

    def draw_a(self) -> float:
        if self.ignore_setpoint and self.car.plugged:
            return self.car.max_current_a
        return self.car.draw_a(self.offered_a(self.now_s))

    def phase_currents_a(self) -> tuple[float, float, float]:
        draw = self.draw_a()
        if self.car.phases == 1 or self.phase_count == 1:
            return (draw, 0.0, 0.0)
        return (draw, draw, draw)

    def status(self) -> str:
        if self.forced_status is not None:
            return self.forced_status
        if not self.car.plugged:
            return "A"
        return "C" if self.draw_a() > 0 else "B"

    # ---- inputs ------------------------------------------------------------------------------

    def advance(self, now_s: float) -> None:
        """Let time pass: the failsafe timer runs out, the car follows its offer."""
        self.now_s = max(self.now_s, now_s)
        if (
            self.profile.failsafe.trigger != "none"
            and self.timeout_s > 0
            and not self.in_failsafe
            and self.now_s - self.last_alive_s > self.timeout_s
        ):
            self._change(lambda: setattr(self, "in_failsafe", True))

    def request(self, now_s: float) -> None:
        """Any Modbus request reached the box."""
        self.advance(now_s)
        if self.profile.failsafe.trigger == "any_request":
            self.last_alive_s = self.now_s

    def write_setpoint(self, current_a: float) -> None:
        def apply() -> None:
            self.setpoint_a = current_a
            self.in_failsafe = False

        self._change(apply)
        if self.profile.failsafe.trigger == "setpoint_write":
            self.last_alive_s = self.now_s

    def set_enabled(self, enabled: bool) -> None:
        self._change(lambda: setattr(self, "enabled", enabled))

    def life_bit(self) -> None:
        if self.profile.failsafe.trigger == "life_bit":
            self.last_alive_s = self.now_s

    def switch_phases(self, count: int) -> None:
        """The firmware's phase switch (issue 19), logged with what the car drew at that moment;
        a car that does not resume after one falls asleep."""
        self.phase_switches.append((self.now_s, count, self.draw_a()))
        if self.phase_switch_stuck or count == self.phase_count:
            return
        self.phase_count = count
        if not self.car.resumes_after_switch:
            self.car.asleep = True

    def unplug(self) -> None:
        self.car.plugged = False
        self.car.asleep = False

    def plug_in(self) -> None:
        self.car.plugged = True

    def _change(self, apply: Callable[[], None]) -> None:
        before = self.applied_limit_a
        apply()
        after = self.applied_limit_a
        if after != before:
            self.offers.append((self.now_s, after))
            del self.offers[:-64]  # old history is never looked at again


def _default_or(value: float | None, fallback: float) -> float:
    return fallback if value is None else value
