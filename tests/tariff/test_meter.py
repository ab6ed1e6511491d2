"""Each interval's energy from the import register at its edges; active power only bridges a
gap, and the interval then says it is estimated (issue 15 item 3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.tariff.meter import IntervalMeter, MeterSample
from loadbalancer.tariff.peaks import IntervalEnergy
from tests.tariff.helpers import local_s

T0 = local_s(2026, 1, 12, 17)  # a local full hour


def run(
    meter: IntervalMeter, samples: list[MeterSample]
) -> tuple[IntervalMeter, list[IntervalEnergy]]:
    closed: list[IntervalEnergy] = []
    for sample in samples:
        meter, done = meter.step(sample)
        closed += done
    return meter, closed


def steady(
    kw: float,
    start_s: float,
    end_s: float,
    every_s: float,
    kwh0: float = 1000.0,
    register: bool = True,
) -> list[MeterSample]:
    samples = []
    t = start_s
    while t <= end_s:
        kwh = kwh0 + kw * (t - start_s) / 3600 if register else None
        samples.append(MeterSample(t, kwh, kw * 1000))
        t += every_s
    return samples


def test_energy_is_the_register_difference_at_the_edges() -> None:
    meter, closed = run(IntervalMeter(3600), steady(3.0, T0, T0 + 2 * 3600 + 35, 10))
    assert [c.start_s for c in closed] == [T0, T0 + 3600]
    assert [c.energy_kwh for c in closed] == pytest.approx([3.0, 3.0])
    assert not any(c.estimated for c in closed)
    assert meter.so_far_kwh() == pytest.approx(3.0 * 30 / 3600)  # the last at 19:00:30


def test_the_register_not_the_power_decides_when_both_are_there() -> None:
    """The power says 10 kW, the register rises 2 kWh an hour: the bill uses the register."""
    samples = [MeterSample(t, 50 + 2 * (t - T0) / 3600, 10_000) for t in range(T0, T0 + 3611, 10)]
    _, closed = run(IntervalMeter(3600), samples)
    assert closed == [IntervalEnergy(T0, pytest.approx(2.0), False)]  # type: ignore[arg-type]


def test_the_edge_between_two_telegrams_is_interpolated() -> None:
    samples = [
        MeterSample(T0 - 4, 100.0, 0),
        MeterSample(T0 + 6, 100.010, 0),  # 10 Wh in 10 s: 4 Wh of it before the edge
        MeterSample(T0 + 3596, 103.0, 0),
        MeterSample(T0 + 3606, 103.1, 0),
    ]
    _, closed = run(IntervalMeter(3600), samples)
    assert len(closed) == 2  # the first, entered 4 s before its end, is estimated
    assert closed[0].estimated and not closed[1].estimated
    assert closed[1].energy_kwh == pytest.approx(103.04 - 100.004)


def test_a_silent_meter_across_an_edge_marks_both_intervals_estimated() -> None:
    samples = steady(3.0, T0, T0 + 3500, 10) + steady(
        3.0, T0 + 3800, T0 + 7300, 10, 1000 + 3.0 * 3800 / 3600
    )
    _, closed = run(IntervalMeter(3600), samples)
    assert [c.estimated for c in closed] == [True, True]
    assert [c.energy_kwh for c in closed] == pytest.approx([3.0, 3.0])


def test_without_a_register_at_the_edge_the_power_bridges_it() -> None:
    """A meter that sends its register once an hour (list 3), a few seconds after the hour."""
    samples = [MeterSample(T0 + 5, 500.0, 4000)]
    samples += [MeterSample(t, None, 4000) for t in range(T0 + 15, T0 + 3600, 10)]
    samples += [MeterSample(T0 + 3605, 504.0, 4000)]
    samples += [MeterSample(t, None, 4000) for t in range(T0 + 3615, T0 + 7210, 10)]
    _, closed = run(IntervalMeter(3600), samples)
    assert [c.estimated for c in closed] == [True, True]
    assert [c.energy_kwh for c in closed] == pytest.approx([4.0, 4.0], abs=0.01)


def test_a_register_sent_now_and_then_is_not_taken_for_a_swapped_meter() -> None:
    """List 3 once an hour, a few seconds after it, and power that reads 2.5 % high: each
    register is below the estimate the power made since the last one. Both hours are measured
    from the registers on either side, the power only sharing out what they say."""
    samples = [MeterSample(T0 + 5, 500.0, 4000)]
    samples += [MeterSample(t, None, 4000) for t in range(T0 + 15, T0 + 3600, 10)]
    samples += [MeterSample(T0 + 3605, 503.9, 4000)]
    samples += [MeterSample(t, None, 4000) for t in range(T0 + 3615, T0 + 7200, 10)]
    samples += [MeterSample(T0 + 7205, 507.8, 4000)]
    _, closed = run(IntervalMeter(3600), samples)
    assert [c.start_s for c in closed] == [T0, T0 + 3600]
    # the registers' 3.9 kWh an hour, shared out at the edges by the power's shape; the first
    # hour's start is extrapolated back 5 s at 4 kW
    first_kwh = 3.9 * 3595 / 3600 + 4 * 5 / 3600
    assert [c.energy_kwh for c in closed] == pytest.approx([first_kwh, 3.9], abs=1e-9)


def test_a_wall_clock_step_back_is_ignored() -> None:
    meter, _ = run(IntervalMeter(3600), steady(1.0, T0, T0 + 100, 10))
    assert meter.step(MeterSample(T0 + 50, 999.0, 0)) == (meter, ())


def test_a_register_going_back_leaves_the_open_interval_unmeasured() -> None:
    samples = [*steady(1.0, T0, T0 + 1800, 10), MeterSample(T0 + 1810, 3.0, 1000)]
    samples += [
        MeterSample(t, 3.0 + (t - T0 - 1810) / 3600, 1000) for t in range(T0 + 1820, T0 + 7210, 10)
    ]
    _, closed = run(IntervalMeter(3600), samples)
    assert [c.start_s for c in closed] == [T0 + 3600]  # the swapped hour is not billed from us
    assert closed[0].energy_kwh == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.floats(0.5, 59.0), min_size=50, max_size=400),
    kw=st.floats(0.0, 20.0),
    interval_s=st.sampled_from([900, 3600]),
)
def test_with_telegrams_within_the_gap_the_intervals_add_up_to_the_register(
    gaps: list[float], kw: float, interval_s: int
) -> None:
    t, samples = float(T0), []
    for gap in gaps:
        samples.append(MeterSample(t, 7000 + kw * (t - T0) / 3600, kw * 1000))
        t += gap * 30  # up to 30 min apart: some edges measured, some bridged
    _, closed = run(IntervalMeter(interval_s, max_gap_s=900), samples)
    for c in closed:
        assert c.energy_kwh == pytest.approx(kw * interval_s / 3600, abs=1e-6)
    starts = [c.start_s for c in closed]
    assert starts == list(range(T0, T0 + interval_s * len(closed), interval_s))
