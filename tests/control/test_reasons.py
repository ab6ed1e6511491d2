"""Table tests: every reason code from a minimal input, and the rule it names.

Each case pairs an input that produces the code with a near miss that does not, so each code
is shown to mean exactly its rule. Fuse 3x20A-gG: the chargers may use 19 A minus the house.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from loadbalancer.control import (
    ChargerRead,
    ChargerSpec,
    Inputs,
    MeterInput,
    Reason,
    TariffInput,
    decide,
    initial_state,
)
from loadbalancer.control.config import ControlConfig, PhaseSwitchSpec
from loadbalancer.control.decision import Decision
from loadbalancer.control.fuse import BudgetState
from loadbalancer.control.state import ChargerMemory, ControllerState
from loadbalancer.electric import PHASES
from tests.control.builders import at, config_of, ev, read, step

ONE = config_of(ev())


def test_every_reason_has_a_table_case() -> None:
    covered = {name.removeprefix("test_").upper() for name in globals() if name.startswith("test_")}
    assert {reason.name for reason in Reason} <= covered


def test_start() -> None:
    _, decision = step(ONE, (5, 5, 5), {"ev": read(0, status="B")})
    # issue 13: a start goes straight to what fits (20 A - 1 A margin - 5 A of house)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (14, Reason.START)
    _, crowded = step(ONE, (15, 5, 5), {"ev": read(0, status="B")})
    assert (crowded.setpoint("ev"), crowded.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)


def test_steady() -> None:
    _, decision = step(ONE, (9, 9, 9), {"ev": read(10)}, {"ev": at(10)})
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (10, Reason.STEADY)


def test_at_max() -> None:
    _, decision = step(ONE, (2, 2, 2), {"ev": read(16)}, {"ev": at(16)})
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (16, Reason.AT_MAX)
    _, below = step(ONE, (4, 4, 4), {"ev": read(16)}, {"ev": at(16)})
    assert below.charger("ev").reason is Reason.OVERLOAD_CUT


def test_hold_ramp_delay() -> None:
    state, decision = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=0)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (10, Reason.HOLD_RAMP_DELAY)
    assert state.chargers[0].headroom_since_s == 0


def test_ramp_up() -> None:
    memory = at(10, headroom_since_s=0.0, headroom_floor_a=14.0)
    _, decision = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": memory}, now_s=30)
    # raised to the lowest allowance seen while the headroom lasted, not the current one (16)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (14, Reason.RAMP_UP)
    _, early = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": memory}, now_s=29.9)
    assert (early.setpoint("ev"), early.charger("ev").reason) == (10, Reason.HOLD_RAMP_DELAY)


def test_overload_cut() -> None:
    _, decision = step(ONE, (8, 2, 2), {"ev": read(16)}, {"ev": at(16)})
    assert decision.meter_a["L1"] == 24
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (11, Reason.OVERLOAD_CUT)


def test_share_cut() -> None:
    config = config_of(ev("a"), ev("b"))
    reads = {"a": read(12), "b": read(6)}
    _, decision = step(config, (1, 1, 1), reads, {"a": at(12), "b": at(6)})
    # 1 + 12 + 6 = 19 fits: no phase is over, a gives up its surplus over the fair share
    assert (decision.setpoint("a"), decision.charger("a").reason) == (9, Reason.SHARE_CUT)
    assert (decision.setpoint("b"), decision.charger("b").reason) == (6, Reason.HOLD_RAMP_DELAY)


def test_min_current_hold() -> None:
    _, decision = step(ONE, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)})
    assert decision.allowed_a["L1"] == 3
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (6, Reason.MIN_CURRENT_HOLD)


def test_min_current_pause() -> None:
    spent = BudgetState((60.0, 0.0, 0.0), (1.2, 0.5, 0.5), -10.0)
    _, decision = step(ONE, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)}, budget=spent)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)
    strict = config_of(ev(), fuse="3x20A-strict")
    _, decision = step(strict, (16, 2, 2), {"ev": read(10)}, {"ev": at(10)})
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)
    # hard limit 1.5·In = 30 A: 25 + 6 on L1 with the minimum held, no hold even on a full budget
    # once the one telegram of grace for a spike (issue 13) was used on an earlier telegram
    spiked = replace(at(10), spike_telegram_s=-10.0)
    _, hard = step(ONE, (25, 2, 2), {"ev": read(10)}, {"ev": spiked})
    assert (hard.setpoint("ev"), hard.charger("ev").reason) == (0, Reason.MIN_CURRENT_PAUSE)
    _, under = step(ONE, (23, 2, 2), {"ev": read(10)}, {"ev": at(10)})
    assert (under.setpoint("ev"), under.charger("ev").reason) == (6, Reason.MIN_CURRENT_HOLD)
    # squeezed out by a higher priority while its minimum would fit the phase: paused, not held
    config = config_of(ev("low", priority=1), ev("high", priority=2))
    reads = {"low": read(6), "high": read(12)}
    _, squeezed = step(config, (1, 1, 1), reads, {"low": at(6), "high": at(12)})
    assert (squeezed.setpoint("low"), squeezed.charger("low").reason) == (
        0,
        Reason.MIN_CURRENT_PAUSE,
    )
    assert squeezed.charger("high").reason is Reason.HOLD_RAMP_DELAY


def test_share_rotation_pause() -> None:
    # room for one minimum (19 - 8 = 11 A), not two: a has run for 1000 s, b has waited
    # 100 s for room and has had it for the resume delay (120 s)
    config = config_of(ev("a"), ev("b"))
    reads = {"a": read(10), "b": read(0, status="B")}
    waiting_b = replace(at(0, room_since_s=-120.0), waiting_since_s=-100.0)

    def turn(ran_s: float, config: ControlConfig = config) -> Decision:
        memories = {"a": replace(at(10), turn_since_s=-ran_s), "b": waiting_b}
        return step(config, (8, 8, 8), reads, memories)[1]

    turned = turn(1000.0)
    assert (turned.setpoint("a"), turned.charger("a").reason) == (0, Reason.SHARE_ROTATION_PAUSE)
    assert (turned.setpoint("b"), turned.charger("b").reason) == (6, Reason.RESUME)
    # within its min_share_hold_s (900 s) a keeps its share; without rotation it always does
    for kept in (turn(800.0), turn(1000.0, replace(config, min_share_hold_s=None))):
        assert (kept.setpoint("a"), kept.setpoint("b")) == (10, 0)
        assert kept.charger("b").reason is Reason.PAUSED_WAIT_RESUME


def test_paused_wait_resume() -> None:
    state, decision = step(ONE, (2, 2, 2), {"ev": read(0, status="B")}, {"ev": at(0)}, now_s=50)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (
        0,
        Reason.PAUSED_WAIT_RESUME,
    )
    assert state.chargers[0].room_since_s == 50
    # the minimum does not fit: the room clock stays off (issue 13: no margin on top of it)
    state, _ = step(ONE, (13.5, 2, 2), {"ev": read(0, status="B")}, {"ev": at(0)}, now_s=50)
    assert state.chargers[0].room_since_s is None


def test_resume() -> None:
    memory = at(0, room_since_s=0.0)
    _, decision = step(ONE, (2, 2, 2), {"ev": read(0, status="B")}, {"ev": memory}, now_s=120)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (6, Reason.RESUME)
    _, early = step(ONE, (2, 2, 2), {"ev": read(0, status="B")}, {"ev": memory}, now_s=119)
    assert early.charger("ev").reason is Reason.PAUSED_WAIT_RESUME


def test_setpoint_ignored_pause() -> None:
    """From the first read that says the car ignores its limit: paused for at least
    resume_delay_s (120 s here) and until the car stops drawing above it, then the rules again.
    The record is the core's own decision (the shell no longer edits it)."""
    ignoring = replace(read(16), ignores_limit=True)
    state, decision = step(ONE, (2, 2, 2), {"ev": ignoring}, {"ev": at(16)}, now_s=10)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (
        0,
        Reason.SETPOINT_IGNORED_PAUSE,
    )
    assert decision.to_record()["chargers"][0]["reason"] == "setpoint_ignored_pause"
    assert state.chargers[0].ignored_since_s == 10
    # the car stopped drawing above its limit, but resume_delay_s has not passed: still paused
    obeying = read(0)
    state, decision = step(ONE, (2, 2, 2), {"ev": obeying}, {"ev": state.chargers[0]}, now_s=129)
    assert decision.charger("ev").reason is Reason.SETPOINT_IGNORED_PAUSE
    # after resume_delay_s, still drawing above its limit: still paused (the start is kept)
    state, decision = step(ONE, (2, 2, 2), {"ev": ignoring}, {"ev": state.chargers[0]}, now_s=200)
    assert decision.charger("ev").reason is Reason.SETPOINT_IGNORED_PAUSE
    assert state.chargers[0].ignored_since_s == 10
    # it obeys and the delay has passed: the other rules decide again, the memory is cleared
    state, decision = step(ONE, (2, 2, 2), {"ev": obeying}, {"ev": state.chargers[0]}, now_s=201)
    assert decision.charger("ev").reason is not Reason.SETPOINT_IGNORED_PAUSE
    assert decision.setpoint("ev") > 0 and state.chargers[0].ignored_since_s is None
    # near miss: the same read without ignores_limit is not paused
    _, plain = step(ONE, (2, 2, 2), {"ev": read(16)}, {"ev": at(16)}, now_s=10)
    assert plain.charger("ev").reason is not Reason.SETPOINT_IGNORED_PAUSE
    # offline (no read): nothing to pause and nothing remembered
    state, offline = step(ONE, (2, 2, 2), {}, {"ev": state.chargers[0]}, now_s=300)
    assert offline.charger("ev").reason is Reason.CHARGER_OFFLINE_RESERVED


