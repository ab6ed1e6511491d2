"""Fuse profiles: bundled ``profiles/fuses/NAME.yaml``, a path, or an inline mapping.

Validated strictly: unknown keys, wrong types and out-of-range values raise
``ConfigError(file, key_path, problem)``. Budget parameters a file leaves out default to what its
characteristic implies (docs/control.md §The overload budget, ``control.fuse.default_budget``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from loadbalancer.control.fuse import (
    DEFAULT_MARGIN_A,
    Characteristic,
    FuseProfile,
    default_budget,
)
from loadbalancer.errors import ConfigError
from loadbalancer.resources import find_profile
from loadbalancer.yamlcheck import YamlReader, parse_yaml, unknown_key

#: ratings accepted at all; Swedish main fuses of houses are 16..63 A (docs/control.md §Fuses),
#: sub-circuits less; a garage of 20-100 chargers behind one connection (a housing cooperative,
#: a workplace) has hundreds of amperes (issue 20)
RATING_RANGE_A = (6.0, 1250.0)
#: the longest overload budget accepted, in I_n²·s (ten times the breakers' default of 30)
MAX_OVERLOAD_BUDGET_S = 300.0
#: no hard limit above 2·In: beyond it even gG fuses may melt within 10 s (IEC 60269-1 gates,
#: docs/control.md §gG fuses)
MAX_HARD_LIMIT_RATIO = 2.0

_REQUIRED = ("rating_a", "phases", "characteristic")
_KNOWN = (*_REQUIRED, "name", "margin_a", "overload_budget_s", "hard_limit_ratio")


def load_fuse_profile(name_or_path: str | Path) -> FuseProfile:
    """A bundled profile by name (``"3x20A-gG"``) or a profile file by path."""
    found = find_profile("fuses", name_or_path)
    return _from_mapping(parse_yaml(found.text, found.file), found.file, "", found.stem)


def fuse_profile_from_mapping(
    data: object, source: str = "site.yaml: fuse", name: str = "inline"
) -> FuseProfile:
    """A profile given inline; ``source`` is ``"FILE: KEY.PATH"`` of where the mapping stands."""
    file, _, prefix = source.partition(": ")
    return _from_mapping(data, file, prefix, name)


def _from_mapping(data: object, file: str, prefix: str, default_name: str) -> FuseProfile:
    def where(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    if not isinstance(data, Mapping):
        raise ConfigError(file, prefix, "not a fuse profile: must be a mapping of fuse keys")
    for key in data:
        if key not in _KNOWN:
            raise unknown_key(file, prefix, key, _KNOWN)
    for key in _REQUIRED:
        if key not in data:
            raise ConfigError(file, where(key), "missing")

    name = YamlReader(file).label(data.get("name", default_name), where("name"))
    rating_a = _number(data, "rating_a", file, where)
    if not RATING_RANGE_A[0] <= rating_a <= RATING_RANGE_A[1]:
        raise ConfigError(file, where("rating_a"), f"must be within {RATING_RANGE_A} A")
    phases = data["phases"]
    if isinstance(phases, bool) or phases not in (1, 3):
        raise ConfigError(file, where("phases"), "must be 1 or 3")
    try:
        characteristic = Characteristic(data["characteristic"])
    except ValueError:
        choices = " | ".join(c.value for c in Characteristic)
        raise ConfigError(file, where("characteristic"), f"must be {choices}") from None
    budget_s, hard_ratio = default_budget(characteristic)
    margin_a = _number(data, "margin_a", file, where, DEFAULT_MARGIN_A)
    if not 0 <= margin_a < rating_a:
        raise ConfigError(file, where("margin_a"), "must be >= 0 and below rating_a")
    budget_s = _number(data, "overload_budget_s", file, where, budget_s)
    if not 0 <= budget_s <= MAX_OVERLOAD_BUDGET_S:
        raise ConfigError(file, where("overload_budget_s"), f"must be 0..{MAX_OVERLOAD_BUDGET_S}")
    if characteristic is Characteristic.STRICT and budget_s != 0:
        raise ConfigError(file, where("overload_budget_s"), "must be 0 for a strict fuse")
    hard_ratio = _number(data, "hard_limit_ratio", file, where, hard_ratio)
    if not 1 <= hard_ratio <= MAX_HARD_LIMIT_RATIO:
        raise ConfigError(file, where("hard_limit_ratio"), f"must be 1..{MAX_HARD_LIMIT_RATIO}")
    return FuseProfile(
        name=name,
        rating_a=rating_a,
        phases=int(phases),
        characteristic=characteristic,
        margin_a=margin_a,
        overload_budget_s=budget_s,
        hard_limit_ratio=hard_ratio,
    )


def _number(
    data: Mapping[object, object],
    key: str,
    file: str,
    where: Callable[[str], str],
    default: float | None = None,
) -> float:
    """A required (``default`` None) or optional finite number; booleans are not numbers."""
    return YamlReader(file).number(data.get(key, default), where(key))
