"""A stale meter (none yet, too old, or a phase the fuse protects missing) sets every online
charger to ``safe_current_a``, and an unknown one to that if it is lower than its booking."""

from __future__ import annotations

from collections.abc import Sequence

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.inputs import MeterInput
from loadbalancer.control.reasons import Reason
from loadbalancer.control.rounding import clamped
from loadbalancer.control.settle import Settled, resettled, settled_online
from loadbalancer.control.state import ChargerMemory
from loadbalancer.control.unknown import Absent
from loadbalancer.electric import PHASES


def meter_stale(meter: MeterInput, meter_age_s: float | None, config: ControlConfig) -> bool:
    """Too old, or a phase the fuse protects has no current."""
    too_old = meter_age_s is None or meter_age_s > config.stale_after_s
    missing = any(
        meter.current_a[p] is None
        for p, name in enumerate(PHASES)
        if name in config.fuse.phase_names
    )
    return too_old or missing


def stale_fallback(
    online: Sequence[Online], absent: Absent, config: ControlConfig, now_s: float
) -> dict[int, Settled]:
    """Every charger settled for a stale meter; offline ones keep their failsafe booking."""
    settled = dict(absent.settled)
    for index, booked_a in absent.booked_a.items():  # its booking stands for nothing now
        setpoint_a = min(clamped(config.safe_current_a, config.chargers[index]), booked_a)
        settled[index] = resettled(settled[index], setpoint_a, Reason.METER_STALE_FALLBACK, now_s)
    for charger in online:
        setpoint_a = clamped(config.safe_current_a, charger.spec)
        settled[charger.index] = settled_online(
            charger, ChargerMemory(fallback=True), setpoint_a, Reason.METER_STALE_FALLBACK, now_s
        )
    return settled
