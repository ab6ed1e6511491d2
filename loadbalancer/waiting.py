"""The wait at the top of every long-lived loop: for a wake-up event, at most a period.

A task asked to stop must stop, even when a library it awaited swallowed the
``CancelledError`` on the way: before Python 3.12, ``asyncio.wait_for`` (which pymodbus's
connect uses) returns its result when the inner call completes in the same loop iteration as
the cancel, and the request is lost. The task then still counts the request
(``Task.cancelling()``), so the next wait here raises it again instead of looping on for ever
and holding up the shutdown, whose safe limits come after every loop has ended.
"""

from __future__ import annotations

import asyncio
import contextlib


async def woken_or_timed_out(event: asyncio.Event, timeout_s: float | None) -> None:
    """Wait for ``event`` at most ``timeout_s`` seconds (None: no limit), then clear it;
    raise ``CancelledError`` at once if this task has been asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    event.clear()
