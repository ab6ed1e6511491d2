"""The site file's ``tariff:`` section (issue 15) -> :class:`TariffConfig`.

Read only when the section is there: a site without it imports nothing of the tariff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from loadbalancer.electric import IEC_MIN_CURRENT_A, NOMINAL_VOLTAGE_V
from loadbalancer.errors import ConfigError
from loadbalancer.tariff.calendar import holiday_check
from loadbalancer.tariff.profile import TariffProfile, load_tariff_profile
from loadbalancer.tariff.settings import MODES, TariffConfig, TariffMode
from loadbalancer.yamlcheck import YamlReader

TARIFF_KEYS = {"profile", "budget_kw", "mode", "margin_kw", "state_dir", "ready_by"}
#: kept from the budget for what the house does between two decisions
DEFAULT_MARGIN_KW = 0.2
#: where the month's peaks are kept (systemd: StateDirectory=loadbalancer)
DEFAULT_STATE_DIR = "/var/lib/loadbalancer"
#: no household connection is near this (a 3x63 A fuse is 43 kW)
MAX_BUDGET_KW = 100.0

#: how the site reader resolves a profile reference (beside the site file, else bundled)
Resolve = Callable[[Callable[[str], TariffProfile], str, str], TariffProfile]


def read_tariff(
    reader: YamlReader,
    value: object,
    resolve: Resolve,
    charger_phases: Sequence[int],
    fuse_max_kw: float,
) -> tuple[TariffConfig, list[str]]:
    """Validate ``tariff:``; returns it and its warnings. ``charger_phases``: how many phases
    each charger uses (a budget below a charger's minimum power pauses it all the time)."""
    raw = reader.mapping(value, "tariff", TARIFF_KEYS, {"profile", "budget_kw"})
    ref = reader.text(raw["profile"], "tariff.profile")
    profile = resolve(load_tariff_profile, ref, "tariff.profile")
    try:
        holiday_check(profile.holidays)  # the library is there and knows the country
    except ConfigError as exc:
        raise reader.fail("tariff.profile", f"{profile.name}: {exc.problem}") from None
    budget = reader.number(raw["budget_kw"], "tariff.budget_kw", 0.1, MAX_BUDGET_KW)
    margin = reader.number(raw.get("margin_kw", DEFAULT_MARGIN_KW), "tariff.margin_kw", 0, budget)
    if margin >= budget:
        raise reader.fail("tariff.margin_kw", f"{margin:g} kW leaves nothing of the budget")
    mode = cast(TariffMode, reader.choice(raw.get("mode", "cap"), "tariff.mode", MODES, "mode"))
    state_dir = reader.text(raw.get("state_dir", DEFAULT_STATE_DIR), "tariff.state_dir")
    config = TariffConfig(profile, ref, budget, mode, margin, state_dir)
    return config, _warnings(config, charger_phases, fuse_max_kw)


def _warnings(config: TariffConfig, charger_phases: Sequence[int], fuse_max_kw: float) -> list[str]:
    """The base load of the house is not known before it is measured; what is known: the power
    the smallest charger needs to charge at all, and what the fuse lets through."""
    warnings = []
    usable_kw = config.budget_kw - config.margin_kw
    needs_kw = min(
        phases * IEC_MIN_CURRENT_A * NOMINAL_VOLTAGE_V / 1000 for phases in charger_phases
    )
    if usable_kw < needs_kw:
        warnings.append(
            f"tariff.budget_kw: {config.budget_kw:g} kW less the {config.margin_kw:g} kW margin "
            f"is below the {needs_kw:.1f} kW a charger needs at its minimum current, even with "
            "no other load in the house: the cars will only charge when the budget is exceeded "
            "on purpose"
        )
    if config.budget_kw > fuse_max_kw:
        warnings.append(
            f"tariff.budget_kw: {config.budget_kw:g} kW is above the {fuse_max_kw:.1f} kW the "
            "fuse lets through: the fuse limit binds first, the tariff never"
        )
    return warnings
