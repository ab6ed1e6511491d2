"""The SetChargingProfile the central system builds as OCPP JSON itself (not through the
``ocpp`` library's types, and not checked on its way out): for every bundled OCPP profile, on
one and three phases, a limit, an expiring limit and the safe profile fit the OCPP 1.6 schema
(the library's own check, as a box would run it) and say what was asked."""

from __future__ import annotations

import time
from typing import Any

import pytest
from ocpp.messages import Call, validate_payload

from loadbalancer.control.config import ChargerSpec
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.ocpp.charger import OcppCharger
from loadbalancer.ocpp.payload import charging_profile
from loadbalancer.ocpp.profile import load_ocpp_profile
from loadbalancer.ocpp.site import OcppChargerConfig
from loadbalancer.resources import bundled_profile_names

PHASES = [("L1",), ("L1", "L2", "L3")]


@pytest.mark.parametrize("phases", PHASES, ids=["1p", "3p"])
@pytest.mark.parametrize("name", bundled_profile_names("ocpp"))
@pytest.mark.parametrize(("valid_s", "safe"), [(None, False), (90.0, False), (None, True)])
async def test_every_bundled_profiles_payload_fits_the_schema(
    name: str, phases: tuple[str, ...], valid_s: float | None, safe: bool
) -> None:
    profile = load_ocpp_profile(name)
    spec = ChargerSpec("carport", phases, 16.0)
    config = OcppChargerConfig("carport", profile, name, "CP1", spec)
    charger = OcppCharger(config, clock=time.monotonic)
    payload: dict[str, Any] = {
        "connectorId": config.connector_id,
        "csChargingProfiles": charging_profile(charger, 7.5, valid_s, safe=safe),
    }
    # raises the library's FormatViolation/TypeConstraintViolation/... on a misfit
    await validate_payload(Call("1", "SetChargingProfile", payload), "1.6")
    built = payload["csChargingProfiles"]
    schedule = built["chargingSchedule"]
    (period,) = schedule["chargingSchedulePeriod"]
    if profile.charging.rate_unit == "W":
        assert (schedule["chargingRateUnit"], period["limit"]) == (
            "W",
            float(int(7.5 * NOMINAL_VOLTAGE_V * len(phases))),
        )
    else:
        assert (schedule["chargingRateUnit"], period["limit"]) == ("A", 7.5)
    assert period.get("numberPhases") == (len(phases) if profile.charging.number_phases else None)
    assert built["chargingProfilePurpose"] == profile.charging.purpose
    assert built["chargingProfileId"] == (2 if safe else 1)
    assert schedule.get("duration") == (None if valid_s is None else 60 + 90)
    assert ("startSchedule" in schedule) == (profile.charging.kind == "Absolute")