def test_setpoint_ignored_pause_holds_through_a_stale_meter() -> None:
    ignoring = replace(read(16), ignores_limit=True)
    state, _ = step(ONE, (2, 2, 2), {"ev": ignoring}, {"ev": at(16)}, now_s=10)
    stale = Inputs(MeterInput((5.0, 5.0, 5.0), 0.0), {"ev": replace(ignoring, read_s=60)})
    state, decision = decide(state, stale, ONE, 60.0)
    assert decision.charger("ev").reason is Reason.SETPOINT_IGNORED_PAUSE
    assert state.chargers[0].ignored_since_s == 10


def test_meter_stale_fallback() -> None:
    reads = {"ev": read(16, at_s=100)}
    for meter in (None, MeterInput((5.0, 5.0, 5.0), 74.9)):
        _, decision = decide(initial_state(ONE), Inputs(meter, reads), ONE, 100.0)
        charger = decision.charger("ev")
        assert (charger.setpoint_a, charger.reason) == (6, Reason.METER_STALE_FALLBACK)
    missing_phase = MeterInput((5.0, None, 5.0), 100.0)
    _, decision = decide(initial_state(ONE), Inputs(missing_phase, reads), ONE, 100.0)
    assert decision.charger("ev").reason is Reason.METER_STALE_FALLBACK
    _, fresh = decide(initial_state(ONE), Inputs(MeterInput((5, 5, 5), 75.0), reads), ONE, 100.0)
    assert fresh.charger("ev").reason is Reason.START


