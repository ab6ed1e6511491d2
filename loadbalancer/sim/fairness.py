"""Fair sharing in a garage: more cars than the fuse has room for, over hours, through the core.

A fast loop around :func:`loadbalancer.control.core.decide` (no sockets): every car is plugged
in and wants to charge all the time, the house draws a constant base, a telegram comes every
``telegram_period_s`` and each car follows its offer at once. Per car it adds up the time it
waited (its set-point 0 while it wanted to charge) and its pauses: with share rotation
(``min_share_hold_s``) the waits are close to equal; without it (``None``, the allocation
before rotation) the same cars wait the whole time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.core import decide
from loadbalancer.control.fuse import Characteristic, FuseProfile
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput
from loadbalancer.control.state import initial_state
from loadbalancer.electric import IEC_MIN_CURRENT_A, PHASES

#: the garage's own load on each phase (lights, ventilation), amperes
GARAGE_BASE_A = 8.0


@dataclass(frozen=True, slots=True)
class Waits:
    """Per car the seconds it waited while it wanted to charge, and how many pauses it had."""

    waited_s: tuple[float, ...]
    pauses: tuple[int, ...]
    energy_ah: float

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.waited_s)

    @property
    def longest_s(self) -> float:
        return max(self.waited_s)

    @property
    def ratio(self) -> float:
        """The longest wait over the average one (1.0: all waited alike)."""
        return self.longest_s / self.mean_s if self.mean_s > 0 else 1.0


def garage_config(
    cars: int, room_for: int, min_share_hold_s: float | None, resume_delay_s: float = 20.0
) -> ControlConfig:
    """A strict fuse with room for ``room_for`` minimums (6 A, three-phase) next to the
    garage's base load, ``cars`` chargers of 16 A, one priority."""
    rating_a = GARAGE_BASE_A + room_for * IEC_MIN_CURRENT_A + 1.0 + 3.0  # margin 1 A, 3 A left
    fuse = FuseProfile("garage", rating_a, 3, Characteristic.STRICT, 1.0, 0.0, 1.0)
    chargers = tuple(ChargerSpec(f"car{i:02d}", PHASES, 16.0) for i in range(cars))
    return ControlConfig(
        fuse, chargers, resume_delay_s=resume_delay_s, min_share_hold_s=min_share_hold_s
    )


def run_garage(config: ControlConfig, hours: float, telegram_period_s: float = 10.0) -> Waits:
    """The garage through ``hours`` of telegrams; the cars always want to charge."""
    state = initial_state(config)
    names = [spec.name for spec in config.chargers]
    draw_a = dict.fromkeys(names, 0.0)
    waited_s = dict.fromkeys(names, 0.0)
    pauses = dict.fromkeys(names, 0)
    energy_ah = 0.0
    steps = round(hours * 3600 / telegram_period_s)
    for n in range(steps):
        now_s = n * telegram_period_s
        total = GARAGE_BASE_A + sum(draw_a.values())
        reads = {
            name: ChargerRead((draw_a[name],) * 3, "C" if draw_a[name] > 0 else "B", True, now_s)
            for name in names
        }
        meter = MeterInput((total, total, total), now_s)
        state, decision = decide(state, Inputs(meter, reads), config, now_s)
        for charger in decision.chargers:
            if charger.setpoint_a == 0:
                waited_s[charger.name] += telegram_period_s
                pauses[charger.name] += draw_a[charger.name] > 0
            draw_a[charger.name] = charger.setpoint_a
            energy_ah += 3 * charger.setpoint_a * telegram_period_s / 3600
    return Waits(
        tuple(waited_s[name] for name in names),
        tuple(pauses[name] for name in names),
        energy_ah,
    )


def compare(
    cars: int = 40, room_for: int = 25, hours: float = 4.0, min_share_hold_s: float = 900.0
) -> tuple[Waits, Waits]:
    """The same garage with the allocation before rotation, then with rotation."""
    before = run_garage(garage_config(cars, room_for, None), hours)
    after = run_garage(garage_config(cars, room_for, min_share_hold_s), hours)
    return before, after
