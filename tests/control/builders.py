"""Builders of minimal control inputs: one 3x20A-gG fuse and 16 A chargers unless told."""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control import (
    ChargerMemory,
    ChargerRead,
    ChargerSpec,
    ControlConfig,
    ControllerState,
    Decision,
    Inputs,
    MeterInput,
    TariffInput,
    decide,
)
from loadbalancer.control.fuse import BudgetState
from loadbalancer.electric import PHASES
from loadbalancer.fuse_profiles import load_fuse_profile

THREE = PHASES


def config_of(
    *chargers: ChargerSpec,
    fuse: str = "3x20A-gG",
    ramp_up_delay_s: float = 30.0,
    resume_delay_s: float = 120.0,
) -> ControlConfig:
    return ControlConfig(
        load_fuse_profile(fuse),
        chargers,
        ramp_up_delay_s=ramp_up_delay_s,
        resume_delay_s=resume_delay_s,
    )


def ev(
    name: str = "ev",
    phases: tuple[str, ...] = THREE,
    *,
    max_current_a: float = 16.0,
    priority: int = 1,
    failsafe_current_a: float = 6.0,
) -> ChargerSpec:
    return ChargerSpec(
        name,
        phases,
        max_current_a=max_current_a,
        priority=priority,
        failsafe_current_a=failsafe_current_a,
    )


def read(
    drawing_a: float, phases: int = 3, status: str | None = "C", *, at_s: float = 0.0
) -> ChargerRead:
    return ChargerRead(tuple(drawing_a for _ in range(phases)), status, True, at_s)


def step(
    config: ControlConfig,
    house_a: tuple[float, float, float],
    reads: dict[str, ChargerRead],
    memories: dict[str, ChargerMemory] | None = None,
    *,
    now_s: float = 0.0,
    budget: BudgetState | None = None,
    tariff: TariffInput | None = None,
) -> tuple[ControllerState, Decision]:
    """One decision on a fresh telegram: the meter is the house plus what the chargers draw.

    Each read's ``read_s`` counts from ``now_s`` (0: read just now).
    """
    memories = memories or {}
    reads = {name: replace(r, read_s=now_s + r.read_s) for name, r in reads.items()}
    meter = list(house_a)
    for spec in config.chargers:
        charger_read = reads.get(spec.name)
        if charger_read is not None:
            for phase, current in zip(spec.phases, charger_read.measured_a, strict=False):
                meter[THREE.index(phase)] += current
    state = ControllerState(
        tuple(memories.get(spec.name, ChargerMemory()) for spec in config.chargers),
        budget or BudgetState(),
    )
    inputs = Inputs(MeterInput((meter[0], meter[1], meter[2]), now_s), reads, tariff)
    return decide(state, inputs, config, now_s)


def at(
    setpoint_a: float,
    *,
    headroom_since_s: float | None = None,
    headroom_floor_a: float = 0.0,
    room_since_s: float | None = None,
) -> ChargerMemory:
    """A charger's memory: at ``setpoint_a`` for long (settled), with the timers given."""
    return ChargerMemory(
        setpoint_a, -100.0, headroom_since_s, headroom_floor_a, room_since_s, car_phases=None
    )