def test_charger_offline_reserved() -> None:
    config = config_of(ev("a", failsafe_current_a=8), ev("b"))
    offline = ChargerRead((), None, False, 0.0)
    _, decision = step(config, (3, 3, 3), {"a": offline, "b": read(16)}, {"b": at(16)})
    a = decision.charger("a")
    assert (a.setpoint_a, a.reason) == (8, Reason.CHARGER_OFFLINE_RESERVED)
    # 19 − 3 (house, which holds a's unknown draw) − 8 reserved = 8 left for b
    assert decision.allowed_a == {"L1": 8, "L2": 8, "L3": 8}
    assert decision.setpoint("b") == 8
    too_old = read(0, at_s=-11.0)
    _, decision = step(config, (3, 3, 3), {"a": too_old, "b": read(16)}, {"b": at(16)})
    assert decision.charger("a").reason is Reason.CHARGER_OFFLINE_RESERVED


def test_no_car() -> None:
    _, decision = step(ONE, (2, 2, 2), {"ev": read(0, status="A")}, {"ev": at(6)})
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (6, Reason.NO_CAR)


@pytest.mark.parametrize(
    ("granularity_a", "house_a", "expected_a"),
    [(1.0, 10.3, 8.0), (0.1, 10.25, 8.7), (0.001, 10.2995, 8.7)],
)
def test_set_points_are_rounded_down_to_the_granularity(
    granularity_a: float, house_a: float, expected_a: float
) -> None:
    config = config_of(ChargerSpec("ev", ("L1", "L2", "L3"), 16.0, granularity_a=granularity_a))
    _, decision = step(config, (house_a,) * 3, {"ev": read(16)}, {"ev": at(16)})
    assert decision.setpoint("ev") == expected_a


