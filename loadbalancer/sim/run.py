"""``loadbalancer simulate``: the real service, in simulated time, against a scenario.

The service (the same run loop, configuration loading and decision log as ``run``) reads an
emulated meter over TCP and drives emulated chargers over Modbus TCP, all on 127.0.0.1, inside
an event loop on virtual time, or with ``speed`` on a clock that many times faster than the
wall clock (:mod:`loadbalancer.sim.clock`). A sampler integrates what really flowed each
simulated second into the quality figures. The same scenario then goes through the fast
discrete model with our core, a static limiter and the peers' max-phase controller, and the
upper bound on the energy (:mod:`loadbalancer.sim.bound`) is computed, so the table compares
them in one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.modbus import CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import ModbusChargerConfig, SiteConfig, site_from_data
from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASE_IN_USE_A
from loadbalancer.electric import PHASES as GRID_PHASES
from loadbalancer.errors import ConfigError
from loadbalancer.logwriter import open_decision_log
from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.ocpp.site import OCPP_REQUEST_TIMEOUT_S
from loadbalancer.records import DecisionRecord, decode
from loadbalancer.resources import example_file
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service
from loadbalancer.sim.bound import bound_kwh
from loadbalancer.sim.clock import run_simulated
from loadbalancer.sim.figures import ChargerSlot, Figures, Tally, count_spike_pauses, plugged
from loadbalancer.sim.model import (
    core_policy,
    max_phase_policy,
    run_site_model,
    static_limit_a,
    static_policy,
)
from loadbalancer.sim.report import Report
from loadbalancer.sim.scenario import CarPlan, Scenario, load_scenario
from loadbalancer.yamlcheck import read_yaml_file

if TYPE_CHECKING:  # the OCPP libraries are imported only for a site with OCPP chargers
    from loadbalancer.sim.ocppbox import SimulatedChargePoint

#: tied to the wall clock (``--speed``), charger timeouts in simulated seconds are generous,
#: since at 400x a busy millisecond of the machine is 0.4 simulated seconds; in virtual time
#: (the default) the service keeps its own
SIM_CONNECT_TIMEOUT_S = 20.0
SIM_REQUEST_TIMEOUT_S = 20.0
#: ... and a charger read older than this counts as lost (see _World.start)
SIM_READ_STALE_S = 120.0
#: the sampler's step (simulated seconds)
SAMPLE_S = 1.0
#: Swedish meters keep normal time: UTC+1 (docs/meters.md §Swedish HAN-P1)
METER_TZ = timezone(timedelta(hours=1))


def default_site_path() -> Path:
    return Path(str(example_file("site.yaml")))


def simulate(
    site_path: Path,
    scenario_ref: str,
    *,
    speed: float | None = None,
    log_path: Path,
    status: Callable[[str], None] = lambda _m: None,
) -> Report:
    scenario = load_scenario(scenario_ref)
    raw, site = _site_for(scenario, site_path, log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    started = time.monotonic()
    tally, pause_times, cuts, writes, max_lag_s = run_simulated(
        _run_service(raw, site, site_path, scenario, log_path, status, lenient=speed is not None),
        speed,
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
    switches = sum(
        1 for line in log_path.read_bytes().splitlines() if b'"phase_switch_done"' in line
    )
    return Report(
        scenario,
        speed,
        wall_s,
        service,
        model,
        static,
        peer,
        limit,
        log_path,
        bound,
        max_lag_s,
        switches,
    )


def _site_for(
    scenario: Scenario, site_path: Path, log_path: Path
) -> tuple[dict[str, Any], SiteConfig]:
    """The site file's mapping and configuration with what the scenario adds (its chargers, its
    tariff); errors name the user's file and keys."""
    raw = read_yaml_file(site_path)
    if not isinstance(raw, dict):
        raise ConfigError(str(site_path), "", "expected a mapping")
    # validate the site as written first: errors name the user's file and keys
    site = site_from_data(raw, str(site_path), base=site_path.parent)
    if scenario.tariff is not None and "tariff" not in raw:
        state_dir = log_path.parent / f"{log_path.stem}-tariff"
        shutil.rmtree(state_dir, ignore_errors=True)  # a fresh month for every run
        raw = {**raw, "tariff": {"state_dir": str(state_dir), **scenario.tariff}}
    if scenario.chargers or scenario.phase_switching or scenario.tariff or scenario.fuse:
        raw = with_scenario_chargers(raw, scenario)
        label = f"{site_path} with the chargers of scenario {scenario.name}"
        site = site_from_data(raw, label, base=site_path.parent)
    for plan in scenario.cars:
        if plan.charger not in {c.name for c in site.chargers}:
            raise ConfigError(
                scenario.name, f"cars.{plan.charger}", f"no charger of that name in {site_path}"
            )
    return raw, site


def scenario_site(scenario: Scenario, site_path: Path, log_path: Path) -> SiteConfig:
    """The site ``scenario`` runs on: the site file with what the scenario adds (its chargers,
    its fuse, its tariff, whose state goes beside ``log_path``)."""
    return _site_for(scenario, site_path, log_path)[1]


def with_scenario_chargers(raw: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The site mapping plus the scenario's own chargers (a second wallbox) not already in it,
    and the scenario's own fuse in place of the site's (a garage's connection, issue 20)."""
    data = copy.deepcopy(raw)
    if scenario.fuse is not None:
        data["fuse"] = copy.deepcopy(scenario.fuse)
    chargers = data.get("chargers")
    if not isinstance(chargers, list):
        return data
    known = {c.get("name") for c in chargers if isinstance(c, dict)}
    for extra in scenario.chargers:
        if extra.get("name") not in known:
            chargers.append(_scenario_entry(extra, data))
    for charger in chargers:  # issue 19: the scenario's switching where the site says none
        three = isinstance(charger, dict) and len(charger.get("phases") or ()) == 3
        if scenario.phase_switching and three and "phase_switching" not in charger:
            charger["phase_switching"] = scenario.phase_switching
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
    *,
    lenient: bool,
) -> tuple[Tally, list[float], int, int, float]:
    """The service against the scenario: an emulated meter and boxes on 127.0.0.1, the
    scenario's cars and faults, and a sampler of what really flowed."""
    world = await _World.start(raw, site, site_path, scenario, log_path, lenient=lenient)
    clock = world.clock
    connect_s, request_s = (
        (SIM_CONNECT_TIMEOUT_S, SIM_REQUEST_TIMEOUT_S)
        if lenient
        else (CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S)
    )
    service = Service(
        world.site,
        log=open_decision_log(str(log_path), wall_clock=world.wall, mono_clock=clock),
        notifier=Notifier({}),
        status=status,
        clock=clock,
        wall_clock=lambda: world.wall().replace(tzinfo=METER_TZ).timestamp(),
        connect_timeout_s=connect_s,
        request_timeout_s=request_s,
        ocpp_timeout_s=request_s if lenient else OCPP_REQUEST_TIMEOUT_S,
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
    return world.tally, pause_times, cuts, service.writes, world.max_lag_s


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
        #: how late the sampler woke at worst (simulated s): the machine not keeping up
        self.max_lag_s = 0.0

    @classmethod
    async def start(
        cls,
        raw: dict[str, Any],
        site: SiteConfig,
        site_path: Path,
        scenario: Scenario,
        log_path: Path,
        *,
        lenient: bool,
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
        if not lenient:
            return cls(scenario, sim_site, meter, emulators)
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
            # a process starved by the machine wakes late: every task, the service's included
            self.max_lag_s = max(self.max_lag_s, now - last - SAMPLE_S)
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
        resumes_after_switch=plan.resumes_after_switch,
    )
