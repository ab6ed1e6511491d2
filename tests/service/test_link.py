"""One charger link against a real emulated Modbus box on loopback, without the service around
it: its named states, the one place it goes offline, and what it tells the core."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from loadbalancer.control.compliance import ComplianceState
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.link_state import Due, Episode, Reach
from tests.service.harness import Box, Linked, one_link

THREE = ["L1", "L2", "L3"]


def linked(tmp_path: Path, profile: str = "alfen-eve") -> AbstractAsyncContextManager[Linked]:
    return one_link(tmp_path, Box("carport", profile, THREE))


def outcome(setpoint_a: float, reason: Reason) -> ChargerDecision:
    return ChargerDecision("carport", setpoint_a, reason, None, (), ("L1", "L2", "L3"))


async def test_a_link_comes_online_configures_its_failsafe_and_writes_what_the_core_decided(
    tmp_path: Path,
) -> None:
    async with linked(tmp_path) as run:
        link = run.link
        assert (link.reach, link.due) == (Reach.UNTRIED, {Due.SETPOINT, Due.FAILSAFE})
        assert link.booked_read(None) is None
        await link.poll_once()
        assert link.reach is Reach.ONLINE and Due.FAILSAFE not in link.due
        assert run.records("charger_online")
        assert run.records("failsafe_configured") + run.records("failsafe_unverified")
        assert link.decided(outcome(10.0, Reason.START)) is True
        await link.write_once()
        assert run.emulator.box.setpoint_a == 10.0 and link.written_a == 10.0
        assert Due.SETPOINT not in link.due and link.writes == 1
        # an outcome that only books the box is not an order to write
        assert link.decided(outcome(6.0, Reason.CHARGER_UNKNOWN_RESERVED)) is False
        assert link.desired_a == 10.0


async def test_a_failed_poll_and_a_failed_write_mark_it_offline_once(tmp_path: Path) -> None:
    async with linked(tmp_path) as run:
        link = run.link
        await link.poll_once()
        link.decided(outcome(10.0, Reason.START))
        await run.emulator.set_refusing(True)
        await link.poll_once()
        assert link.reach is Reach.OFFLINE and Due.FAILSAFE in link.due
        link.reach = Reach.ONLINE  # a write that fails on its own goes the same way
        link.due.add(Due.SETPOINT)
        await link.write_once()
        assert link.reach is Reach.OFFLINE
        assert len(run.records("write_failed")) == 1
        # two episodes, each told once, from the same place
        assert len(run.records("charger_offline")) == 2
        await link.poll_once()  # still refusing: no new record
        assert len(run.records("charger_offline")) == 2
        assert link.booked_read(None) is None


async def test_the_core_hears_of_a_car_that_ignores_its_limit_and_the_link_forgets_after(
    tmp_path: Path,
) -> None:
    async with linked(tmp_path) as run:
        link = run.link
        await link.poll_once()
        link.compliance = ComplianceState(over_since_s=1.0, stage=2, stage_since_s=1.0)
        read = link.booked_read(None)
        assert read is not None and read.ignores_limit
        assert link.decided(outcome(0.0, Reason.SETPOINT_IGNORED_PAUSE)) is True
        assert link.compliance.stage == 2  # the core's pause goes on
        link.compliance = ComplianceState(over_since_s=None, stage=2, stage_since_s=1.0)
        read = link.booked_read(None)
        assert read is not None and not read.ignores_limit  # it stopped drawing above it
        link.decided(outcome(16.0, Reason.RESUME))
        assert link.compliance == ComplianceState()  # the pause is over: a new watch


async def test_a_refused_write_is_an_episode_that_makes_the_box_unknown(tmp_path: Path) -> None:
    async with linked(tmp_path) as run:
        link = run.link
        await link.poll_once()
        run.emulator.faults.reject_writes = 4  # server device failure
        link.decided(outcome(10.0, Reason.START))
        await link.write_once()
        assert Episode.WRITE_REFUSED in link.episodes and Due.SETPOINT in link.due
        read = link.booked_read(None)
        assert read is not None and not read.controlled
        run.emulator.faults.reject_writes = None
        link.retry_at_s = 0.0  # its back-off has passed
        await link.write_once()
        assert Episode.WRITE_REFUSED not in link.episodes
        assert [len(run.records(e)) for e in ("write_refused", "write_accepted")] == [1, 1]
