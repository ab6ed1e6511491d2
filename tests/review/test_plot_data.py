"""What ``--plot`` draws: series per decision, reduced for long logs without losing a peak."""

from __future__ import annotations

import math

import pytest

from loadbalancer.review import plot
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


def _two(t: int, setpoint: float, reason: str) -> dict[str, object]:
    """A decision of the carport and a garage charger."""
    record = decision(t, 16.0, "at_max", previous_a=16.0)
    garage = decision(t, setpoint, reason, previous_a=16.0, name="garage")["chargers"]
    record["chargers"] = [*record["chargers"], *garage]
    return record


def test_a_charger_first_seen_later_is_unknown_before_it() -> None:
    """The series are made in the summary's walk, before the chargers are known: one first
    seen later has NaN points before it, point by point and in time buckets alike."""
    for n in (20, 4 * MAX_PLOT_POINTS):
        later = n // 2
        records: list[TimedRecord] = [(at(0), startup(0))]
        for i in range(n):
            record = (
                _two(i * 10, 6.0, "overload_cut")
                if i >= later
                else decision(i * 10, 16.0, "at_max", previous_a=16.0)
            )
            records.append((at(i * 10), record))
        data = plot_data(records)
        garage = data.setpoint_a["garage"]
        known = [not math.isnan(v) for v in garage]
        first = known.index(True)
        assert list(data.setpoint_a) == ["carport", "garage"]
        assert first > 0 and all(known[first:]) and not any(known[:first])
        assert data.times_s[first] <= at(later * 10) <= data.times_s[first] + max(data.bucket_s, 0)
        assert set(garage[first:]) == {6.0} and data.setpoint_a["carport"] == (16.0,) * len(garage)
        assert data.cuts["garage"][0] == at(later * 10) and data.cuts["carport"] == ()
        assert len(data.measured_a["garage"]) == len(data.times_s)


def test_a_bucket_reduced_as_it_fills_draws_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long log's time bucket is reduced to one point every BUCKET_POINTS points (memory):
    the highest of the highest is the highest, unknown points stay unknown."""
    records: list[TimedRecord] = [(at(0), startup(0))]
    for i in range(40 * MAX_PLOT_POINTS // 10):
        t = i * 10
        if i % 97 == 0:
            record = _two(t, 6.0, "overload_cut")
        elif i % 13 == 0:
            record = decision(t, 7.0, "overload_cut", previous_a=16.0, house=(12.0, 2, 2))
        else:
            record = decision(t, 16.0, "at_max", previous_a=16.0, stale=i % 31 == 0)
        records.append((at(t), record))
    whole = plot_data(records)
    for points in (2, 3, 7):
        monkeypatch.setattr(plot, "BUCKET_POINTS", points)
        assert repr(plot_data(records)) == repr(whole)  # repr: NaN is NaN
    assert whole.bucket_s > 10 * 3  # more points in a bucket than two or three
