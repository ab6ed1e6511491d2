"""Write economy for OCPP charging profiles: each profile write may be a flash write on the box
(Easee allows about 25 a day), so limits go out only on change, raises no closer than the
profile's minimum interval and not for less than its dead-band, and at most the daily budget.

The conflict with safety is resolved one way: **a cut never waits**. A limit at or below the one
in force (a cut, a pause, a re-assertion after a reconnect) goes out at once, past the minimum
interval and past the daily budget; only raises wait. To keep cuts inside the budget on a normal
day, raises may use the budget only up to :data:`CUT_RESERVE` of it; the rest is kept for cuts. A
raise that waits leaves the box at its lower limit, which is safe: the car only charges slower.
Pure: the caller gives the time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from loadbalancer.ocpp.profile import WriteEconomy

DAY_S = 86400.0
#: the share of the daily budget kept for cuts (raises stop when only this much is left)
CUT_RESERVE = 0.2


class Verdict(Enum):
    WRITE = "write"  # send it now
    SAME = "same"  # already in force: nothing to send
    WAIT = "wait"  # a raise the economy holds back (see ``WriteGate.reason``)


@dataclass
class WriteGate:
    """The writes of one charge point in the last 24 h and the limit in force."""

    economy: WriteEconomy
    in_force_a: float | None = None  # None: unknown (never written, or reconnected)
    last_write_s: float = -math.inf
    times_s: deque[float] = field(default_factory=deque)
    reason: str = ""

    def writes_today(self, now_s: float) -> int:
        while self.times_s and self.times_s[0] <= now_s - DAY_S:
            self.times_s.popleft()
        return len(self.times_s)

    def verdict(self, limit_a: float, now_s: float, *, rewrite: bool = False) -> Verdict:
        """Whether ``limit_a`` may go out now; ``rewrite``: send it even when it is the limit in
        force (the box did not apply it)."""
        economy = self.economy
        used = self.writes_today(now_s)
        if self.in_force_a is None or limit_a < self.in_force_a:
            return Verdict.WRITE  # first write or a cut: never held back
        if limit_a == self.in_force_a and not rewrite:
            return Verdict.SAME
        if limit_a - self.in_force_a < economy.deadband_a and limit_a != self.in_force_a:
            self.reason = f"a raise of less than the dead-band ({economy.deadband_a:g} A)"
            return Verdict.WAIT
        if now_s - self.last_write_s < economy.min_interval_s:
            self.reason = f"the minimum interval between writes ({economy.min_interval_s:g} s)"
            return Verdict.WAIT
        if used >= economy.daily_budget * (1 - CUT_RESERVE):
            self.reason = (
                f"{used} writes in 24 h: the rest of the daily budget ({economy.daily_budget}) "
                "is kept for cuts"
            )
            return Verdict.WAIT
        return Verdict.WRITE

    def wait_s(self, now_s: float) -> float:
        """How long a held raise waits at least (the minimum interval, or until the oldest
        write of the day drops out)."""
        interval_left = self.last_write_s + self.economy.min_interval_s - now_s
        day_left = self.times_s[0] + DAY_S - now_s if self.times_s else 0.0
        return max(interval_left, day_left if self.reason.endswith("for cuts") else 0.0, 0.0)

    def written(self, limit_a: float, now_s: float) -> None:
        self.in_force_a = limit_a
        self.last_write_s = now_s
        self.times_s.append(now_s)

    def count(self, now_s: float) -> None:
        """A write that is not the limit (the failsafe's safe profile)."""
        self.times_s.append(now_s)

    def forget(self) -> None:
        """The box reconnected: what it holds is unknown until written again."""
        self.in_force_a = None
