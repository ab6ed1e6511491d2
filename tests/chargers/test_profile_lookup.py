"""One lookup of a profile by bundled name or by path, whatever its kind (fuses, chargers, and
the tariffs to come); and the profile loader kept small enough to read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loadbalancer.chargers.profile import load_profile
from loadbalancer.errors import ConfigError
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.resources import ProfileKind, bundled_profile_names, find_profile

LOADERS: dict[str, Callable[[str], object]] = {
    "fuses": load_fuse_profile,
    "chargers": load_profile,
}


@pytest.mark.parametrize(("kind", "name"), [("fuses", "3x20A-gG"), ("chargers", "alfen-eve")])
def test_a_bundled_name_is_found_for_each_kind(kind: ProfileKind, name: str) -> None:
    found = find_profile(kind, name)
    assert (found.file, found.stem) == (f"{name}.yaml", name)
    assert name in bundled_profile_names(kind)
    assert found.text.strip()


@pytest.mark.parametrize("kind", ["fuses", "chargers"])
def test_a_path_is_read_whatever_the_kind(kind: ProfileKind, tmp_path: Path) -> None:
    path = tmp_path / "mine.yml"
    path.write_text("name: mine\n", encoding="utf-8")
    found = find_profile(kind, path)
    assert (found.text, found.file, found.stem) == ("name: mine\n", str(path), "mine")


def test_an_unknown_tariff_names_the_reference_and_the_nearest_bundled() -> None:
    """The tariffs (issue 15) are looked up like the others: an unknown name is one line with
    the bundled list, never a crash."""
    assert "ellevio" in bundled_profile_names("tariffs")
    assert find_profile("tariffs", "ellevio").file == "ellevio.yaml"
    with pytest.raises(ConfigError) as caught:
        find_profile("tariffs", "elevio")
    assert str(caught.value).startswith(
        "elevio: 'elevio' is neither a bundled tariff profile nor a file (did you mean "
        "'ellevio'? bundled: ellevio, falkenberg, "
    )


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_fuse_and_charger_profiles_are_looked_up_alike(kind: str, tmp_path: Path) -> None:
    """The same reference gets the same answer for either kind: a missing file that is named
    as one is that file's error (the fuse lookup used to list the bundled names instead)."""
    absent = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        LOADERS[kind](str(absent))
    assert str(caught.value) == f"{absent}: cannot read: No such file or directory"
    noun = kind.removesuffix("s")
    with pytest.raises(ConfigError, match=f"^nope: 'nope' is neither a bundled {noun} profile"):
        LOADERS[kind]("nope")
