"""The capacity tariff on a one-phase site, whose meter sends a current on L1 only.

Fuse 1x16A-gG, one one-phase 16 A charger, a 2 kW budget on hourly intervals, no margin; the
house 1 A (230 W) and from 600 s an oven of 7 A (1.6 kW) for 800 s; a telegram every 10 s. The
car, paused before the interval, resumes at 7 A at once and is cut to its minimum when the oven
comes on (the interval's energy still covers it, its share no longer): a hold. The hold ends
when the house's draw has stayed 1.5 kW above its mean for 150 s (docs/control.md §Capacity
tariff), on one-phase meters too.
"""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control import (
    ChargerRead,
    ControllerState,
    Inputs,
    MeterInput,
    Reason,
    TariffInput,
    decide,
)
from loadbalancer.control.fuse import BudgetState
from tests.control.builders import at, config_of, ev

OVEN_ON_S = 600.0


def evening(other_phases_a: float | None) -> list[tuple[float, float, Reason]]:
    """(time, set-point, reason) of every decision; the meter's L2 and L3 as given."""
    config = config_of(ev(phases=("L1",)), fuse="1x16A-gG", ramp_up_delay_s=0.0, resume_delay_s=0.0)
    # the car charged before the interval: paused, its phase known
    state = ControllerState((replace(at(0.0), car_phases=(0,)),), BudgetState())
    car_a, house_a, imported_kwh = 0.0, 1.0, 0.0
    trace = []
    for now_s in range(0, 1500, 10):
        if now_s:  # what the meter counted since the last telegram
            imported_kwh += (house_a + car_a) * 230.0 * 10.0 / 3.6e6
        house_a = 8.0 if OVEN_ON_S <= now_s < OVEN_ON_S + 800.0 else 1.0
        meter = MeterInput((house_a + car_a, other_phases_a, other_phases_a), float(now_s))
        reads = {"ev": ChargerRead((car_a,), "C" if car_a else "B", True, float(now_s))}
        tariff = TariffInput(2.0, 0.0, 3600.0, imported_kwh, 0.0)
        state, decision = decide(state, Inputs(meter, reads, tariff), config, float(now_s))
        car_a = decision.setpoint("ev")  # the car follows at once
        trace.append((float(now_s), car_a, decision.charger("ev").reason))
    return trace


def test_a_hold_ends_when_the_oven_has_run_150_s_on_a_meter_with_l1_only() -> None:
    one_phase = evening(None)
    held = [(t, a) for t, a, _ in one_phase if t >= OVEN_ON_S and a == 6.0]
    assert held[0] == (OVEN_ON_S, 6.0)  # the oven came on: cut to the minimum, held
    ended_s = next(t for t, a, _ in one_phase if t > OVEN_ON_S and a == 0.0)
    assert OVEN_ON_S + 150.0 <= ended_s <= OVEN_ON_S + 170.0
    assert all(a == 0.0 for t, a, _ in one_phase if ended_s <= t < OVEN_ON_S + 800.0)


def test_a_meter_without_l2_and_l3_is_one_with_no_current_there() -> None:
    assert evening(None) == evening(0.0)
