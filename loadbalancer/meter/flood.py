"""A meter source that sends far more than a meter can: throttled, and reported as one episode.

Pure: no I/O; the clock is injected. A meter sends at most one telegram a second (DSMR 5;
Swedish, Norwegian and Belgian meters every 1-10 s), and a telegram is at most
:data:`~loadbalancer.meter.p1.MAX_TELEGRAM_BYTES` (HDLC frames are at most 2 KB). So a meter
never sustains more than 4 KiB/s; the budget is twice that, with a burst of four telegrams (a
bridge that hands over what it buffered). Bytes beyond the budget are dropped before the
parser sees them, so a flood costs a bounded amount of parsing whatever its rate.

An episode starts at the first dropped byte (:class:`FloodStart`, with the rate that came in
over the last second) and ends once nothing was dropped for ``quiet_s`` (:class:`FloodEnd`,
with its totals). While it lasts the source is no meter to trust: the service uses none of its
telegrams (the meter-loss rule applies).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from loadbalancer.meter.p1 import MAX_TELEGRAM_BYTES

#: what a source may send, sustained and in one burst
FLOOD_RATE_BYTES_S = 2 * MAX_TELEGRAM_BYTES
FLOOD_BURST_BYTES = 4 * MAX_TELEGRAM_BYTES
#: an episode ends after this long without a dropped byte
FLOOD_QUIET_S = 5.0
#: the input rate in the start record is measured over this window
RATE_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class FloodStart:
    at_s: float
    rate_bytes_s: float  # what came in over the last RATE_WINDOW_S
    limit_bytes_s: float


@dataclass(frozen=True, slots=True)
class FloodEnd:
    at_s: float
    duration_s: float
    received_bytes: int  # during the episode
    dropped_bytes: int
    telegrams_ignored: int


class FloodGuard:
    """A token bucket over the bytes of one source, and the episodes in which it overflowed."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        rate_bytes_s: float = FLOOD_RATE_BYTES_S,
        burst_bytes: float = FLOOD_BURST_BYTES,
        quiet_s: float = FLOOD_QUIET_S,
    ) -> None:
        self.clock = clock
        self.rate_bytes_s = rate_bytes_s
        self.burst_bytes = burst_bytes
        self.quiet_s = quiet_s
        self._tokens = burst_bytes
        self._refilled_s = clock()
        self._window: deque[tuple[float, int]] = deque()
        self._window_bytes = 0
        self._since_s: float | None = None  # the episode's start, None outside one
        self._last_drop_s = 0.0
        self._received = 0
        self._dropped = 0
        self._ignored = 0

    @property
    def flooding(self) -> bool:
        return self._since_s is not None

    def admit(self, size: int) -> tuple[int, FloodStart | None]:
        """``size`` bytes came in: how many of them (from the front) may be parsed, and the
        start of an episode if this chunk began one."""
        now = self.clock()
        self._tokens = min(
            self.burst_bytes, self._tokens + max(0.0, now - self._refilled_s) * self.rate_bytes_s
        )
        self._refilled_s = now
        self._window.append((now, size))
        self._window_bytes += size
        while self._window and self._window[0][0] < now - RATE_WINDOW_S:
            self._window_bytes -= self._window.popleft()[1]
        passed = min(size, int(self._tokens))
        self._tokens -= passed
        started = None
        if passed < size:
            self._last_drop_s = now
            if self._since_s is None:
                self._since_s = now
                self._received = self._dropped = self._ignored = 0
                rate = self._window_bytes / RATE_WINDOW_S
                started = FloodStart(now, rate, self.rate_bytes_s)
        if self._since_s is not None:
            self._received += size
            self._dropped += size - passed
        return passed, started

    def ignored(self) -> None:
        """A telegram of the source was not used because of the episode."""
        self._ignored += 1

    def check(self) -> FloodEnd | None:
        """The end of the episode, once nothing was dropped for ``quiet_s``."""
        if self._since_s is None or self.clock() - self._last_drop_s < self.quiet_s:
            return None
        return self.finish()

    def finish(self) -> FloodEnd | None:
        """End the episode now (the service stops), if one is open."""
        if self._since_s is None:
            return None
        now = self.clock()
        end = FloodEnd(now, now - self._since_s, self._received, self._dropped, self._ignored)
        self._since_s = None
        return end
