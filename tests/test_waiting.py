"""The wait at the top of the service's loops stops a task whose cancel a library swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from loadbalancer.waiting import woken_or_timed_out


async def a_loop_behind_a_swallowing_library(event: asyncio.Event, inside: asyncio.Event) -> None:
    while True:
        await woken_or_timed_out(event, 0.01)
        inside.set()
        # what asyncio.wait_for did before Python 3.12 when the call and the cancel met
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.01)


async def test_a_cancel_swallowed_on_the_way_stops_the_loop_at_its_next_wait() -> None:
    event = asyncio.Event()
    inside = asyncio.Event()
    task = asyncio.create_task(a_loop_behind_a_swallowing_library(event, inside))
    await inside.wait()
    await asyncio.sleep(0)  # the loop is in the swallowing call now
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1.0)
    assert done and task.cancelled()


async def test_the_event_wakes_it_at_once_and_is_cleared() -> None:
    event = asyncio.Event()
    event.set()
    await asyncio.wait_for(woken_or_timed_out(event, 3600.0), timeout=1.0)
    assert not event.is_set()


async def test_without_the_event_it_returns_after_its_period() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await woken_or_timed_out(asyncio.Event(), 0.02)
    assert loop.time() - start == pytest.approx(0.02, abs=0.5)
