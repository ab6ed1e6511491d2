"""``loadbalancer simulate``: the real service, in accelerated time, against a scenario.

The service (the same run loop, configuration loading and decision log as ``run``) reads an
emulated meter over TCP and drives emulated chargers over Modbus TCP, all on 127.0.0.1, inside
an event loop whose clock runs ``speed`` times faster than the wall clock
(:mod:`loadbalancer.sim.clock`). A sampler integrates what really flowed each simulated second
into the quality figures. The same scenario then goes through the fast discrete model with our
core, a static limiter and the peers' max-phase controller, and the upper bound on the energy
(:mod:`loadbalancer.sim.bound`) is computed, so the table compares them in one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import ModbusChargerConfig, SiteConfig, site_from_data
from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASE_IN_USE_A
from loadbalancer.electric import PHASES as GRID_PHASES
from loadbalancer.errors import ConfigError
from loadbalancer.logwriter import open_decision_log
from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.records import DecisionRecord, decode
from loadbalancer.resources import example_file
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service
from loadbalancer.sim.bound import Bound, bound_kwh
from loadbalancer.sim.clock import run_accelerated
from loadbalancer.sim.figures import ChargerSlot, Figures, Tally, count_spike_pauses, plugged
from loadbalancer.sim.model import (
    core_policy,
    max_phase_policy,
    run_site_model,
    static_limit_a,
    static_policy,
)
from loadbalancer.sim.scenario import CarPlan, Scenario, load_scenario
from loadbalancer.yamlcheck import read_yaml_file

if TYPE_CHECKING:  # the OCPP libraries are imported only for a site with OCPP chargers
    from loadbalancer.sim.ocppbox import SimulatedChargePoint

#: a simulated 4-hour evening in well under a minute
DEFAULT_SPEED = 400.0
#: charger timeouts in simulated seconds: generous, since at 400x a busy millisecond of the
#: machine is 0.4 simulated seconds
SIM_CONNECT_TIMEOUT_S = 20.0
SIM_REQUEST_TIMEOUT_S = 20.0
#: a charger read older than this counts as lost in the simulation (see _World.start)
SIM_READ_STALE_S = 120.0
#: the sampler's step (simulated seconds)
SAMPLE_S = 1.0
#: Swedish meters keep normal time: UTC+1 (docs/meters.md §Swedish HAN-P1)
METER_TZ = timezone(timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Report:
    scenario: Scenario
    speed: float
    wall_s: float
    service: Figures
    model: Figures
    static: Figures
    peer: Figures
    static_limit_a: float
    log_path: Path
    bound: Bound

    def rows(self) -> list[Figures]:
        return [self.service, self.model, self.static, self.peer]

    def table(self) -> str:
        hours = self.scenario.duration_s / 3600
        peers = self.peer.energy_kwh
        versus = f"{self.service.energy_kwh / peers:.2f}" if peers > 0 else "-"
        head = (
            f"scenario {self.scenario.name}: {hours:.1f} h simulated in {self.wall_s:.0f} s "
            f"({self.speed:g}x); upper bound {self.bound.kwh:.1f} kWh ({self.bound.method}); "
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
        lines.append(f"decision log: {self.log_path}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scenario": self.scenario.name, **self.service.to_dict()}
        out["bound_method"] = self.bound.method
        peers = self.peer.energy_kwh
        out["energy_vs_peers"] = round(self.service.energy_kwh / peers, 4) if peers > 0 else None
        out["wall_s"] = round(self.wall_s, 1)
        out["baselines"] = {
            "model_core": self.model.to_dict(),
            "static_limiter": {**self.static.to_dict(), "limit_a": self.static_limit_a},
            "max_phase_setpoint": self.peer.to_dict(),
        }
        return out


def default_site_path() -> Path:
    return Path(str(example_file("site.yaml")))


def simulate(
    site_path: Path,
    scenario_ref: str,
    *,
    speed: float = DEFAULT_SPEED,
    log_path: Path,
    status: Callable[[str], None] = lambda _m: None,
) -> Report:
    scenario = load_scenario(scenario_ref)
    raw = read_yaml_file(site_path)
    if not isinstance(raw, dict):
        raise ConfigError(str(site_path), "", "expected a mapping")
    # validate the site as written first: errors name the user's file and keys
    site = site_from_data(raw, str(site_path), base=site_path.parent)
    if scenario.chargers:
        raw = with_scenario_chargers(raw, scenario)
        label = f"{site_path} with the chargers of scenario {scenario.name}"
        site = site_from_data(raw, label, base=site_path.parent)
    for plan in scenario.cars:
        if plan.charger not in {c.name for c in site.chargers}:
            raise ConfigError(
                scenario.name, f"cars.{plan.charger}", f"no charger of that name in {site_path}"
            )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    started = time.monotonic()
    tally, pause_times, cuts, writes = run_accelerated(
        _run_service(raw, site, site_path, scenario, log_path, status), speed
    )
    wall_s = time.monotonic() - started
    config = site.control
    bound = bound_kwh(scenario, config.fuse, charger_slots(site))
    period = site.meter.telegram_period_s
    service = Figures(
        name="loadbalancer (the service, over sockets)",
        overload_s=tally.overload_s,
        overload_ignored_s=tally.overload_ignored_s,
        overload_house_s=tally.overload_house_s,
        energy_kwh=tally.energy_kwh,
        bound_kwh=bound.kwh,
        spike_pauses=count_spike_pauses(scenario, pause_times, period),
        cuts=cuts,
        pauses=len(pause_times),
        writes=writes,
        peak_a=tally.peak_a,
        hours=scenario.duration_s / 3600,
    )
    model, static, peer = model_rows(site, scenario, bound.kwh)
    limit = static_limit_a(config, scenario)
    return Report(scenario, speed, wall_s, service, model, static, peer, limit, log_path, bound)


def with_scenario_chargers(raw: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The site mapping plus the scenario's own chargers (a second wallbox) not already in it."""
    data = copy.deepcopy(raw)
    chargers = data.get("chargers")
    if not isinstance(chargers, list):
        return data
    known = {c.get("name") for c in chargers if isinstance(c, dict)}
    for extra in scenario.chargers:
        if extra.get("name") not in known:
            chargers.append(_scenario_entry(extra, data))
    return data


