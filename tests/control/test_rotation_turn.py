"""A car within its turn that the fuse drops is not paused for a waiting car's turn.

Found by the tariff's property machine (tests/control/test_tariff_machine.py, seed 109 of a
sweep): a one-phase car on L1, 200 s into its turn (``min_share_hold_s`` 900 s), short of its
minimum on L1 while a waiting car on L3 fitted: it was paused as ``share_rotation_pause`` (and
not held on the fuse's budget), its turn not over.
"""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control import Decision, Reason
from tests.control.builders import at, config_of, ev, read, step


def decision_after(turn_s: float) -> Decision:
    """a on L1 ``turn_s`` into its turn; b on L3 has waited 3000 s, with room for 600 s.
    L1: 14 A of house leaves 19 - 14 = 5 A, below a's 6 A minimum; 14 + 6 = 20 A is within
    the rating: the fuse may hold it on its budget. L3 has room for b."""
    config = config_of(ev("a", ("L1",)), ev("b", ("L3",)))
    memories = {
        "a": replace(at(6), turn_since_s=-turn_s, car_phases=(0,)),
        "b": replace(at(0, room_since_s=-600.0), waiting_since_s=-3000.0, car_phases=(2,)),
    }
    reads = {"a": read(6, phases=1), "b": read(0, phases=1, status="B")}
    return step(config, (14, 2, 2), reads, memories)[1]


def test_a_car_the_fuse_drops_within_its_turn_is_held_though_one_waits_elsewhere() -> None:
    decision = decision_after(200.0)
    assert (decision.setpoint("a"), decision.charger("a").reason) == (6, Reason.MIN_CURRENT_HOLD)
    assert decision.setpoint("b") == 6


def test_a_car_whose_turn_is_over_still_pauses_for_the_waiting_one() -> None:
    decision = decision_after(1000.0)
    reason = decision.charger("a").reason
    assert (decision.setpoint("a"), reason) == (0, Reason.SHARE_ROTATION_PAUSE)