@pytest.mark.parametrize("reason", list(Reason))
def test_codes_are_short_fixed_strings(reason: Reason) -> None:
    assert reason.value == reason.name.lower()
    assert str(reason) == reason.value


def test_charger_unknown_reserved() -> None:
    # issue 11: a box answering 3e38 A made house = meter - measured -inf and the allowance +inf
    config = config_of(ev("a", failsafe_current_a=6), ev("b"))
    meter = MeterInput((3 + 10 + 8, 3 + 10 + 8, 3 + 10 + 8), 0.0)  # house 3, a draws 10, b 8
    memories = (at(10), at(8))
    state = initial_state(config)
    state = type(state)(memories, state.budget)
    for lie in (3e38, float("inf"), float("nan"), 4294967.295, -50.0):
        lying = ChargerRead((lie, 10.0, 10.0), "C", True, 0.0)
        _, decision = decide(state, Inputs(meter, {"a": lying, "b": read(8)}), config, 0.0)
        a = decision.charger("a")
        # booked at its last limit (10, above its failsafe 6); its draw stays in the house
        assert (a.setpoint_a, a.reason, a.measured_a) == (10, Reason.CHARGER_UNKNOWN_RESERVED, ())
        # 19 - (21 - 8 measured of b) - 10 booked = -4: b is cut, not raised to its maximum
        assert decision.allowed_a == {"L1": -4, "L2": -4, "L3": -4}
        assert decision.setpoint("b") < 8
    # near miss: the same read with a plausible current is trusted
    honest = ChargerRead((10.0, 10.0, 10.0), "C", True, 0.0)
    _, decision = decide(state, Inputs(meter, {"a": honest, "b": read(8)}), config, 0.0)
    assert decision.charger("a").reason is not Reason.CHARGER_UNKNOWN_RESERVED
    # a box that refuses its set-point is booked at the higher of its limit and read-back
    refusing = ChargerRead((10.0, 10.0, 10.0), "C", True, 0.0, limit_a=16.0, controlled=False)
    _, decision = decide(state, Inputs(meter, {"a": refusing, "b": read(8)}), config, 0.0)
    assert (decision.setpoint("a"), decision.charger("a").reason) == (
        16,
        Reason.CHARGER_UNKNOWN_RESERVED,
    )
    # 19 - (21 - 10 - 8) - 16 = 0 for b
    assert decision.allowed_a["L1"] == 0
    # never 0: a paused box whose reads broke may have resumed; at least its minimum
    paused = type(state)((at(0), at(8)), state.budget)
    broken = ChargerRead((float("nan"),) * 3, "C", True, 0.0)
    _, decision = decide(paused, Inputs(meter, {"a": broken, "b": read(8)}), config, 0.0)
    assert decision.setpoint("a") == 6


