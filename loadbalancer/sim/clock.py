"""Simulated time for the whole asyncio world of a simulation.

Two clocks. :class:`VirtualLoop` (the default) stands still while anything is ready and jumps to
the next timer when nothing is: a run takes as long as its work, and a busy machine cannot make
the service look late. :class:`AcceleratedLoop` (``--speed``) runs ``speed`` times faster than
the wall clock, to watch a run live; a starved process falls behind it. With either, every
``asyncio.sleep``, ``asyncio.timeout`` and ``call_later`` in the service, in pymodbus and in the
emulators follows simulated time, while the sockets stay real. Code that takes the time
explicitly is given ``loop.time`` as its clock.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable, Coroutine
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


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without waiting; when nothing is ready, the loop's clock jumps to its next timer."""

    def __init__(self) -> None:
        super().__init__()
        self.jump: Callable[[float], None] = lambda _s: None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only a socket can wake the loop
            blocking: list[tuple[selectors.SelectorKey, int]] = super().select(None)
            return blocking
        self.jump(timeout)
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    """Simulated time that does not depend on the machine: the clock stands still while any
    task or socket has work, and jumps to the next timer when none has. Every task of the
    simulation (the service, the meter and the boxes) lives in this one loop and process, so a
    loopback write is readable by its peer before the clock moves on."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        self._now = 0.0
        selector.jump = self._advance

    def _advance(self, seconds: float) -> None:
        self._now += seconds

    def time(self) -> float:
        return self._now


def run_simulated(main: Coroutine[Any, Any, T], speed: float | None) -> T:
    """``asyncio.run`` in simulated time: on a :class:`VirtualLoop` when ``speed`` is None, else
    on an :class:`AcceleratedLoop` tied to the wall clock."""
    if speed is not None:
        return run_accelerated(main, speed)
    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        return runner.run(main)
