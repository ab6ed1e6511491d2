"""Issue 19: the shell's switching sequence, through a real link against an emulated Modbus box
on loopback: the box switches only after the car stopped, a refusing box and a car that does
not resume end switching for the session."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.chargers.simbox import SimulatedCar
from tests.phases.boxes import linked, phase_writes, running, switch_to


def drawing_car(delay_s: float = 0.1, *, resumes: bool = True) -> SimulatedCar:
    return SimulatedCar(delay_s=delay_s, shortfall_a=0.2, resumes_after_switch=resumes)


async def test_a_box_switches_to_one_phase_after_its_car_stopped_and_reads_it_back(
    tmp_path: Path,
) -> None:
    async with linked(tmp_path, drawing_car()) as run:
        link, box = run.link, run.emulator.box
        await link.poll_once()  # online: the box's count is read (3)
        link.decided(running(10.0))
        await link.write_once()
        await asyncio.sleep(0.3)
        await link.poll_once()
        assert box.draw_a() > 9 and link.phase is not None and link.phase.box_count == 3
        assert link.decided(switch_to(1)) is True
        await link.write_once()  # the sequence: 0 A, the car stops, the switch, its read-back
        assert box.phase_count == 1 and phase_writes(run)
        assert [drawn for _, _, drawn in box.phase_switches] == [0.0]
        started = run.records("phase_switch_started")
        assert started and started[0]["from_count"] == 3 and started[0]["to_count"] == 1
        assert run.records("phase_switch_done")[0]["phase_count"] == 1
        read = link.booked_read(None)
        assert read is not None and (read.phase_count, read.phase_switch_failed) == (1, False)
        # it resumes on one phase: the car draws on the box's first phase only
        link.decided(running(8.0, count=1))
        await link.write_once()
        await asyncio.sleep(0.3)
        assert box.phase_currents_a()[1:] == (0.0, 0.0) and box.phase_currents_a()[0] > 7


async def test_a_box_whose_read_back_stays_ends_switching_for_the_session(tmp_path: Path) -> None:
    async with linked(tmp_path, drawing_car()) as run:
        link, box = run.link, run.emulator.box
        box.phase_switch_stuck = True
        await link.poll_once()
        link.decided(switch_to(1))
        await link.write_once()
        failed = run.records("phase_switch_failed")
        assert failed and "read-back" in failed[0]["error"] and not run.records("phase_switch_done")
        read = link.booked_read(None)
        assert read is not None and (read.phase_count, read.phase_switch_failed) == (3, True)
        assert link.phase is not None and not link.phase.due()  # no second try this session
        box.unplug()  # a new session
        await link.poll_once()
        read = link.booked_read(None)
        assert read is not None and read.phase_switch_failed is False


async def test_a_box_that_refuses_the_write_ends_switching_for_the_session(tmp_path: Path) -> None:
    async with linked(tmp_path, drawing_car()) as run:
        run.emulator.faults.reject_writes_to["phases"] = 4
        await run.link.poll_once()
        run.link.decided(switch_to(1))
        await run.link.write_once()
        assert "exception" in run.records("phase_switch_failed")[0]["error"].lower()
        assert run.emulator.box.phase_count == 3
        read = run.link.booked_read(None)
        assert read is not None and read.phase_switch_failed


async def test_a_car_that_keeps_drawing_is_never_switched(tmp_path: Path) -> None:
    async with linked(tmp_path, drawing_car()) as run:
        run.emulator.box.ignore_setpoint = True  # it draws its maximum whatever it is offered
        await run.link.poll_once()
        run.link.decided(switch_to(1))
        await run.link.write_once()
        assert phase_writes(run) == [] and run.emulator.box.phase_count == 3
        assert "still draws" in run.records("phase_switch_failed")[0]["error"]


async def test_a_car_that_does_not_resume_is_reported_and_switching_ends(tmp_path: Path) -> None:
    async with linked(tmp_path, drawing_car(resumes=False)) as run:
        link = run.link
        await link.poll_once()
        link.decided(running(10.0))
        await link.write_once()
        await asyncio.sleep(0.3)
        await link.poll_once()
        link.decided(switch_to(1))
        await link.write_once()
        assert run.emulator.box.phase_count == 1
        link.decided(running(8.0, count=1))
        await link.write_once()  # offered again: the car has 1 s (the test profile's) to draw
        await asyncio.sleep(0.6)
        await link.poll_once()
        assert not run.records("phase_switch_no_resume")
        await asyncio.sleep(0.6)
        await link.poll_once()
        report = run.records("phase_switch_no_resume")
        assert report and report[0]["phase_count"] == 1 and report[0]["waited_s"] == 1
        read = link.booked_read(None)
        assert read is not None and read.phase_switch_failed


@settings(max_examples=4, deadline=None, derandomize=True, database=None)
@given(
    delay_s=st.sampled_from((0.0, 0.4, 1.5)),
    drawing_a=st.sampled_from((0.0, 6.0, 16.0)),
    target=st.sampled_from((1, 3)),
)
def test_the_sequence_never_writes_a_phase_change_while_the_car_draws(
    delay_s: float, drawing_a: float, target: int
) -> None:
    """Whatever the car's delay in following 0 A (past the box's stop timeout of 1 s too) and
    whatever it drew, every phase write reaches a box whose car draws nothing."""

    async def scenario(tmp_path: Path) -> None:
        async with linked(tmp_path, drawing_car(delay_s)) as run:
            box = run.emulator.box
            box.phase_count = 3 if target == 1 else 1
            await run.link.poll_once()
            run.link.decided(running(drawing_a, count=box.phase_count))
            await run.link.write_once()
            await asyncio.sleep(delay_s + 0.1)
            run.link.decided(switch_to(target))
            await run.link.write_once()
            assert all(drawn == 0.0 for _, _, drawn in box.phase_switches)
            switched = bool(run.records("phase_switch_done"))
            assert switched == (box.phase_count == target)
            assert switched or run.records("phase_switch_failed")

    with tempfile.TemporaryDirectory() as where:
        asyncio.run(scenario(Path(where)))
