"""Per grid phase, from the meter: house = signed meter current − the online chargers' *measured*
currents on that phase (and the plausible ones of unknown chargers); allowed = rating − margin −
house − reserved. The overload budget is integrated up to this reading."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.fuse import BudgetState, update_budget
from loadbalancer.control.inputs import MeterInput
from loadbalancer.control.unknown import Absent
from loadbalancer.electric import PHASES


@dataclass(frozen=True, slots=True)
class PhaseLoads:
    """Per grid phase (L1..L3): the meter's current (0 where it sent none), the house load,
    what may still be offered, what the offline and unknown chargers reserve; the budget."""

    current_a: tuple[float, float, float]
    house_a: tuple[float, ...]
    allowed_a: tuple[float, ...]
    reserved_a: tuple[float, float, float]
    budget: BudgetState


def phase_loads(
    meter: MeterInput,
    online: Sequence[Online],
    absent: Absent,
    budget: BudgetState,
    config: ControlConfig,
) -> PhaseLoads:
    fuse = config.fuse
    l1, l2, l3 = (float(meter.current_a[p] or 0.0) for p in range(len(PHASES)))
    house_a = [l1, l2, l3]
    drawn = [(c.spec, c.read.measured_a) for c in online] + list(absent.measured)
    for spec, phase_currents_a in drawn:
        for p, drawn_a in zip(spec.grid_phase_indices, phase_currents_a, strict=False):
            house_a[p] -= drawn_a
    allowed_a = tuple(
        fuse.target_a - house_a[p] - absent.reserved_a[p] if name in fuse.phase_names else math.inf
        for p, name in enumerate(PHASES)
    )
    budget = update_budget(budget, fuse, (l1, l2, l3), meter.received_s, config.stale_after_s)
    return PhaseLoads((l1, l2, l3), tuple(house_a), allowed_a, absent.reserved_a, budget)
