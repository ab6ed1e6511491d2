"""Scenarios: a house's per-phase load over an evening, the cars, and the faults to inject.

A scenario is YAML (``examples/scenarios/*.yaml``), validated like every file people write.
Everything here is pure and deterministic: ``house_a(t)`` for the same scenario and ``t`` is
always the same (noise comes from a hash of the seed and the second), so a run can be
repeated and the upper bound computed with perfect knowledge of the same load.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loadbalancer.config import CHARGER_KEYS
from loadbalancer.electric import PHASES as GRID_PHASES
from loadbalancer.errors import ConfigError
from loadbalancer.ocpp.site import OCPP_CHARGER_KEYS
from loadbalancer.phase_site import phase_switching_mode
from loadbalancer.resources import example_file
from loadbalancer.tariff.config import TARIFF_KEYS
from loadbalancer.yamlcheck import YamlReader, parse_yaml, read_text_file

FAULT_KINDS = ("meter_silent", "corrupt_telegrams", "charger_offline", "ignore_setpoint")
#: a household load shorter than this is a spike (it must cause no pause/resume cycle)
SPIKE_MAX_S = 60.0
#: short loads that repeat at least this often are one pulsing load (an induction hob holding
#: its temperature), not a series of spikes: the controller may treat them as load
PULSING_EVERY_S = 300.0


@dataclass(frozen=True, slots=True)
class LoadEvent:
    """A household load: ``current_a`` on ``phases`` from ``start_s`` for ``duration_s``,
    with an optional inrush (a heat-pump compressor start) at its beginning. ``pulsing``: one
    pulse of a load that repeats within :data:`PULSING_EVERY_S`, so not a spike however short."""

    name: str
    start_s: float
    duration_s: float
    phases: tuple[int, ...]
    current_a: float
    inrush_a: float = 0.0
    inrush_s: float = 0.0
    pulsing: bool = False

    def current_at(self, t_s: float) -> float:
        if not self.start_s <= t_s < self.start_s + self.duration_s:
            return 0.0
        if t_s < self.start_s + self.inrush_s:
            return self.current_a + self.inrush_a
        return self.current_a

    @property
    def spike(self) -> bool:
        return self.duration_s < SPIKE_MAX_S and not self.pulsing


@dataclass(frozen=True, slots=True)
class Solar:
    """Panels that push current back on every phase, a half-sine from ``start_s`` to ``end_s``."""

    peak_a: float
    start_s: float
    end_s: float

    def current_at(self, t_s: float) -> float:
        if not self.start_s <= t_s < self.end_s:
            return 0.0
        return -self.peak_a * math.sin(math.pi * (t_s - self.start_s) / (self.end_s - self.start_s))


@dataclass(frozen=True, slots=True)
class CarPlan:
    """The car behind one charger (by name) and when it is plugged in."""

    charger: str
    phases: int = 3
    max_current_a: float = 16.0
    delay_s: float = 3.0
    shortfall_a: float = 0.3
    plug_in_s: float = 0.0
    unplug_s: float | None = None
    #: issue 19: False for a car that does not wake after its box switched phases
    resumes_after_switch: bool = True


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    start_s: float
    duration_s: float
    charger: str | None = None

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    start_time: datetime
    base_a: tuple[float, float, float]
    noise_a: float
    seed: int
    events: tuple[LoadEvent, ...]
    cars: tuple[CarPlan, ...]
    faults: tuple[Fault, ...] = ()
    solar: Solar | None = None
    #: chargers the scenario adds to the site (a second wallbox), as site-file entries
    chargers: tuple[dict[str, object], ...] = ()
    #: issue 19: ``phase_switching`` for every three-phase charger of the site that does not
    #: say (None: as the site says)
    phase_switching: str | None = None
    #: a site-file ``tariff:`` section for a site that has none (its state kept beside the log)
    tariff: dict[str, object] | None = None
    #: a site-file ``fuse:`` (a profile name or an inline mapping) in place of the site's: a
    #: garage's connection (issue 20); checked by the site loader
    fuse: object = None

    def house_a(self, t_s: float) -> tuple[float, float, float]:
        """The house's own signed current on L1, L2, L3 at ``t_s`` (no chargers)."""
        second = int(t_s)
        loads = list(self.base_a)
        for event in self.events:
            amps = event.current_at(t_s)
            if amps:
                for phase in event.phases:
                    loads[phase] += amps
        solar = self.solar.current_at(t_s) if self.solar is not None else 0.0
        out = []
        for phase in range(3):
            noise = self.noise_a * _unit_noise(self.seed, second, phase)
            out.append(round(loads[phase] + solar + noise, 2))
        return (out[0], out[1], out[2])

    def spikes(self) -> tuple[LoadEvent, ...]:
        return tuple(event for event in self.events if event.spike)

    def in_spike(self, t_s: float, margin_s: float = 0.0) -> bool:
        """Whether a spike is on (or ended less than ``margin_s`` ago)."""
        return any(e.start_s <= t_s < e.start_s + e.duration_s + margin_s for e in self.spikes())

    def fault(self, kind: str, t_s: float, charger: str | None = None) -> bool:
        return any(
            f.kind == kind and f.active(t_s) and (charger is None or f.charger in (None, charger))
            for f in self.faults
        )


