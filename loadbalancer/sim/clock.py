"""Accelerated time for the whole asyncio world of a simulation.

The event loop's clock runs ``speed`` times faster than the wall clock, and its selector
waits ``speed`` times shorter, so every ``asyncio.sleep``, ``asyncio.timeout`` and
``call_later`` in the service, in pymodbus and in the emulators follows simulated time, while
the sockets stay real. Code that takes the time explicitly is given ``loop.time`` as its clock.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _ScaledSelector(selectors.DefaultSelector):
    def __init__(self, speed: float) -> None:
        super().__init__()
        self._speed = speed

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        real = None if timeout is None else max(timeout / self._speed, 0.0)
        result: list[tuple[selectors.SelectorKey, int]] = super().select(real)
        return result


class AcceleratedLoop(asyncio.SelectorEventLoop):
    """``time()`` is simulated seconds: ``speed`` x the wall clock since the loop was made."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        super().__init__(_ScaledSelector(speed))
        self.speed = speed
        self._wall_start = time.monotonic()

    def time(self) -> float:
        return (time.monotonic() - self._wall_start) * self.speed


def run_accelerated(main: Coroutine[Any, Any, T], speed: float) -> T:
    """``asyncio.run`` on an accelerated loop."""
    with asyncio.Runner(loop_factory=lambda: AcceleratedLoop(speed)) as runner:
        return runner.run(main)
