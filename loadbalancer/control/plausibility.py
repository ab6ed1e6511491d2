"""The one plausibility gate for a charger's read currents (issue 11). Pure: no I/O, no clock.

A box that answers NaN, inf, 3e38 A or 4294967 A (a uint32 all-ones) is not measuring its car:
believing it makes ``house = meter - measured`` minus infinity and the allowance plus infinity.
A read whose currents are not finite, far above what the charger may ever carry, or negative
beyond metering noise makes the charger *unknown*: the core books it at the highest current it
may be applying (``core._booked_a``) and the service says so once per episode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: a charger current above this multiple of the most it can draw (its installation maximum, or
#: what the box itself can be set to if that is higher) is a broken read
MAX_CURRENT_FACTOR = 2.0
#: ... and above this whatever the maximum (no wallbox phase carries more)
ABSOLUTE_MAX_A = 100.0
#: a charger draws, it does not feed: below minus this is a broken read (noise is tenths of an A)
NEGATIVE_NOISE_A = 1.0


def implausible_current(measured_a: Sequence[float | None], max_current_a: float) -> str | None:
    """Why these per-phase currents cannot be the charger's draw, or None if they can be;
    ``max_current_a`` is the most it can draw (``ChargerSpec.plausible_max_a``)."""
    bound_a = min(MAX_CURRENT_FACTOR * max_current_a, ABSOLUTE_MAX_A)
    for phase, value in enumerate(measured_a, start=1):
        if value is None or not math.isfinite(value):
            return f"current on phase {phase} is not available ({value})"
        if value > bound_a:
            return f"current {value:g} A on phase {phase} is above {bound_a:g} A"
        if value < -NEGATIVE_NOISE_A:
            return f"current {value:g} A on phase {phase} is negative"
    return None
