"""Issue 19: the ``phase_switch`` section of OCPP profiles (numberPhases), the site keys on an
OCPP charger, and what ``check`` and ``ocpp-probe`` say its switching will do."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbalancer.config import load_site
from loadbalancer.errors import ConfigError
from loadbalancer.ocpp.emulator import EmulatedChargePoint
from loadbalancer.ocpp.profile import load_ocpp_profile
from tests.ocpp.harness import profile_file
from tests.ocpp.phase_rig import write_site
from tests.ocpp.test_probe import probe_text


def test_the_boxes_documented_to_take_number_phases_have_a_section() -> None:
    switching = {"charge-amps", "alfen-ocpp"}
    for name in ("charge-amps", "alfen-ocpp", "easee", "zaptec", "wallbox", "ctek", "generic-ocpp"):
        switch = load_ocpp_profile(name).phase_switch
        assert (switch is not None) == (name in switching), name
        if switch is not None:
            assert (switch.one_phase, switch.three_phase, switch.readback) == (1, 3, "meter_values")
            assert not switch.verified and "numberPhases" in switch.unverified
    amps = load_ocpp_profile("charge-amps").phase_switch
    assert amps is not None and amps.key == "ACPhaseSwitchingSupported"


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"charging": {"number_phases": False}, "phase_switch": {}},
            r"phase_switch: switching through numberPhases needs charging\.number_phases",
        ),
        ({"phase_switch": {"one_phase": 3}}, r"phase_switch\.three_phase: must be more than"),
        ({"phase_switch": {"readback": "register"}}, r"phase_switch\.readback"),
        ({"phase_switch": {"stop_timeout_s": 0}}, r"phase_switch\.stop_timeout_s"),
        ({"phase_switch": {"colour": "red"}}, r"phase_switch.*colour"),
    ],
)
def test_a_bad_section_is_refused_naming_its_key(
    tmp_path: Path, sections: dict[str, object], message: str
) -> None:
    name = profile_file(tmp_path, "bad", base="alfen-ocpp", **sections)
    with pytest.raises(ConfigError, match=message):
        load_ocpp_profile(str(tmp_path / name))


def test_switching_an_ocpp_box_without_a_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"phase_switching: the easee profile has no phase_sw"):
        load_site(write_site(tmp_path, "easee"))


def test_check_says_what_an_ocpp_box_s_switching_will_do(tmp_path: Path) -> None:
    site = load_site(write_site(tmp_path, "charge-amps", one_phase_on="L2"))
    lines = [line for line in site.summary().splitlines() if "phase switching" in line]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("charger carport: phase switching auto")
    for part in (
        "one phase on L2",
        "numberPhases 1 / 3 in a 0-A charging profile",
        "only while its ACPhaseSwitchingSupported reads true",
        "read back from the phases its MeterValues show current on",
        "the car has 30 s to stop",
        "120 s to resume",
        "unverified: numberPhases honoured",
    ):
        assert part in line, part
    off = load_site(write_site(tmp_path, "charge-amps", phase_switching="off"))
    assert "phase switching" not in off.summary()


async def test_the_probe_says_how_the_profile_switches_the_box_and_shows_its_key() -> None:
    box = EmulatedChargePoint("HALO-1")
    box.state.settings["ACPhaseSwitchingSupported"] = "true"
    text = await probe_text(box, profile="charge-amps")
    assert "  ACPhaseSwitchingSupported = true" in text
    assert "  phase switching: numberPhases 1 / 3 in a 0-A charging profile, only while" in text
    assert box.state.profiles == []  # nothing written
