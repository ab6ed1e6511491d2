"""Rotation of who is paused when not every car's minimum fits (fair sharing at scale).

When the minimum rule (:func:`.hold.fit_minimums`) must drop someone, it drops the least
entitled charger of the lowest priority. Without rotation (``min_share_hold_s`` None) that is
a paused one before a running one, then the last configured: in a garage with room for 25 of
40 cars the same 15 would wait all evening. With rotation a charger's *standing* orders them:

0. a paused car that waits for no turn (a user's pause, a car that ignored its limit) or a
   charger not started yet;
1. a running car that has kept its share for ``min_share_hold_s`` or more: its turn is over,
   the longest-running first;
2. a car waiting for room (paused with a car that wants to charge): the shortest wait first,
   so the car that has waited longest gets the next room;
3. a running car within ``min_share_hold_s`` of its start, the last configured first (as
   without rotation): kept, unless the fuse needs its minimum too (the minimum rule drops
   until everything fits: a cut for the fuse is never held back by this order).

A running car dropped so that a waiting car of its priority gets its turn is paused, not held
at its minimum on the fuse's overload budget: the budget is for household spikes, not turns.
"""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ControllerState

#: paused by these, a car waits for no room: it takes no turn from a running car
NOT_WAITING = frozenset({Reason.COMMANDED_PAUSE, Reason.SETPOINT_IGNORED_PAUSE})


def standing(charger: Online, config: ControlConfig, now_s: float) -> tuple[int, float, int]:
    """How entitled ``charger`` is to (keep) its share among those of its priority: the
    lowest is dropped first by the minimum rule."""
    hold_s = config.min_share_hold_s
    if hold_s is None:  # no rotation: a paused one first, then the last configured
        return (int(charger.running), 0.0, -charger.index)
    if not charger.running:
        waiting_since_s = charger.memory.waiting_since_s
        if waiting_since_s is None:  # paused by a user, or not started yet: no turn to take
            return (-1, 0.0, -charger.index)
        return (1, now_s - waiting_since_s, -charger.index)
    since_s = charger.memory.turn_since_s
    ran_s = 0.0 if since_s is None else now_s - since_s
    if ran_s >= hold_s:
        return (0, -ran_s, -charger.index)
    return (2, 0.0, -charger.index)  # as without rotation: the last configured first


def is_waiting(charger: Online) -> bool:
    """Paused with a car that wants its turn (a charger with no car waits for nothing)."""
    return not charger.running and not charger.no_car and charger.memory.waiting_since_s is not None


def turn_over(
    victim: Online, taking_part: list[Online], config: ControlConfig, now_s: float
) -> bool:
    """Whether the running ``victim`` is dropped for a waiting car of its priority that still
    takes part, its turn over (it has kept its share for ``min_share_hold_s``): it pauses, it
    is not held at its minimum. Within its turn it was dropped for the fuse alone (a waiting
    car on other phases may still take part): held or paused as without rotation."""
    if config.min_share_hold_s is None or not victim.running:
        return False
    if standing(victim, config, now_s)[0] != 0:
        return False
    priority = victim.spec.priority
    return any(c.spec.priority == priority and is_waiting(c) for c in taking_part)


def turn_of(charger: Online, setpoint_a: float, now_s: float) -> tuple[float | None, float | None]:
    """The charger's turn after this decision, as ``(turn_since_s, waiting_since_s)`` of its
    memory: since when its car has had a share (running with a car, whether or not it draws
    yet), and since when it has waited for room (at 0 with a car that wants to charge). A
    user's pause or the pause of a car that ignores its limit ends the wait
    (:data:`NOT_WAITING`, in ``decide``)."""
    if charger.no_car:
        return None, None
    if setpoint_a > 0:
        since_s = charger.memory.turn_since_s if charger.running else None
        return (now_s if since_s is None else since_s), None
    before = charger.memory.waiting_since_s
    return None, (now_s if before is None else before)


def without_waits(
    state: ControllerState, config: ControlConfig, paused: frozenset[str]
) -> ControllerState:
    """``state`` with no wait for the chargers a user pauses: they take no turn from a
    running car (not even on the decision the pause begins)."""
    memories = tuple(
        replace(memory, waiting_since_s=None) if spec.name in paused else memory
        for spec, memory in zip(config.chargers, state.chargers, strict=True)
    )
    return replace(state, chargers=memories)