def _unit_noise(seed: int, second: int, phase: int) -> float:
    """A deterministic value in [-1, 1] for (seed, second, phase)."""
    digest = hashlib.blake2b(struct.pack("<qqq", seed, second, phase), digest_size=8).digest()
    value: int = struct.unpack("<Q", digest)[0]
    return value / 2**63 - 1.0


def bundled_scenarios() -> list[str]:
    folder = example_file("scenarios")
    return sorted(
        e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")
    )


def load_scenario(name_or_path: str) -> Scenario:
    """A bundled scenario by name (``winter-evening``) or a scenario file by path."""
    if name_or_path in bundled_scenarios():
        bundled = example_file(f"scenarios/{name_or_path}.yaml")
        text, file = bundled.read_text(encoding="utf-8"), f"{name_or_path}.yaml"
    else:
        path = Path(name_or_path)
        if not path.exists():
            known = ", ".join(bundled_scenarios())
            raise ConfigError(
                name_or_path, "", f"no bundled scenario or file of that name (bundled: {known})"
            )
        # a path: a small regular UTF-8 file, never a device or a FIFO (as site files)
        text, file = read_text_file(path, "scenario file"), str(path)
    return _ScenarioReader(file).scenario(parse_yaml(text, file))


_TOP = {
    "name",
    "description",
    "duration_s",
    "start",
    "house",
    "cars",
    "faults",
    "chargers",
    "phase_switching",
    "tariff",
    "fuse",
}
_HOUSE = {"base_a", "noise_a", "seed", "events", "solar"}
_EVENT = {"name", "at_s", "duration_s", "phases", "current_a", "inrush_a", "inrush_s", "repeat"}
_REPEAT = {"every_s", "count"}
_CAR = {
    "phases",
    "max_current_a",
    "delay_s",
    "shortfall_a",
    "plug_in_s",
    "unplug_s",
    "resumes_after_switch",
}
_FAULT = {"kind", "at_s", "duration_s", "charger"}
_SOLAR = {"peak_a", "start_s", "end_s"}
#: a charger the scenario adds: a site-file charger entry whose address the simulation sets
_SITE_CHARGER = CHARGER_KEYS | OCPP_CHARGER_KEYS
_SITE_CHARGER_REQUIRED = {"name", "profile", "phases", "max_current_a"}


