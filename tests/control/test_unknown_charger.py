"""No charger read, however absurd, can raise a set-point (issue 11, item 1).

Whatever a box reports as its currents (NaN, inf, 3e38, a uint32 all-ones, a large negative),
every set-point is at most what the same situation gives with that charger *booked*: its draw
unknown (left in the house load) and its last limit reserved on its phases.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from loadbalancer.control import (
    ChargerMemory,
    ChargerRead,
    ControllerState,
    Inputs,
    MeterInput,
    decide,
)
from loadbalancer.control.fuse import BudgetState
from loadbalancer.control.plausibility import ABSOLUTE_MAX_A, NEGATIVE_NOISE_A, implausible_current
from tests.control.builders import at, config_of, ev

CONFIG = config_of(ev("liar", failsafe_current_a=6), ev("other", ("L1",), max_current_a=16))

absurd = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 3e38, -3e38, 4294967.295, 1e308]),
    st.floats(min_value=ABSOLUTE_MAX_A + 0.001, allow_infinity=True, allow_nan=False),
    st.floats(max_value=-NEGATIVE_NOISE_A - 0.001, allow_infinity=True, allow_nan=False),
)
anything = st.one_of(absurd, st.floats(min_value=0, max_value=40))
setpoints = st.sampled_from([None, 0.0, 6.0, 10.0, 16.0])


@given(
    phases=st.tuples(absurd, anything, anything).flatmap(st.permutations),
    meter=st.tuples(*(st.floats(-30, 60) for _ in range(3))),
    liar_at=setpoints,
    other_at=setpoints,
    other_draw=st.floats(0, 16),
    status=st.sampled_from(["A", "B", "C", None]),
)
def test_no_read_value_raises_a_setpoint(
    phases: list[float],
    meter: tuple[float, float, float],
    liar_at: float | None,
    other_at: float | None,
    other_draw: float,
    status: str | None,
) -> None:
    state = ControllerState((_memory(liar_at), _memory(other_at)), BudgetState())
    inputs_meter = MeterInput(meter, 0.0)
    other = ChargerRead((other_draw,), "C", True, 0.0)
    lying = ChargerRead(tuple(phases), status, True, 0.0)
    booked = ChargerRead((), status, True, 0.0, controlled=False)
    _, told = decide(state, Inputs(inputs_meter, {"liar": lying, "other": other}), CONFIG, 0.0)
    _, safe = decide(state, Inputs(inputs_meter, {"liar": booked, "other": other}), CONFIG, 0.0)
    for said, baseline in zip(told.chargers, safe.chargers, strict=True):
        assert math.isfinite(said.setpoint_a)
        assert said.setpoint_a <= baseline.setpoint_a
    liar = told.charger("liar")
    if liar.reason == "charger_unknown_reserved":
        # booked: never 0, never infinite, never above its maximum
        assert 6 <= liar.setpoint_a <= 16
    else:  # its phase is over: cut below its booking, whatever it reports
        assert liar.reason == "overload_cut"
        assert max(meter) > CONFIG.fuse.target_a
        assert liar.setpoint_a < 16
    assert all(math.isfinite(value) for value in liar.measured_a)
    for values in (told.house_a, told.allowed_a):
        assert all(value is None or math.isfinite(value) for value in values.values())


def _memory(setpoint_a: float | None) -> ChargerMemory:
    return ChargerMemory() if setpoint_a is None else at(setpoint_a)


ALONE = config_of(ev("liar", failsafe_current_a=6), fuse="3x20A-strict")
INF = ChargerRead((math.inf, math.inf, math.inf), "C", True, 0.0)


def test_an_unknown_charger_alone_is_cut_when_its_phase_is_over() -> None:
    # the only charger lies about its current: the oven on L1 takes the meter over the fuse;
    # booked at 16 A and never cut, it would keep the phase over for good
    state = ControllerState((at(16.0),), BudgetState())
    over = MeterInput((ALONE.fuse.target_a + 4.2, 10.0, 10.0), 0.0)
    state, decision = decide(state, Inputs(over, {"liar": INF}), ALONE, 0.0)
    liar = decision.charger("liar")
    assert (liar.reason, liar.setpoint_a) == ("overload_cut", 11.0)
    # next telegram, the car followed: no phase over, the limit is kept, never raised
    fits = MeterInput((ALONE.fuse.target_a - 1.0, 5.0, 5.0), 10.0)
    _, decision = decide(state, Inputs(fits, {"liar": replace(INF, read_s=10.0)}), ALONE, 10.0)
    liar = decision.charger("liar")
    assert (liar.reason, liar.setpoint_a) == ("charger_unknown_reserved", 11.0)


def test_an_unknown_charger_is_paused_when_less_than_its_minimum_is_left() -> None:
    state = ControllerState((at(10.0),), BudgetState())
    over = MeterInput((ALONE.fuse.target_a + 6.0, 10.0, 10.0), 0.0)
    _, decision = decide(state, Inputs(over, {"liar": INF}), ALONE, 0.0)
    assert decision.charger("liar").setpoint_a == 0.0


def test_an_unknown_charger_gets_the_safe_current_when_the_meter_is_stale() -> None:
    state = ControllerState((at(16.0),), BudgetState())
    old = MeterInput((5.0, 5.0, 5.0), 0.0)
    now_s = ALONE.stale_after_s + 1.0
    read_now = replace(INF, read_s=now_s)
    _, decision = decide(state, Inputs(old, {"liar": read_now}), ALONE, now_s)
    liar = decision.charger("liar")
    assert (liar.reason, liar.setpoint_a) == ("meter_stale_fallback", ALONE.safe_current_a)


def test_a_box_at_its_own_default_limit_is_plausible_above_the_site_maximum() -> None:
    # before the first write a Vestel draws at its own 32 A while the site allows it 10 A: that
    # is a real draw to subtract from the meter, not a broken read (it made 20 boxes unknown)
    spec = replace(ev("box", max_current_a=10), box_max_current_a=32.0)
    assert spec.plausible_max_a == 32.0
    assert implausible_current((32.0, 32.0, 32.0), spec.plausible_max_a) is None
    # 0xFFFE at 1 mA is still no draw of this box (above twice what it can be set to)
    assert implausible_current((65.534, 0.0, 0.0), spec.plausible_max_a) is not None
    assert implausible_current((32.0, 32.0, 32.0), ev("box", max_current_a=10).plausible_max_a)