def hourly(
    budget_kw: float, *, so_far_kwh: float = 0.0, needed_kw: dict[str, float] | None = None
) -> TariffInput:
    """An hourly interval from 0 to 3600 s with ``so_far_kwh`` imported in it already."""
    return TariffInput(budget_kw, 0.0, 3600.0, so_far_kwh, 0.0, needed_kw or {})


def test_tariff_limit() -> None:
    # house 3 x 2 A = 1380 W; 7 kW leaves 5620 W = 8.1 A on three phases: cut from 10 to 8
    _, decision = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=hourly(7.0))
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (8, Reason.TARIFF_LIMIT)
    # the same interval with room in the budget: the fuse's headroom is what counts again
    _, roomy = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=hourly(20.0))
    assert (roomy.setpoint("ev"), roomy.charger("ev").reason) == (10, Reason.HOLD_RAMP_DELAY)
    # half-way, 6.5 kWh of the 7 used: 1000 W for the rest, less than the house: paused
    spent = hourly(7.0, so_far_kwh=6.5)
    _, paused = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, now_s=1800, tariff=spent)
    assert (paused.setpoint("ev"), paused.charger("ev").reason) == (0, Reason.TARIFF_LIMIT)


def test_tariff_override() -> None:
    ready_by = hourly(3.0, needed_kw={"ev": 11.0})
    _, decision = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=ready_by)
    assert (decision.setpoint("ev"), decision.charger("ev").reason) == (10, Reason.TARIFF_OVERRIDE)
    # without the override the same budget pauses it; within the budget the override is silent
    _, capped = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=hourly(3.0))
    assert (capped.setpoint("ev"), capped.charger("ev").reason) == (0, Reason.TARIFF_LIMIT)
    roomy = hourly(20.0, needed_kw={"ev": 11.0})
    _, within = step(ONE, (2, 2, 2), {"ev": read(10)}, {"ev": at(10)}, tariff=roomy)
    assert within.charger("ev").reason is Reason.HOLD_RAMP_DELAY


def paused_step(
    config: ControlConfig,
    reads: dict[str, ChargerRead],
    memories: dict[str, ChargerMemory],
    now_s: float,
    paused: frozenset[str],
) -> tuple[ControllerState, Decision]:
    """A decision on a fresh telegram (house 3 A a phase) with ``paused`` in the inputs."""
    meter = [3.0, 3.0, 3.0]
    reads = {name: replace(r, read_s=now_s) for name, r in reads.items()}  # read just now
    for spec in config.chargers:
        for phase, current in zip(spec.phases, reads[spec.name].measured_a, strict=False):
            meter[PHASES.index(phase)] += current
    state = ControllerState(tuple(memories.get(s.name, ChargerMemory()) for s in config.chargers))
    inputs = Inputs(MeterInput((meter[0], meter[1], meter[2]), now_s), reads, paused=paused)
    return decide(state, inputs, config, now_s)


