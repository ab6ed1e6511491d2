"""The flood budget of a meter source: a token bucket and its episodes, on an injected clock."""

from __future__ import annotations

import pytest

from loadbalancer.meter.flood import (
    FLOOD_BURST_BYTES,
    FLOOD_RATE_BYTES_S,
    FloodEnd,
    FloodGuard,
)
from loadbalancer.meter.p1 import MAX_TELEGRAM_BYTES


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_the_budget_is_bounded_by_what_a_meter_can_send() -> None:
    # one telegram of the largest size every second is what a meter can do; twice that passes
    assert FLOOD_RATE_BYTES_S == 2 * MAX_TELEGRAM_BYTES
    assert FLOOD_BURST_BYTES >= 2 * MAX_TELEGRAM_BYTES


def test_a_meter_sending_its_largest_telegram_every_second_is_never_throttled() -> None:
    clock = Clock()
    guard = FloodGuard(clock)
    for _ in range(600):  # ten minutes
        assert guard.admit(MAX_TELEGRAM_BYTES) == (MAX_TELEGRAM_BYTES, None)
        clock.now_s += 1.0
    assert guard.check() is None
    assert guard.finish() is None  # over: nothing to finish


def test_a_flood_is_cut_to_the_budget_and_reported_once() -> None:
    clock = Clock()
    guard = FloodGuard(clock, rate_bytes_s=1000, burst_bytes=4000, quiet_s=5.0)
    passed_total = 0
    starts = []
    for _ in range(1000):  # 100 KB/s for 10 s, in 1 KB chunks every 10 ms
        passed, started = guard.admit(1000)
        passed_total += passed
        if started is not None:
            starts.append(started)
        clock.now_s += 0.01
    assert guard.flooding
    (start,) = starts
    assert start.limit_bytes_s == 1000
    assert start.at_s == pytest.approx(100.04)  # the burst lasted four chunks
    assert start.rate_bytes_s == 5000  # what came in over the last second: 5 chunks
    # the burst, then the rate: 4000 + 10 s * 1000 bytes/s (to the byte, give or take one)
    assert 4000 + 9_900 <= passed_total <= 4000 + 10_000
    assert guard.check() is None  # still dropping


def test_the_episode_ends_after_quiet_s_with_its_totals() -> None:
    clock = Clock()
    guard = FloodGuard(clock, rate_bytes_s=1000, burst_bytes=1000, quiet_s=5.0)
    assert guard.admit(3000)[0] == 1000  # starts it: 2000 dropped
    guard.ignored()
    clock.now_s += 1.0
    assert guard.admit(500)[0] == 500  # within budget, still in the episode
    clock.now_s += 3.9  # 4.9 s after the last dropped byte
    assert guard.check() is None
    assert guard.flooding, "the episode lasts until quiet_s after the last drop"
    clock.now_s += 0.2
    end = guard.check()
    assert end is not None and abs(end.duration_s - 5.1) < 1e-9
    assert end == FloodEnd(end.at_s, end.duration_s, 3500, 2000, 1)
    assert end.at_s == pytest.approx(105.1)
    assert guard.check() is None
    assert guard.finish() is None  # over: nothing to finish
    # a second flood is a second episode, counted from zero
    clock.now_s += 100.0
    passed, started = guard.admit(5000)
    assert passed == 1000 and started is not None
    finished = guard.finish()
    assert finished is not None and finished.dropped_bytes == 4000
    assert finished.received_bytes == 5000 and guard.finish() is None


def test_a_clock_that_steps_back_gives_no_tokens() -> None:
    clock = Clock()
    guard = FloodGuard(clock, rate_bytes_s=1000, burst_bytes=1000)
    guard.admit(1000)
    clock.now_s -= 50.0
    assert guard.admit(10)[0] == 0
