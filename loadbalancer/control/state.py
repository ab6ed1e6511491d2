"""What the core remembers between decisions (a new value each time, never mutated)."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.fuse import BudgetState


@dataclass(frozen=True, slots=True)
class ChargerMemory:
    """One charger's set-point and the timers of the raise and resume rules.

    ``setpoint_a`` is None until the first decision (unknown). ``headroom_since_s`` starts when
    the allowance first exceeds the set-point, and ``headroom_floor_a`` is the lowest allowance
    seen since (while paused: the lowest share seen while its minimum fits, the level it
    resumes at); ``room_since_s`` starts when a paused charger's minimum first fits.
    ``pauses_s`` are the times it was paused while running, kept while within
    ``pause_memory_s``: each one doubles the wait before the next resume (contactor wear).
    ``spike_telegram_s`` is the meter reading on which a hold above the hard limit (a spike)
    began: such a hold lasts for that one telegram only. ``over_rating_since_s`` is when a hold
    first took a phase above its rating. ``unused_a`` is how much of its offer the car left
    unused when it last had followed it (its shortfall). ``car_phases`` remembers the grid
    phases the car drew on, while it stays connected. ``fallback``: its set-point was a fallback
    (a stale meter's safe current, an offline box's failsafe), not a share the fuse was known
    to leave: its next share is a fresh start. ``ignored_since_s`` is when the pause
    for a car that ignores its limit began (:mod:`loadbalancer.control.ignored`).
    ``run_since_s`` is when its set-point last went from 0 (or unknown) above 0: the capacity
    tariff holds a car at its minimum only in a run begun in the running interval
    (:mod:`loadbalancer.control.tariff`).
    """

    setpoint_a: float | None = None
    setpoint_since_s: float | None = None
    headroom_since_s: float | None = None
    headroom_floor_a: float = 0.0
    room_since_s: float | None = None
    pauses_s: tuple[float, ...] = ()
    spike_telegram_s: float | None = None
    over_rating_since_s: float | None = None
    unused_a: float = 0.0
    car_phases: tuple[int, ...] | None = None
    fallback: bool = False
    ignored_since_s: float | None = None
    run_since_s: float | None = None
    #: 1p/3p switching (:mod:`loadbalancer.control.phases`): the phase count last decided
    #: (None: never), the switches in this session, since when three phases have fitted
    phase_count: int | None = None
    phase_switches: int = 0
    phase_fit_since_s: float | None = None
    #: since when its car has waited for room while paused (share rotation,
    #: :mod:`loadbalancer.control.rotate`; None: not waiting)
    waiting_since_s: float | None = None
    #: since when its car has had a share (running with a car; share rotation)
    turn_since_s: float | None = None


@dataclass(frozen=True, slots=True)
class TariffMemory:
    """What the capacity tariff's rules remember (:mod:`loadbalancer.control.tariff`): the
    running interval's start; at the last decision its time, the energy imported so far in
    the interval (kWh, the meter's register), the energy the online cars drew in it (kWh,
    from their measured currents) and their power then (W); the house's draw (W) on the last
    two telegrams (time of the reading, draw); the house's mean draw over the last interval
    (W, None before one ended)."""

    interval_start_s: float | None = None
    last_s: float | None = None
    energy_kwh: float = 0.0
    cars_kwh: float = 0.0
    cars_w: float = 0.0
    house_w: tuple[tuple[float, float], ...] = ()
    last_house_w: float | None = None
    #: since when the house's lasting draw has been above its mean (as it was when the rise
    #: began) by more than a heat pump's cycle explains (None: it is not)
    rise_since_s: float | None = None
    #: the house's mean when that rise began
    rise_base_w: float | None = None


@dataclass(frozen=True, slots=True)
class ControllerState:
    """Per charger (config order) its memory, the fuse's overload budget per phase, and the
    capacity tariff's memory."""

    chargers: tuple[ChargerMemory, ...]
    budget: BudgetState = field(default_factory=BudgetState)
    tariff: TariffMemory = field(default_factory=TariffMemory)


def initial_state(config: ControlConfig) -> ControllerState:
    """The state before the first decision: every set-point unknown, full budget."""
    return ControllerState(tuple(ChargerMemory() for _ in config.chargers))
