"""Fuse profiles: every bundled name loads; bad files name the file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadbalancer.control import Characteristic
from loadbalancer.errors import ConfigError
from loadbalancer.fuse_profiles import fuse_profile_from_mapping, load_fuse_profile
from loadbalancer.resources import bundled_profile_names

REQUIRED_NAMES = {
    "3x16A-gG", "3x20A-gG", "3x25A-gG", "3x35A-gG", "1x16A-gG", "3x16A-C", "3x20A-C",
    "3x16A-strict", "3x20A-strict", "3x25A-strict", "3x35A-strict",
}  # fmt: skip


def test_every_name_the_spec_asks_for_is_bundled_and_loads() -> None:
    assert set(bundled_profile_names("fuses")) >= REQUIRED_NAMES
    for name in REQUIRED_NAMES:
        profile = load_fuse_profile(name)
        assert profile.name == name
        rating, _, kind = name.partition("A-")
        assert profile.phases == int(rating[0])
        assert profile.rating_a == float(rating[2:])
        assert profile.characteristic == Characteristic(kind)
        if kind == "strict":
            assert profile.overload_budget_s == 0
        else:
            assert profile.overload_budget_s > 0
            assert profile.hard_limit_ratio > 1


def test_every_bundled_file_says_where_its_numbers_come_from() -> None:
    folder = Path(__file__).resolve().parents[1] / "profiles" / "fuses"
    for path in folder.glob("*.yaml"):
        assert "docs/control.md §" in path.read_text(encoding="utf-8"), path.name


def test_a_profile_by_path(tmp_path: Path) -> None:
    path = tmp_path / "garage.yaml"
    path.write_text("rating_a: 25\nphases: 3\ncharacteristic: B\n", encoding="utf-8")
    profile = load_fuse_profile(path)
    assert (profile.name, profile.rating_a, profile.margin_a) == ("garage", 25.0, 1.0)
    assert (profile.overload_budget_s, profile.hard_limit_ratio) == (30.0, 1.45)


def test_an_inline_strict_fuse_has_no_budget() -> None:
    strict = fuse_profile_from_mapping({"rating_a": 20, "phases": 3, "characteristic": "strict"})
    assert (strict.overload_budget_s, strict.hard_limit_ratio) == (0.0, 1.0)


def test_an_inline_mapping_defaults_its_budget_from_the_characteristic() -> None:
    profile = fuse_profile_from_mapping({"rating_a": 20, "phases": 3, "characteristic": "gG"})
    assert (profile.name, profile.overload_budget_s, profile.hard_limit_ratio) == (
        "inline",
        60.0,
        1.5,
    )


GOOD = {"rating_a": 20, "phases": 3, "characteristic": "gG"}
MISSING = object()


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        ({"colour": "blue"}, "colour", "unknown key"),
        ({"rating_a": MISSING}, "rating_a", "missing"),
        ({"rating_a": "20"}, "rating_a", "number"),
        ({"rating_a": True}, "rating_a", "number"),
        ({"rating_a": 2}, "rating_a", "within"),
        ({"phases": 2}, "phases", "1 or 3"),
        ({"characteristic": "D"}, "characteristic", "gG | B | C | strict"),
        ({"margin_a": -1}, "margin_a", ">= 0"),
        ({"characteristic": "strict", "overload_budget_s": 30}, "overload_budget_s", "strict"),
        ({"hard_limit_ratio": 3}, "hard_limit_ratio", "1..2"),
        ({"overload_budget_s": -5}, "overload_budget_s", "0.."),
        ({"name": ""}, "name", "expected text"),
    ],
)
def test_inline_errors_name_file_key_and_problem(
    changes: dict[str, object], key: str, problem: str
) -> None:
    data = {k: v for k, v in {**GOOD, **changes}.items() if v is not MISSING}
    key_path = f"fuse.{key}"
    with pytest.raises(ConfigError) as caught:
        fuse_profile_from_mapping(data, source="site.yaml: fuse")
    assert caught.value.file == "site.yaml"
    assert caught.value.key_path == key_path
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"site.yaml: {key_path}: ")


def test_an_inline_value_that_is_not_a_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping") as caught:
        fuse_profile_from_mapping([20, 3], source="site.yaml: fuse")
    assert caught.value.key_path == "fuse"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="'3x21A-gG' is neither a bundled fuse profile nor a file"
    ):
        load_fuse_profile("3x21A-gG")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rating_a: [20\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_fuse_profile(broken)
    assert "\n" not in str(caught.value)
    odd = tmp_path / "odd.yaml"
    odd.write_text("rating_a: 20\nphases: 3\ncharacteristic: gG\nmargin: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_fuse_profile(odd)
    assert (caught.value.file, caught.value.key_path) == (str(odd), "margin")


def test_a_bundled_name_is_a_name_never_a_path() -> None:
    from loadbalancer.resources import bundled_profile

    assert bundled_profile("fuses", "3x20A-gG") is not None
    for sneaky in ("../fuses/3x20A-gG", "../chargers/alfen-eve", "/etc/hostname", ""):
        assert bundled_profile("fuses", sneaky) is None, sneaky
