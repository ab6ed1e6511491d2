"""Profile schema: the bundled profiles load, and every mistake names its file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadbalancer.chargers.profile import load_profile, parse_profile
from loadbalancer.errors import ConfigError
from loadbalancer.resources import bundled_profile
from tests.chargers.conftest import ALL_PROFILES

EXPECTED = {
    "alfen-eve",
    "vestel-evc04",
    "webasto-next",
    "keba-p30",
    "keba-p40",
    "bender-cc613",
    "amperfied",
    "etrel-inch",
    "schneider-evlink",
    "abb-terra-ac",
    "phoenix-charx",
    "em2go",
    "generic",
}


def bundled_text(name: str) -> str:
    resource = bundled_profile("chargers", name)
    assert resource is not None
    return resource.read_text(encoding="utf-8")


def test_the_thirteen_profiles_are_bundled() -> None:
    assert set(ALL_PROFILES) == EXPECTED


@pytest.mark.parametrize("name", ALL_PROFILES)
def test_bundled_profile_loads_and_says_where_it_comes_from(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.sources
    assert not profile.verified_on_hardware
    header = bundled_text(name).split("\nname:")[0]
    assert header.startswith("#")
    assert re.search(r"sources?:", header, re.IGNORECASE)
    if name != "generic":
        assert "not tested on hardware" in header.lower()
        assert profile.prerequisites


@pytest.mark.parametrize("name", ALL_PROFILES)
def test_keep_alive_is_at_most_half_the_timeout(name: str) -> None:
    profile = load_profile(name)
    timeout = profile.failsafe.timeout
    lowest_s = timeout.min if timeout is not None and timeout.min is not None else 0.0
    for timeout_s in (t for t in (4.0, 10.0, 20.0, 60.0, 600.0) if t >= lowest_s):
        interval = profile.keep_alive.interval_s(timeout_s)
        if profile.failsafe.trigger != "none" and profile.keep_alive.action != "none":
            assert interval is not None
            assert interval <= timeout_s / 2


def broken(name: str, old: str, new: str) -> str:
    text = bundled_text(name)
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (
            "alfen-eve",
            "setpoint:           {address: 1210, type: float32",
            "setpoint:           {address: 1210, type: uint12",
            "alfen-eve.yaml: registers.setpoint.type: unknown type 'uint12'",
        ),
        (
            "alfen-eve",
            "  pause: zero",
            "  pause: zero\n  paws: 1",
            "alfen-eve.yaml: setpoint.paws: unknown key",
        ),
        (
            "alfen-eve",
            "limit_a: applied_limit",
            "limit_a: applied_limt",
            "alfen-eve.yaml: readings.limit_a: no register named 'applied_limt'",
        ),
        (
            "alfen-eve",
            "write_fc: 16}  # one FC16",
            "write_fc: 6}  # one FC16",
            "alfen-eve.yaml: registers.setpoint.write_fc: function 6 writes one register",
        ),
        (
            "alfen-eve",
            "status:             {address: 1201, type: string, length: 5",
            "status:             {address: 1201, type: string",
            "alfen-eve.yaml: registers.status.length: missing",
        ),
        (
            "alfen-eve",
            "map: {A: [A], B:",
            "map: {Q: [A], B:",
            "alfen-eve.yaml: readings.status.map.Q: unknown meaning 'Q'",
        ),
        (
            "vestel-evc04",
            "fraction_of_timeout: 0.25",
            "fraction_of_timeout: 0.75",
            "vestel-evc04.yaml: keep_alive.fraction_of_timeout: 0.75 is out of range",
        ),
        (
            "vestel-evc04",
            "current_l1:        {address: 1008, table: input, type: uint16, scale: 0.001, unit: A}",
            "current_l1:        {address: 1008, table: input, type: uint16, scale: 0.001, unit: V}",
            "vestel-evc04.yaml: readings.current_a[0]: register 'current_l1' must be in A",
        ),
        (
            "vestel-evc04",
            "evse_max_current:  {address: 1104,",
            "evse_max_current:  {address: 1008,",
            "vestel-evc04.yaml: registers.evse_max_current.address: overlaps register 'current_l1'",
        ),
        (
            "schneider-evlink",
            "hooks: [schneider_conditional_life_bit]",
            "hooks: [keba_udp_wakeup]",
            "schneider-evlink.yaml: hooks[0]: unknown hook 'keba_udp_wakeup'",
        ),
        (
            "amperfied",
            "granularity_a: 0.1",
            "granularity_a: 0.05",
            "amperfied.yaml: setpoint.granularity_a: 0.05 A is not a whole number of register",
        ),
        (
            "webasto-next",
            "{address: 5004, type: uint16, unit: A, access: w}",
            "{address: 5004, type: uint16, unit: A, access: r}",
            "webasto-next.yaml: setpoint.register: register 'setpoint' is read-only",
        ),
        (
            "keba-p30",
            "  trigger: any_request",
            "  trigger: sometimes",
            "keba-p30.yaml: failsafe.trigger: unknown failsafe trigger 'sometimes'",
        ),
        (
            "alfen-eve",
            "name: alfen-eve",
            "name: alfen-eve\nvendor: [",
            "alfen-eve.yaml: not valid YAML",
        ),
    ],
)
def test_mistakes_name_file_and_key(name: str, old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_profile(broken(name, old, new), f"{name}.yaml")
    assert str(caught.value).startswith(message)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_missing_top_level_key() -> None:
    text = "\n".join(
        line for line in bundled_text("em2go").splitlines() if not line.startswith("vendor:")
    )
    with pytest.raises(ConfigError, match=r"^em2go\.yaml: vendor: missing$"):
        parse_profile(text, "em2go.yaml")


def test_profile_by_path_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "my-box.yaml"
    path.write_text(bundled_text("generic").replace("name: generic", "name: my-box"))
    assert load_profile(str(path)).name == "my-box"
    with pytest.raises(ConfigError, match="'no-such-box' is neither a bundled charger profile"):
        load_profile("no-such-box")
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(str(tmp_path / "absent.yaml"))
