"""What ``loadbalancer simulate`` prints: the service's figures beside the baselines'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbalancer.sim.bound import Bound
from loadbalancer.sim.figures import Figures
from loadbalancer.sim.scenario import Scenario

#: the most the simulation's tasks may wake late (simulated s) for its figures to stand for the
#: service in real time (a telegram period is 10 s; the control rules count in seconds)
LAG_TRUSTED_S = 2.0


@dataclass(frozen=True, slots=True)
class Report:
    scenario: Scenario
    #: None: virtual time (as fast as the work allows); else simulated s per wall-clock s
    speed: float | None
    wall_s: float
    service: Figures
    model: Figures
    static: Figures
    peer: Figures
    static_limit_a: float
    log_path: Path
    bound: Bound
    #: the worst lateness of the simulation's tasks (simulated s); above LAG_TRUSTED_S the
    #: machine did not keep up with ``speed`` and the service reacted later than it would
    max_lag_s: float = 0.0

    @property
    def pace(self) -> str:
        return "virtual time" if self.speed is None else f"{self.speed:g}x the wall clock"

    @property
    def kept_up(self) -> bool:
        return self.max_lag_s <= LAG_TRUSTED_S

    #: issue 19: the box's phase switches the service completed (phase_switch_done records)
    phase_switches: int = 0

    def rows(self) -> list[Figures]:
        return [self.service, self.model, self.static, self.peer]

    def table(self) -> str:
        hours = self.scenario.duration_s / 3600
        peers = self.peer.energy_kwh
        versus = f"{self.service.energy_kwh / peers:.2f}" if peers > 0 else "-"
        head = (
            f"scenario {self.scenario.name}: {hours:.1f} h simulated in {self.wall_s:.0f} s "
            f"({self.pace}); upper bound {self.bound.kwh:.1f} kWh ({self.bound.method}); "
            f"ours / peers' energy {versus}"
        )
        lines = [
            head,
            f"{'controller':<40} {'energy_kWh':>10} {'/bound':>6} {'overload_s':>10} "
            f"{'ignored_s':>9} {'house_s':>7} {'spike_p':>7} {'pauses':>6} {'p/h':>5} "
            f"{'cuts':>5} {'writes':>6} {'peak_A':>6}",
        ]
        for row in self.rows():
            d = row.to_dict()
            lines.append(
                f"{row.name:<40} {d['energy_kwh']:>10.2f} {d['energy_ratio']:>6.3f} "
                f"{d['overload_s']:>10.0f} {d['overload_ignored_s']:>9.0f} "
                f"{d['overload_house_s']:>7.0f} {d['spike_pauses']:>7} {d['pauses']:>6} "
                f"{d['pauses_per_h']:>5.1f} {d['cuts']:>5} {d['writes']:>6} {d['peak_a']:>6.1f}"
            )
        lines.append(
            "overload_s: beyond the fuse budget while a charger drew what it was allowed; "
            "ignored_s: while a charger drew against its limit; house_s: the house alone"
        )
        if self.scenario.phase_switching not in (None, "off"):
            lines.append(
                f"1p/3p switching {self.scenario.phase_switching}: {self.phase_switches} "
                "switch(es) by the service; the discrete model's boxes cannot switch (its row: "
                "without)"
            )
        if not self.kept_up:
            lines.append(
                f"warning: this machine fell behind {self.pace} by up to "
                f"{self.max_lag_s:.1f} simulated s: the service's reactions came that much "
                "later than in real time; run again with a lower --speed"
            )
        lines.append(f"decision log: {self.log_path}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scenario": self.scenario.name, **self.service.to_dict()}
        out["bound_method"] = self.bound.method
        peers = self.peer.energy_kwh
        out["energy_vs_peers"] = round(self.service.energy_kwh / peers, 4) if peers > 0 else None
        out["wall_s"] = round(self.wall_s, 1)
        out["max_lag_s"] = round(self.max_lag_s, 2)
        out["kept_up"] = self.kept_up
        out["phase_switches"] = self.phase_switches
        out["baselines"] = {
            "model_core": self.model.to_dict(),
            "static_limiter": {**self.static.to_dict(), "limit_a": self.static_limit_a},
            "max_phase_setpoint": self.peer.to_dict(),
        }
        return out
