"""The energy each ``ready_by`` charger has delivered, and the power it still needs.

Per charger with a ``tariff.ready_by`` (:mod:`loadbalancer.tariff.ready_by`): the energy
delivered since its car was plugged in (the first read with a car after one without, or after
the service started) or since the last deadline passed, whichever is later. It is the current
the charger measures, at 230 V on each of its phases, held from one read to the next over the
monotonic clock; a gap between two reads longer than :data:`MAX_GAP_S` (the box was offline)
adds nothing. The power needed is what is missing divided by the time left to the deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadbalancer.control.inputs import NO_CAR_STATUSES, ChargerRead
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.tariff.ready_by import ReadyBy, needed_kw, next_deadline_s

#: two reads further apart than this are not bridged (the box was offline in between)
MAX_GAP_S = 60.0


@dataclass(slots=True)
class _Count:
    deadline_s: float
    delivered_kwh: float = 0.0
    #: the last read counted: its monotonic time and the power it measured (W)
    last: tuple[float, float] | None = None
    plugged: bool = False


class ReadyTracker:
    def __init__(self, ready_by: Mapping[str, ReadyBy], wall_s: float) -> None:
        self.ready_by = dict(ready_by)
        self.counts = {
            name: _Count(next_deadline_s(wall_s, wanted.at)) for name, wanted in ready_by.items()
        }

    def update(
        self, now_s: float, wall_s: float, reads: Mapping[str, ChargerRead]
    ) -> dict[str, float]:
        """Count the reads since the last call; the power (kW) each charger with a car needs
        from now on (only those that still need some)."""
        needed = {}
        for name, count in self.counts.items():
            wanted = self.ready_by[name]
            if wall_s >= count.deadline_s:  # the deadline passed: count towards the next one
                count.deadline_s = next_deadline_s(wall_s, wanted.at)
                count.delivered_kwh = 0.0
            read = reads.get(name)
            car = read is not None and read.online and read.status not in NO_CAR_STATUSES
            if read is None or not car:
                count.plugged, count.last = False, None
                continue
            if not count.plugged:  # a car plugged in: count afresh
                count.plugged, count.delivered_kwh, count.last = True, 0.0, None
            _count_read(count, read)
            kw = needed_kw(wanted.energy_kwh - count.delivered_kwh, count.deadline_s - wall_s)
            if kw > 0:
                needed[name] = kw
        return needed

    def delivered_kwh(self, name: str) -> float:
        return self.counts[name].delivered_kwh


def _count_read(count: _Count, read: ChargerRead) -> None:
    power_w = sum(max(0.0, a) for a in read.measured_a) * NOMINAL_VOLTAGE_V
    if count.last is not None:
        last_s, last_w = count.last
        if read.read_s <= last_s:
            return  # the same read again
        if read.read_s - last_s <= MAX_GAP_S:
            count.delivered_kwh += last_w * (read.read_s - last_s) / 3.6e6
    count.last = (read.read_s, power_w)