def _scenario_entry(extra: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    if extra.get("protocol") == "ocpp":  # issue 18: a simulated OCPP charge point
        from loadbalancer.sim.ocppbox import scenario_entry

        return scenario_entry(extra, data)
    return {"host": "127.0.0.1", **extra}


def charger_slots(site: SiteConfig) -> list[ChargerSlot]:
    return [
        ChargerSlot(
            c.name,
            tuple(GRID_PHASES.index(p) for p in c.spec.phases),
            c.spec.max_current_a,
            c.spec.min_current_a,
            c.spec.granularity_a,
            c.spec.priority,
        )
        for c in site.chargers
    ]


def model_rows(
    site: SiteConfig, scenario: Scenario, bound: float
) -> tuple[Figures, Figures, Figures]:
    """The fast discrete model's rows: our core, a static limiter, the peers' controller."""
    config = site.control
    limit = static_limit_a(config, scenario)
    rows = (
        ("loadbalancer core (discrete model)", core_policy(config, scenario)),
        (f"static limiter ({limit:g} A)", static_policy(config, scenario)),
        ("max-phase set-point controller (peers)", max_phase_policy(config)),
    )
    model, static, peer = (
        run_site_model(name, scenario, site, policy, bound=bound) for name, policy in rows
    )
    return model, static, peer


async def _run_service(
    raw: dict[str, Any],
    site: SiteConfig,
    site_path: Path,
    scenario: Scenario,
    log_path: Path,
    status: Callable[[str], None],
) -> tuple[Tally, list[float], int, int]:
    """The service against the scenario: an emulated meter and boxes on 127.0.0.1, the
    scenario's cars and faults, and a sampler of what really flowed."""
    world = await _World.start(raw, site, site_path, scenario, log_path)
    clock = world.clock
    service = Service(
        world.site,
        log=open_decision_log(str(log_path), wall_clock=world.wall, mono_clock=clock),
        notifier=Notifier({}),
        status=status,
        clock=clock,
        connect_timeout_s=SIM_CONNECT_TIMEOUT_S,
        request_timeout_s=SIM_REQUEST_TIMEOUT_S,
        ocpp_timeout_s=SIM_REQUEST_TIMEOUT_S,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    helpers = [
        asyncio.create_task(world.feed_meter()),
        asyncio.create_task(world.sample()),
        asyncio.create_task(world.faults_and_cars()),
        *(asyncio.create_task(e.run_clock(0.5)) for e in world.emulators.values()),
    ]
    await asyncio.sleep(scenario.duration_s)
    stop.set()
    await runner
    for task in helpers:
        task.cancel()
    for task in helpers:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await world.stop()
    pause_times, cuts = _pauses_and_cuts(log_path, world.start_time)
    return world.tally, pause_times, cuts, service.writes


class _World:
    """What the service meets in a simulation: the meter, the boxes with their cars, the
    scenario's faults; and the ground truth of what flows, sampled every second."""

    def __init__(
        self,
        scenario: Scenario,
        site: SiteConfig,
        meter: MeterServer,
        emulators: dict[str, ChargerEmulator | SimulatedChargePoint],
    ) -> None:
        self.scenario, self.site, self.meter, self.emulators = scenario, site, meter, emulators
        self.clock = asyncio.get_running_loop().time
        self.t0 = self.clock()
        self.start_time = scenario.start_time.replace(tzinfo=scenario.start_time.tzinfo or METER_TZ)
        self.plans = {plan.charger: plan for plan in scenario.cars}
        self.tally = Tally(site.fuse)

    @classmethod
    async def start(
        cls,
        raw: dict[str, Any],
        site: SiteConfig,
        site_path: Path,
        scenario: Scenario,
        log_path: Path,
    ) -> _World:
        clock = asyncio.get_running_loop().time
        meter = MeterServer()
        await meter.start()
        plans = {plan.charger: plan for plan in scenario.cars}
        emulators: dict[str, ChargerEmulator | SimulatedChargePoint] = {}
        data = copy.deepcopy(raw)
        data["meter"]["source"] = meter.url
        data["meter"]["protocol"] = "p1"
        data["log"] = {"decisions": str(log_path)}
        if site.ocpp is not None:  # issue 18: simulated OCPP charge points
            from loadbalancer.sim.ocppbox import ocpp_points

            def car_of(name: str) -> SimulatedCar:
                return _car(plans.get(name))

            emulators.update(ocpp_points(site, data, clock=clock, car_of=car_of))
        for i, charger in enumerate(site.chargers):
            if not isinstance(charger, ModbusChargerConfig):
                continue
            car = _car(plans.get(charger.name))
            emulator = ChargerEmulator(charger.profile, clock=clock, car=car)
            await emulator.start()
            emulators[charger.name] = emulator
            data["chargers"][i]["host"] = "127.0.0.1"
            data["chargers"][i]["port"] = emulator.port
        sim_site = site_from_data(data, str(site_path), base=site_path.parent)
        # At 400x a busy millisecond of this machine is 0.4 simulated seconds: a charger read
        # may look stale to the core without any outage. Real outages still show at once.
        control = replace(sim_site.control, charger_stale_after_s=SIM_READ_STALE_S)
        return cls(scenario, replace(sim_site, control=control), meter, emulators)

    def wall(self) -> datetime:
        return self.start_time + timedelta(seconds=self.clock() - self.t0)

    def truth(self, t: float) -> tuple[list[float], float, list[bool], list[bool]]:
        """Per phase what flows at ``t`` (house and cars), the cars' total, and on which
        phases a car draws what it was allowed or against its limit."""
        phase_a = list(self.scenario.house_a(t))
        car_total = 0.0
        allowed = [False, False, False]
        ignoring = [False, False, False]
        for charger in self.site.chargers:
            emulator = self.emulators[charger.name]
            emulator.advance()
            drawn = emulator.box.phase_currents_a()
            against = emulator.box.ignore_setpoint
            for k, phase in enumerate(charger.spec.phases):
                p = GRID_PHASES.index(phase)
                phase_a[p] += drawn[k]
                car_total += drawn[k]
                if drawn[k] > 0:
                    (ignoring if against else allowed)[p] = True
        return phase_a, car_total, allowed, ignoring

    async def feed_meter(self) -> None:
        energy_kwh = 20_000.0
        period = self.site.meter.telegram_period_s
        k = 0
        while True:
            t = k * period
            await asyncio.sleep(max(0.0, self.t0 + t - self.clock()))
            k += 1
            if self.scenario.fault("meter_silent", t):
                continue
            phase_a, *_ = self.truth(t)
            energy_kwh += sum(max(a, 0.0) for a in phase_a) * NOMINAL_VOLTAGE_V * period / 3.6e6
            loads = (PhaseLoad(phase_a[0]), PhaseLoad(phase_a[1]), PhaseLoad(phase_a[2]))
            when = self.scenario.start_time + timedelta(seconds=t)
            telegram = swedish_telegram(when, loads, energy_import_kwh=energy_kwh)
            if self.scenario.fault("corrupt_telegrams", t):
                telegram = telegram[:200] + bytes([telegram[200] ^ 0x01]) + telegram[201:]
            await self.meter.send(telegram)

    async def sample(self) -> None:
        last = self.clock()
        while True:
            await asyncio.sleep(SAMPLE_S)
            now = self.clock()
            phase_a, car_total, allowed, ignoring = self.truth(now - self.t0)
            self.tally.sample(
                tuple(phase_a), car_total, now - last, tuple(allowed), tuple(ignoring)
            )
            last = now

    async def faults_and_cars(self) -> None:
        refusing: dict[str, bool] = {}
        while True:
            t = self.clock() - self.t0
            for name, emulator in self.emulators.items():
                plan = self.plans.get(name)
                if plan is not None:
                    inside = plugged(plan, t)
                    if inside != emulator.box.car.plugged:
                        emulator.box.plug_in() if inside else emulator.box.unplug()
                emulator.box.ignore_setpoint = self.scenario.fault("ignore_setpoint", t, name)
                offline = self.scenario.fault("charger_offline", t, name)
                if offline != refusing.get(name, False):
                    refusing[name] = offline
                    await emulator.set_refusing(offline)
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for emulator in self.emulators.values():
            await emulator.stop()
        await self.meter.stop()


def _pauses_and_cuts(log_path: Path, start: datetime) -> tuple[list[float], int]:
    """When a charger went from charging to paused (as logged: set to 0 A while its car drew,
    a contactor opening; a box without a drawing car set to 0 is no pause), and how many cuts."""
    pauses: list[float] = []
    cuts = 0
    last: dict[str, float] = {}
    for line in log_path.read_text().splitlines():
        record = decode(line)
        if not isinstance(record, DecisionRecord):
            continue
        t = (datetime.fromisoformat(record.ts) - start).total_seconds()
        for charger in record.chargers:
            if charger.reason == "overload_cut":
                cuts += 1
            setpoint = charger.setpoint_a
            drawn = [a for a in charger.measured_a if a is not None]
            drawing = max(drawn, default=0.0) > PHASE_IN_USE_A
            if setpoint == 0 and last.get(charger.name, 0.0) > 0 and drawing:
                pauses.append(t)
            last[charger.name] = setpoint or 0.0
    return pauses, cuts


def _car(plan: CarPlan | None) -> SimulatedCar:
    if plan is None:
        return SimulatedCar(plugged=False)
    return SimulatedCar(
        plugged=plan.plug_in_s <= 0,
        phases=plan.phases,
        max_current_a=plan.max_current_a,
        delay_s=plan.delay_s,
        shortfall_a=plan.shortfall_a,
    )
