"""The resume rule: a paused charger resumes once its minimum has fitted for ``resume_delay_s``
(doubled for each pause within ``pause_memory_s``, at most ``resume_delay_max_s``), in one step to
the lowest share seen while it waited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadbalancer.control.allocate import EPSILON_A
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.demand import Online
from loadbalancer.control.hold import Fit
from loadbalancer.control.state import ChargerMemory


@dataclass(frozen=True, slots=True)
class Waiting:
    """The paused chargers' wait: per paused charger since when its minimum fits (None: it does
    not), per paused charger with room the lowest share seen since the room began, and those
    whose wait is over."""

    room_since_s: dict[int, float | None]
    room_floor_a: dict[int, float]
    resuming: frozenset[int]


def waiting(
    online: Sequence[Online],
    room: Fit,
    offer_a: Sequence[float],
    config: ControlConfig,
    now_s: float,
) -> Waiting:
    """The wait of each paused charger, from ``room``: the shares with everyone taking part,
    and ``offer_a``: per grid phase what the chargers may use."""
    room_since: dict[int, float | None] = {}
    room_floor: dict[int, float] = {}
    memories: dict[int, ChargerMemory] = {}
    ready: set[int] = set()
    for charger in online:
        if charger.previous_a != 0:
            continue
        memories[charger.index] = charger.memory
        needed_a = charger.spec.min_current_a + config.resume_margin_a - EPSILON_A
        share_a = room.shares.get(charger.index, 0.0)
        has_room = share_a >= needed_a
        waiting_since = charger.memory.room_since_s
        # noise around the cut point does not restart a wait: it goes on while the minimum
        # would still keep the phase within its rating (the margin), as a hold would
        near_a = min((offer_a[p] for p in charger.phases), default=0.0)
        goes_on = waiting_since is not None and near_a >= needed_a - config.fuse.margin_a
        since = waiting_since if waiting_since is not None else now_s
        room_since[charger.index] = since if has_room or goes_on else None
        if has_room or goes_on:
            floor_a = charger.memory.headroom_floor_a if waiting_since is not None else share_a
            room_floor[charger.index] = min(floor_a, share_a)
        if has_room:
            ready.add(charger.index)
    resuming = frozenset(
        index
        for index, since in room_since.items()
        if since is not None
        and index in ready
        and now_s - since >= resume_delay_s(memories[index], config, now_s) - EPSILON_A
    )
    return Waiting(room_since, room_floor, resuming)


def resume_delay_s(memory: ChargerMemory, config: ControlConfig, now_s: float) -> float:
    """How long a paused charger's minimum must fit before it resumes: ``resume_delay_s``,
    doubled for every further pause within ``pause_memory_s``, at most ``resume_delay_max_s``
    (so a load that keeps cutting it off cannot wear the contactor out)."""
    recent = sum(1 for t in memory.pauses_s if now_s - t < config.pause_memory_s)
    doubled = config.resume_delay_s * 2.0 ** max(0, min(recent - 1, 30))
    return min(doubled, max(config.resume_delay_max_s, config.resume_delay_s))
