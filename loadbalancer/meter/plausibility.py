"""Plausibility checks every meter parser applies before it hands out a reading (SPEC §5)."""

from __future__ import annotations

from collections.abc import Sequence

#: Values no real house produces.
MAX_PHASE_CURRENT_A = 1000.0
MAX_VOLTAGE_V = 500.0
MAX_PHASE_POWER_W = 500_000.0
#: After this many consecutive readings agreeing that a counter is lower than before, the
#: meter was replaced or reset: accept the new counter instead of staying blind forever.
COUNTER_RESET_CONFIRMATIONS = 3


def implausible(
    currents: Sequence[float | None],
    voltages: Sequence[float | None],
    powers: Sequence[float | None],
) -> str | None:
    """Why per-phase values cannot be real, or None."""
    for phase, (amp, volt, watt) in enumerate(zip(currents, voltages, powers, strict=True), 1):
        if amp is not None and abs(amp) > MAX_PHASE_CURRENT_A:
            return f"L{phase} current {abs(amp):g} A is over {MAX_PHASE_CURRENT_A:g} A"
        if volt is not None and not 0.0 <= volt <= MAX_VOLTAGE_V:
            return f"L{phase} voltage {volt:g} V is outside 0-{MAX_VOLTAGE_V:g} V"
        if watt is not None and abs(watt) > MAX_PHASE_POWER_W:
            return f"L{phase} power {watt:g} W is over {MAX_PHASE_POWER_W:g} W"
    return None


class CounterWatch:
    """Energy counters only go up: a reading whose counter went backwards is refused, until
    :data:`COUNTER_RESET_CONFIRMATIONS` readings in a row agree (a new or reset meter). A
    reading with another meter id than the last one with counters starts afresh."""

    def __init__(self) -> None:
        self._last: tuple[float | None, float | None] = (None, None)
        self._meter_id: str | None = None
        self._backwards_streak = 0

    def backwards(
        self, e_imp: float | None, e_exp: float | None, meter_id: str | None = None
    ) -> str | None:
        """Why the counters cannot follow the last accepted ones, or None (and remember them)."""
        if e_imp is None and e_exp is None:
            return None
        if meter_id != self._meter_id:
            self._meter_id = meter_id
            self._last = (None, None)
            self._backwards_streak = 0
        last_imp, last_exp = self._last
        problems = [
            f"{what} energy counter went backwards: {old:.3f} -> {new:.3f} kWh"
            for what, old, new in (("import", last_imp, e_imp), ("export", last_exp, e_exp))
            if old is not None and new is not None and new < old
        ]
        if problems:
            self._backwards_streak += 1
            if self._backwards_streak < COUNTER_RESET_CONFIRMATIONS:
                return "; ".join(problems)
        self._backwards_streak = 0
        self._last = (
            e_imp if e_imp is not None else last_imp,
            e_exp if e_exp is not None else last_exp,
        )
        return None