def test_commanded_pause() -> None:
    """Issue 17: a charger the user paused is set to 0 whatever the rules gave it; its share
    goes to the other charger from the next decision; lifted, it resumes once its minimum has
    fitted for resume_delay_s (counted while it was paused). An offline one keeps its
    failsafe current."""
    two = config_of(ev("a"), ev("b"))
    reads = {"a": read(8), "b": read(8)}
    memories = {"a": at(8), "b": at(8)}
    state, decision = paused_step(two, reads, memories, 0.0, frozenset({"a"}))
    a = decision.charger("a")
    assert (a.setpoint_a, a.reason) == (0, Reason.COMMANDED_PAUSE)
    assert decision.setpoint("b") == 8  # its raise waits for the ramp-up delay
    assert state.chargers[0].pauses_s == ()  # a user's pause is no contactor wear
    # near miss: not paused, the same inputs keep a at its set-point
    _, plain = paused_step(two, reads, memories, 0.0, frozenset())
    assert plain.setpoint("a") == 8 and plain.charger("a").reason is not Reason.COMMANDED_PAUSE
    # a draws nothing now: b's raise (after the ramp-up delay) takes what a left
    reads = {"a": read(0), "b": read(8)}
    memories = {"a": state.chargers[0], "b": state.chargers[1]}
    for now_s in (10.0, 20.0, 41.0):
        state, decision = paused_step(two, reads, memories, now_s, frozenset({"a"}))
        memories = {"a": state.chargers[0], "b": state.chargers[1]}
    assert decision.charger("a").reason is Reason.COMMANDED_PAUSE
    assert decision.setpoint("b") == 16
    # lifted after its minimum fitted for resume_delay_s (120 s) while paused: it resumes
    reads = {"a": read(0), "b": read(10)}
    state, decision = paused_step(two, reads, memories, 125.0, frozenset())
    assert decision.setpoint("a") > 0 and decision.charger("a").reason is Reason.RESUME
    # offline: its failsafe current is what it draws, a pause changes nothing
    offline = {"a": ChargerRead((), None, False, 0.0), "b": read(8)}
    _, decision = paused_step(two, offline, {"b": at(8)}, 0.0, frozenset({"a"}))
    assert decision.charger("a").reason is Reason.CHARGER_OFFLINE_RESERVED


SWITCHING = config_of(replace(ev(), phase_switch=PhaseSwitchSpec(one_phase_on="L1")))


def test_phase_switch_down() -> None:
    # issue 19: L2 and L3 leave 4 A (< 6 A), L1 leaves 14 A: paused on three, fits on one
    plugged = {"ev": replace(read(0, status="B"), phase_count=3)}
    _, decision = step(SWITCHING, (5, 15, 15), plugged, {"ev": at(0)})
    outcome = decision.charger("ev")
    assert (outcome.setpoint_a, outcome.reason, outcome.phase_count) == (
        0,
        Reason.PHASE_SWITCH_DOWN,
        1,
    )
    assert outcome.phases == PHASES  # counted where it may still draw until the box reads back
    # near misses: L1 is full too; the box's count unknown; a box that cannot switch
    _, full = step(SWITCHING, (15, 15, 15), plugged, {"ev": at(0)})
    assert (full.charger("ev").reason, full.charger("ev").phase_count) == (
        Reason.PAUSED_WAIT_RESUME,
        3,
    )
    unknown = {"ev": read(0, status="B")}
    _, unsaid = step(SWITCHING, (5, 15, 15), unknown, {"ev": at(0)})
    assert unsaid.charger("ev").reason is Reason.PAUSED_WAIT_RESUME
    _, fixed = step(ONE, (5, 15, 15), plugged, {"ev": at(0)})
    assert (fixed.charger("ev").reason, fixed.charger("ev").phase_count) == (
        Reason.PAUSED_WAIT_RESUME,
        3,
    )


def test_phase_switch_up() -> None:
    # on one phase at 10 A; three phases have fitted (17 A each) for 400 s > 300 s
    on_one = {"ev": replace(read(10, phases=1), phase_count=1)}
    long = replace(at(10), phase_count=1, phase_fit_since_s=-400.0)
    _, decision = step(SWITCHING, (2, 2, 2), on_one, {"ev": long})
    outcome = decision.charger("ev")
    assert (outcome.setpoint_a, outcome.reason, outcome.phase_count) == (
        0,
        Reason.PHASE_SWITCH_UP,
        3,
    )
    assert outcome.phases == ("L1",)
    # near miss: fitted for 100 s only: it stays on one phase, the timer running
    short = replace(long, phase_fit_since_s=-100.0)
    state, waiting = step(SWITCHING, (2, 2, 2), on_one, {"ev": short})
    assert (waiting.charger("ev").phase_count, waiting.charger("ev").phases) == (1, ("L1",))
    assert waiting.charger("ev").reason is not Reason.PHASE_SWITCH_UP
    assert state.chargers[0].phase_fit_since_s == -100.0
