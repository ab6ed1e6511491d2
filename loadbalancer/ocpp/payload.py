"""The charging profile an OCPP box gets for a limit (OCPP 1.6 JSON, ready to send: the
library's dataclass conversion was a third of a write's cost)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ocpp.v16 import enums

from loadbalancer.electric import NOMINAL_VOLTAGE_V as VOLTS
from loadbalancer.ocpp.phases import count_to_send, number_phases

if TYPE_CHECKING:
    from loadbalancer.ocpp.charger import OcppCharger

#: the one charging profile id this service writes per charge point
PROFILE_ID = 1
#: the safe profile's id (``expiring_profile`` failsafe)
SAFE_PROFILE_ID = 2
#: Absolute profiles start this far in the past (some boxes ignored a start of "now")
START_IN_PAST = timedelta(minutes=1)


def charging_profile(
    charger: OcppCharger,
    limit_a: float,
    valid_s: float | None,
    *,
    safe: bool = False,
    phases: int | None = None,
) -> dict[str, Any]:
    """The limit as the profile's charging profile (OCPP 1.6 JSON, the fields in the
    library's order, unset ones left out); ``valid_s``: it expires that long after now;
    ``safe``: the safe one, at the failsafe's stack level; ``phases``: a new count (only
    :meth:`OcppCharger.write_phases`), else the one in force."""
    charging = charger.profile.charging
    level = charger.profile.failsafe.safe_stack_level if safe else charging.stack_level
    phases = count_to_send(charger) if phases is None else phases
    unit, limit = enums.ChargingRateUnitType.amps, limit_a
    if charging.rate_unit == "W":  # a W-only box: the total of its phases at 230 V
        unit, limit = enums.ChargingRateUnitType.watts, math.floor(limit_a * VOLTS * phases)
    period: dict[str, Any] = {"startPeriod": 0, "limit": float(limit)}
    sent = number_phases(charger, phases) if charging.number_phases else None
    if sent is not None:
        period["numberPhases"] = sent
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit.value,
        "chargingSchedulePeriod": [period],
    }
    if valid_s is not None:
        schedule["duration"] = math.ceil(START_IN_PAST.total_seconds() + valid_s)
    if charging.kind == "Absolute":
        start = datetime.now(UTC) - START_IN_PAST
        schedule["startSchedule"] = start.isoformat().replace("+00:00", "Z")
    return {
        "chargingProfileId": SAFE_PROFILE_ID if safe else PROFILE_ID,
        "stackLevel": charging.stack_level if level is None else level,
        "chargingProfilePurpose": enums.ChargingProfilePurposeType(charging.purpose).value,
        "chargingProfileKind": enums.ChargingProfileKindType(charging.kind).value,
        "chargingSchedule": schedule,
    }
