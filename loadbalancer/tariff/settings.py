"""The site's tariff settings, the one part of the tariff a site without one imports: the
type :class:`TariffConfig` and :func:`read_site_tariff`, which imports the rest (profiles,
calendar, and through them the ``holidays`` library) only when the site file has ``tariff:``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from loadbalancer.electric import NOMINAL_VOLTAGE_V

if TYPE_CHECKING:
    from loadbalancer.config import ChargerConfig
    from loadbalancer.control.fuse import FuseProfile
    from loadbalancer.tariff.profile import TariffProfile
    from loadbalancer.tariff.ready_by import ReadyBy
    from loadbalancer.yamlcheck import YamlReader

TariffMode = Literal["cap", "follow_peak"]
MODES: tuple[TariffMode, ...] = ("cap", "follow_peak")


@dataclass(frozen=True, slots=True)
class TariffConfig:
    profile: TariffProfile
    #: as written in the site file
    profile_ref: str
    budget_kw: float
    mode: TariffMode
    margin_kw: float
    state_dir: str
    #: per charger name, the energy its car must have by a local time (``tariff.ready_by``)
    ready_by: Mapping[str, ReadyBy] = field(default_factory=dict)

    def summary(self) -> str:
        """The ``check`` line."""
        follow = ", raised to the month's paid peak" if self.mode == "follow_peak" else ""
        from loadbalancer.tariff.profile import describe

        ready = "".join(
            f"; {name} ready with {r.energy_kwh:g} kWh by {r.at:%H:%M}"
            for name, r in self.ready_by.items()
        )
        return (
            f"tariff: {describe(self.profile)}; budget {self.budget_kw:g} kW{follow}, "
            f"margin {self.margin_kw:g} kW; month kept in {self.state_dir}{ready}"
        )


def read_site_tariff(
    reader: YamlReader,
    top: Mapping[str, Any],
    resolve: Callable[..., Any],
    fuse: FuseProfile,
    chargers: tuple[ChargerConfig, ...],
    warnings: list[str],
) -> TariffConfig | None:
    """The site's ``tariff:`` section validated, None without one; its warnings are appended to
    ``warnings``. ``resolve`` finds a profile beside the site file, else bundled."""
    if "tariff" not in top:
        return None
    from loadbalancer.tariff.config import read_tariff

    fuse_kw = fuse.phases * (fuse.rating_a - fuse.margin_a) * NOMINAL_VOLTAGE_V / 1000
    phases = [len(c.spec.phases) for c in chargers]
    config, more = read_tariff(reader, top["tariff"], resolve, phases, fuse_kw)
    if "ready_by" in top["tariff"]:
        from loadbalancer.tariff.ready_by import read_ready_by

        ready = read_ready_by(reader, top["tariff"]["ready_by"], [c.name for c in chargers])
        config = replace(config, ready_by=ready)
    warnings += more
    return config
