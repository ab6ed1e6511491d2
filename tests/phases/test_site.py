"""Issue 19: the site file's 1p/3p switching keys, each checked with a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadbalancer.config import load_site
from loadbalancer.control.config import PhaseSwitchSpec
from loadbalancer.errors import ConfigError
from tests.test_config import site_with, write


def charger_with(**keys: Any) -> dict[str, Any]:
    data = site_with()
    data["chargers"][0].update(keys)
    return data


def test_auto_switching_on_a_profile_with_a_phase_switch_section(tmp_path: Path) -> None:
    data = charger_with(phase_switching="auto", one_phase_on="L2", phase_switch_up_after_s=120)
    data["chargers"][0]["phases"] = ["L2", "L3", "L1"]
    spec = load_site(write(tmp_path, data)).control.chargers[0]
    assert spec.phase_switch == PhaseSwitchSpec("auto", "L2", up_after_s=120.0, max_per_session=5)


def test_off_by_default_and_one_phase_on_defaults_to_the_first_wired_phase(tmp_path: Path) -> None:
    assert load_site(write(tmp_path, site_with())).control.chargers[0].phase_switch is None
    data = charger_with(phase_switching="1p")
    data["chargers"][0]["phases"] = ["L3", "L1", "L2"]
    switch = load_site(write(tmp_path, data)).control.chargers[0].phase_switch
    assert switch is not None and (switch.mode, switch.one_phase_on) == ("1p", "L3")


@pytest.mark.parametrize(
    ("keys", "where", "says"),
    [
        (
            {"phase_switching": "sometimes"},
            "chargers[0].phase_switching",
            "unknown phase switching",
        ),
        (
            {"phase_switching": "auto", "profile": "webasto-next"},
            "chargers[0].phase_switching",
            "no phase_switch section",
        ),
        (
            {"phase_switching": "auto", "phases": ["L1"]},
            "chargers[0].phase_switching",
            "wired on 1 phase",
        ),
        (
            {"phase_switching": "auto", "one_phase_on": "L4"},
            "chargers[0].one_phase_on",
            "is not one of its phases",
        ),
        ({"one_phase_on": "L2"}, "chargers[0].one_phase_on", "needs phase_switching"),
        (
            {"phase_switching": "auto", "phase_switches_max": -1},
            "chargers[0].phase_switches_max",
            "out of range",
        ),
        (
            {"phase_switching": "auto", "phase_switch_up_after_s": "soon"},
            "chargers[0].phase_switch_up_after_s",
            "expected a number",
        ),
    ],
)
def test_a_bad_key_is_one_line_naming_file_charger_and_key(
    tmp_path: Path, keys: dict[str, Any], where: str, says: str
) -> None:
    path = write(tmp_path, charger_with(**keys))
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    message = str(caught.value)
    assert "\n" not in message and where in message and says in message, message
    assert str(path) in message or path.name in message


def test_the_one_phase_must_carry_the_chargers_minimum(tmp_path: Path) -> None:
    data = charger_with(phase_switching="auto", max_current_a=6)
    data["fuse"] = {
        "name": "tiny",
        "rating_a": 6,
        "phases": 3,
        "characteristic": "gG",
        "margin_a": 1,
    }
    data["control"]["safe_current_a"] = 0
    with pytest.raises(ConfigError, match=r"chargers\[0\]\.one_phase_on: L1 carries at most 5 A"):
        load_site(write(tmp_path, data))


def test_an_unquoted_off_is_off(tmp_path: Path) -> None:
    text = write(tmp_path, charger_with()).read_text()
    path = tmp_path / "off.yaml"
    path.write_text(text.replace("priority: 1", "priority: 1\n  phase_switching: off"))
    assert "phase_switching: off" in path.read_text()
    assert load_site(path).control.chargers[0].phase_switch is None


def test_check_says_what_a_modbus_box_s_switching_will_do(tmp_path: Path) -> None:
    data = charger_with(phase_switching="1p")
    data["chargers"][0]["phases"] = ["L3", "L1", "L2"]
    summary = load_site(write(tmp_path, data)).summary()
    line = next(line for line in summary.splitlines() if "phase switching" in line)
    assert "held on one phase" in line and "one phase on L3" in line
    assert "register phases written (1 / 3), read back from phases" in line
