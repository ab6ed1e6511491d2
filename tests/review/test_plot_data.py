"""What ``--plot`` draws: series per decision, reduced for long logs without losing a peak."""

from __future__ import annotations

import math

from loadbalancer.review.lines import TimedRecord
from loadbalancer.review.plot import MAX_PLOT_POINTS, plot_data
from tests.review.logs import at, decision, event, startup


def test_short_logs_are_drawn_point_by_point() -> None:
    records: list[TimedRecord] = [(at(0), startup(0))]
    records += [(at(t), decision(t, 16.0, "at_max", previous_a=16.0)) for t in range(0, 100, 10)]
    records.append((at(100), event(100, "shutdown")))
    data = plot_data(records)
    assert data.bucket_s == 0 and len(data.times_s) == 10
    assert data.meter_a["L1"][0] == 17.8 and data.limit_a["L1"][0] == 19.0
    assert data.setpoint_a == {"carport": (16.0,) * 10}


def test_a_long_log_keeps_its_peak_and_its_cut() -> None:
    n = 4 * MAX_PLOT_POINTS
    spike = n // 2
    records: list[TimedRecord] = []
    for i in range(n):
        if i == spike:  # one telegram with the oven on L1, and the cut it caused
            record = decision(i * 10, 7.0, "overload_cut", previous_a=16.0, house=(12.0, 2, 2))
        else:
            record = decision(i * 10, 16.0, "at_max", previous_a=16.0)
        records.append((at(i * 10), record))
    data = plot_data(records)
    assert 0 < len(data.times_s) <= MAX_PLOT_POINTS + 1
    assert data.bucket_s > 10
    assert max(data.meter_a["L1"]) == 27.8  # 12 A house + 15.8 A car
    assert min(data.limit_a["L1"]) == 7.0 + 12.0
    assert min(data.setpoint_a["carport"]) == 7.0
    assert data.cuts == {"carport": (at(spike * 10),)}
    assert not any(math.isnan(v) for v in data.meter_a["L1"])