class _ScenarioReader(YamlReader):
    def scenario(self, data: object) -> Scenario:
        top = self.mapping(data, "", _TOP, {"name", "duration_s", "house", "cars"})
        duration = self.number(top["duration_s"], "duration_s", 60, 7 * 86400)
        start = top.get("start", "2026-01-14T17:00:00")
        try:
            start_time = datetime.fromisoformat(str(start))
        except ValueError as exc:
            raise self.fail("start", f"not an ISO 8601 time: {start!r}") from exc
        house = self.mapping(top["house"], "house", _HOUSE, {"base_a"})
        base = self.phase_values(house["base_a"], "house.base_a")
        events: list[LoadEvent] = []
        for i, raw in enumerate(self.items(house.get("events", []), "house.events")):
            events += self.event(raw, f"house.events[{i}]")
        solar = None
        if "solar" in house:
            raw_solar = self.mapping(house["solar"], "house.solar", _SOLAR, _SOLAR)
            solar = Solar(
                self.number(raw_solar["peak_a"], "house.solar.peak_a", 0, 100),
                self.number(raw_solar["start_s"], "house.solar.start_s", 0),
                self.number(raw_solar["end_s"], "house.solar.end_s", 0),
            )
        cars = self.mapping(top["cars"], "cars", set(_names(top["cars"])))
        plans = tuple(self.car(name, raw, f"cars.{name}") for name, raw in cars.items())
        faults = tuple(
            self.fault_of(raw, f"faults[{i}]")
            for i, raw in enumerate(self.items(top.get("faults", []), "faults"))
        )
        chargers = tuple(
            dict(self.mapping(raw, f"chargers[{i}]", _SITE_CHARGER, _SITE_CHARGER_REQUIRED))
            for i, raw in enumerate(self.items(top.get("chargers", []), "chargers"))
        )
        return Scenario(
            name=self.text(top["name"], "name"),
            description=str(top.get("description", "")).strip(),
            duration_s=duration,
            start_time=start_time,
            base_a=base,
            noise_a=self.number(house.get("noise_a", 0.2), "house.noise_a", 0, 10),
            seed=self.integer(house.get("seed", 1), "house.seed", 0, 2**31),
            events=tuple(sorted(events, key=lambda e: e.start_s)),
            cars=plans,
            faults=faults,
            solar=solar,
            chargers=chargers,
            fuse=top.get("fuse"),
            tariff=dict(
                self.mapping(top["tariff"], "tariff", TARIFF_KEYS, {"profile", "budget_kw"})
            )
            if "tariff" in top
            else None,
            phase_switching=None
            if "phase_switching" not in top
            else phase_switching_mode(self, top["phase_switching"], "phase_switching"),
        )

    def phase_values(self, value: object, path: str) -> tuple[float, float, float]:
        items = self.items(value, path)
        if len(items) != 3:
            raise self.fail(path, "expected three values, for L1, L2 and L3")
        a, b, c = (self.number(v, f"{path}[{i}]", -100, 100) for i, v in enumerate(items))
        return (a, b, c)

    def phases(self, value: object, path: str) -> tuple[int, ...]:
        names = self.texts(value, path)
        for i, name in enumerate(names):
            if name not in GRID_PHASES:
                raise self.fail(f"{path}[{i}]", f"unknown phase {name!r} (L1, L2 or L3)")
        return tuple(GRID_PHASES.index(name) for name in names)

    def event(self, value: object, path: str) -> list[LoadEvent]:
        raw = self.mapping(
            value, path, _EVENT, {"name", "at_s", "duration_s", "phases", "current_a"}
        )
        base = LoadEvent(
            name=self.text(raw["name"], f"{path}.name"),
            start_s=self.number(raw["at_s"], f"{path}.at_s", 0),
            duration_s=self.number(raw["duration_s"], f"{path}.duration_s", 1),
            phases=self.phases(raw["phases"], f"{path}.phases"),
            current_a=self.number(raw["current_a"], f"{path}.current_a", -100, 100),
            inrush_a=self.number(raw.get("inrush_a", 0), f"{path}.inrush_a", 0, 200),
            inrush_s=self.number(raw.get("inrush_s", 0), f"{path}.inrush_s", 0, 60),
        )
        if "repeat" not in raw:
            return [base]
        repeat = self.mapping(raw["repeat"], f"{path}.repeat", _REPEAT, _REPEAT)
        every = self.number(repeat["every_s"], f"{path}.repeat.every_s", 1)
        count = self.integer(repeat["count"], f"{path}.repeat.count", 1, 10_000)
        return [
            LoadEvent(
                base.name,
                base.start_s + k * every,
                base.duration_s,
                base.phases,
                base.current_a,
                base.inrush_a,
                base.inrush_s,
                pulsing=count > 1 and every < PULSING_EVERY_S,
            )
            for k in range(count)
        ]

    def car(self, name: str, value: object, path: str) -> CarPlan:
        raw = self.mapping(value, path, _CAR)
        phases = self.integer(raw.get("phases", 3), f"{path}.phases", 1, 3)
        if phases == 2:
            raise self.fail(f"{path}.phases", "a car charges on 1 or 3 phases")
        unplug = raw.get("unplug_s")
        return CarPlan(
            charger=name,
            phases=phases,
            max_current_a=self.number(raw.get("max_current_a", 16), f"{path}.max_current_a", 6, 80),
            delay_s=self.number(raw.get("delay_s", 3), f"{path}.delay_s", 0, 120),
            shortfall_a=self.number(raw.get("shortfall_a", 0.3), f"{path}.shortfall_a", 0, 10),
            plug_in_s=self.number(raw.get("plug_in_s", 0), f"{path}.plug_in_s", 0),
            unplug_s=None if unplug is None else self.number(unplug, f"{path}.unplug_s", 0),
            resumes_after_switch=self.flag(
                raw.get("resumes_after_switch", True), f"{path}.resumes_after_switch"
            ),
        )

    def fault_of(self, value: object, path: str) -> Fault:
        raw = self.mapping(value, path, _FAULT, {"kind", "at_s", "duration_s"})
        kind = self.choice(raw["kind"], f"{path}.kind", FAULT_KINDS, "fault")
        charger = raw.get("charger")
        if kind in ("charger_offline", "ignore_setpoint") and charger is None:
            raise self.fail(f"{path}.charger", "missing: which charger")
        return Fault(
            kind,
            self.number(raw["at_s"], f"{path}.at_s", 0),
            self.number(raw["duration_s"], f"{path}.duration_s", 1),
            None if charger is None else self.text(charger, f"{path}.charger"),
        )


def _names(value: object) -> list[str]:
    return [k for k in value if isinstance(k, str)] if isinstance(value, dict) else []
