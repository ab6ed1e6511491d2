"""The cut path: a cut is applied at once. An online charger is cut to its share
(``overload_cut`` when a phase of it no longer fits, else ``share_cut``); an unknown charger,
whatever its reads say, by as much as one of its phases would stay over what the fuse allows
with every known charger paused."""

from __future__ import annotations

from collections.abc import Sequence

from loadbalancer.control.allocate import EPSILON_A
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.reasons import Reason
from loadbalancer.control.rounding import floor_to_step
from loadbalancer.control.settle import Settled, resettled
from loadbalancer.control.unknown import Absent
from loadbalancer.electric import PHASES


def overloaded_phases(
    online: Sequence[Online],
    house_a: Sequence[float],
    reserved_a: Sequence[float],
    config: ControlConfig,
) -> set[int]:
    """Grid phases on which the previous set-points no longer fit what the phase allows."""
    load_a = [house + reserved for house, reserved in zip(house_a, reserved_a, strict=True)]
    for charger in online:
        for p in charger.phases:
            load_a[p] += charger.previous_a or 0.0
    return {
        p
        for p, name in enumerate(PHASES)
        if name in config.fuse.phase_names and load_a[p] > config.fuse.target_a + EPSILON_A
    }


def cut_unknown(
    online: Sequence[Online],
    absent: Absent,
    current_a: Sequence[float],
    config: ControlConfig,
    now_s: float,
) -> dict[int, Settled]:
    """The unknown chargers cut in this decision (a write that lowers a limit is safe whatever
    the box reports): by how much one of its phases stays over the fuse's target even with
    every known charger paused (at worst they all are in this decision)."""
    known_a = [0.0, 0.0, 0.0]
    for charger in online:
        for p, drawn_a in zip(
            charger.spec.grid_phase_indices, charger.read.measured_a, strict=False
        ):
            known_a[p] += max(drawn_a, 0.0)
    cuts: dict[int, Settled] = {}
    target_a = config.fuse.target_a
    for index, booked_a in absent.booked_a.items():
        spec = config.chargers[index]
        over_a = max(current_a[p] - known_a[p] - target_a for p in spec.grid_phase_indices)
        if over_a > EPSILON_A:
            setpoint_a = floor_to_step(booked_a - over_a, spec.granularity_a)
            setpoint_a = setpoint_a if setpoint_a >= spec.min_current_a else 0.0
            cuts[index] = resettled(absent.settled[index], setpoint_a, Reason.OVERLOAD_CUT, now_s)
    return cuts
