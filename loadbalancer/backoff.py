"""Exponential back-off between tries: the meter sources' reconnects, the charger connection's
reconnects and the link's retries of a refused or unapplied write.

No I/O and no clock: the caller asks for the next pause and keeps the time itself.
"""

from __future__ import annotations

#: the first pause and the longest one, unless a caller says otherwise
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0


class Backoff:
    """Exponential back-off: ``next_delay_s()`` grows from ``initial_s`` to ``max_s``."""

    def __init__(self, initial_s: float = BACKOFF_INITIAL_S, max_s: float = BACKOFF_MAX_S) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._delay_s = initial_s

    @property
    def delay_s(self) -> float:
        """The pause ``next_delay_s()`` would return, without moving on."""
        return self._delay_s

    def next_delay_s(self) -> float:
        delay = self._delay_s
        self._delay_s = min(self._delay_s * 2.0, self.max_s)
        return delay

    def reset(self) -> None:
        self._delay_s = self.initial_s
