"""A month of a Swedish winter household with a car, through the real core (issue 15 item 6).

Each day is built from the catalogue of :mod:`loadbalancer.sim.evenings`: the evening from 17:00
to 23:00 (its loads, and on most days the car plugged in between 17 and 18 until 23:00) runs
second by second through the fast model (:func:`.model.run_model`) with our core, once with the
capacity tariff's limiter and once without; the other hours of the day are the house alone (a
second draw from the catalogue over the whole day, its 17-23 hours left out), sampled every
:data:`HOUSE_SAMPLE_S`. Every interval's energy is the import (the sum of the three phases at
230 V, never below 0) that the meter's register would count; the core is told the running
interval's energy so far from that register (:class:`ImportRegister`).

The billed peak is the mean of the ``count`` highest daily maxima of the interval power (the
generic rule of a Swedish capacity tariff: each on a different day, all hours weighted alike).
The perfect-knowledge limiter is a simple upper bound: per evening interval it delivers
min(what the car could take while plugged in, budget × interval − the house's energy), as if it
knew the house's load in advance and the car took any power (no minimum, no fuse).

A ready-by night (:func:`ready_by_night`, :func:`night_report`): from 17:00 of one day to 07:00
of the next, a car whose user asked for an energy by 07:00; the core is told the power it needs
from now on (the energy missing over the time left, ``TariffInput.needed_kw``). Its intervals
take the place of that day's evening and the next morning's house hours in the month's bill.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from loadbalancer.control.config import ControlConfig
from loadbalancer.control.inputs import TariffInput
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.sim.evenings import evening
from loadbalancer.sim.figures import car_draw_a
from loadbalancer.sim.household import recorded, within
from loadbalancer.sim.model import Meter, core_policy, run_model
from loadbalancer.sim.ready import CarMeter, ReadyBy
from loadbalancer.sim.scenario import CarPlan, Scenario

DAY_S = 24 * 3600
EVENING_START_S = 17 * 3600
EVENING_S = 6 * 3600
#: the house-only hours are sampled this often (the evenings every second)
HOUSE_SAMPLE_S = 10
#: the share of evenings the car is plugged in
PLUGGED_SHARE = 0.8
FIRST_DAY = datetime(2027, 1, 1)
#: the ready-by night: 17:00 to 07:00, the car asked for this much (a 75 kWh battery from
#: 20 %) on the night of this day (0-based)
NIGHT_S = 14 * 3600
READY_BY_KWH = 60.0
READY_BY_DAY = 14


@dataclass(frozen=True, slots=True)
class Day:
    """One day: the evening through the core (with or without a car), the rest house only."""

    index: int
    evening: Scenario
    house: Scenario


def month(
    seed: int,
    days: int = 30,
    *,
    charger: str = "carport",
    fuse_rating_a: float = 20.0,
    house_within_kw: float | None = None,
    interval_s: float = 3600.0,
    from_day: int = 0,
) -> tuple[Day, ...]:
    """``days`` days of a winter house from ``seed`` (the same seed, the same month), those
    before ``from_day`` left out (drawn, not built).

    ``house_within_kw``: a household that lives with its capacity tariff, as it lives with its
    fuse: a load that would take an interval's mean import above this on its own is not run
    that day (:func:`within`)."""
    rng = random.Random(seed)

    def keep(scenario: Scenario) -> Scenario:
        if house_within_kw is None:
            return scenario
        return within(scenario, house_within_kw, interval_s)

    out = []
    for d in range(days):
        date = FIRST_DAY + timedelta(days=d)
        night = evening(
            seed * 1000 + d, charger=charger, duration_s=EVENING_S, fuse_rating_a=fuse_rating_a
        )
        car = CarPlan(
            charger,
            phases=3,
            max_current_a=16.0,
            delay_s=3.0,
            shortfall_a=0.3,
            plug_in_s=round(rng.uniform(0, 3600)),
        )
        cars = (car,) if rng.random() < PLUGGED_SHARE else ()
        if d < from_day:
            continue
        night = recorded(
            keep(
                replace(
                    night,
                    name=f"day {d + 1} evening",
                    start_time=date + timedelta(hours=17),
                    cars=cars,
                )
            )
        )
        whole = evening(
            seed * 1000 + 500 + d, charger=charger, duration_s=DAY_S, fuse_rating_a=fuse_rating_a
        )
        whole = keep(replace(whole, name=f"day {d + 1} house", start_time=date, cars=()))
        out.append(Day(d, night, whole))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Night:
    """A night whose car must be full in the morning: from 17:00 of day ``day`` to 07:00 of
    the next, through the core in place of that day's evening (and the next morning's house
    hours), its charger's user asking for ``ready_by``."""

    day: int
    scenario: Scenario
    ready_by: ReadyBy


def ready_by_night(
    seed: int,
    day: int = READY_BY_DAY,
    *,
    charger: str = "carport",
    fuse_rating_a: float = 20.0,
    house_within_kw: float | None = None,
    interval_s: float = 3600.0,
    energy_kwh: float = READY_BY_KWH,
) -> Night:
    """The night of ``day`` (0-based) from ``seed``: the house from the catalogue over 14 hours,
    the car plugged in between 17 and 18 and asked for ``energy_kwh`` by 07:00."""
    rng = random.Random(seed * 1000 + 900 + day)
    night = evening(
        seed * 1000 + 900 + day, charger=charger, duration_s=NIGHT_S, fuse_rating_a=fuse_rating_a
    )
    car = CarPlan(
        charger,
        phases=3,
        max_current_a=16.0,
        delay_s=3.0,
        shortfall_a=0.3,
        plug_in_s=round(rng.uniform(0, 3600)),
    )
    start = FIRST_DAY + timedelta(days=day, hours=17)
    night = replace(night, name=f"day {day + 1} night", start_time=start, cars=(car,))
    if house_within_kw is not None:
        night = within(night, house_within_kw, interval_s)
    return Night(day, recorded(night), ReadyBy(charger, energy_kwh, NIGHT_S))


def import_kw(phase_a: Sequence[float]) -> float:
    """What the import register counts at these phase currents, in kW (never below 0)."""
    return max(0.0, sum(phase_a)) * NOMINAL_VOLTAGE_V / 1000.0


@dataclass
class ImportRegister:
    """The meter's import register over one simulated evening, per tariff interval: each second's
    true import is added when the second is over, so the core at ``t`` is told the energy up to
    ``t``, as a telegram at ``t`` would."""

    budget_kw: float
    interval_s: float
    margin_kw: float
    interval_kwh: dict[int, float] = field(default_factory=dict)
    _pending: tuple[float, float] | None = None

    def observe(self, t_s: float, phase_a: Meter) -> None:
        self.flush()
        self._pending = (t_s, import_kw(phase_a))

    def flush(self) -> None:
        if self._pending is not None:
            t_s, kw = self._pending
            k = int(t_s // self.interval_s)
            self.interval_kwh[k] = self.interval_kwh.get(k, 0.0) + kw / 3600.0
            self._pending = None

    def tariff_at(self, t_s: float) -> TariffInput:
        k = int(t_s // self.interval_s)
        start_s = k * self.interval_s
        so_far = self.interval_kwh.get(k, 0.0)
        return TariffInput(
            self.budget_kw, start_s, start_s + self.interval_s, so_far, self.margin_kw
        )


@dataclass(frozen=True, slots=True)
class Evening:
    """One evening through the core: the interval powers (kW), the car's energy, the seconds
    over the fuse caused by a charger, the pauses."""

    interval_kw: tuple[float, ...]
    energy_kwh: float
    overload_s: float
    pauses: int


def run_evening(
    scenario: Scenario,
    config: ControlConfig,
    budget_kw: float | None,
    interval_s: float,
    *,
    margin_kw: float = 0.0,
    telegram_period_s: float = 10.0,
    poll_interval_s: float = 2.0,
    ready_by: ReadyBy | None = None,
) -> Evening:
    """One evening through the model with our core; ``budget_kw`` None: no limiter.
    ``ready_by``: a charger's user asked for energy by a time (the core is told the power it
    needs, ``TariffInput.needed_kw``)."""
    register = ImportRegister(budget_kw or 0.0, interval_s, margin_kw)
    cars = CarMeter(scenario)
    tariff: Callable[[float], TariffInput | None] | None = None
    if budget_kw is not None:
        tariff = register.tariff_at
    if budget_kw is not None and ready_by is not None:
        asked = ready_by

        def tariff(t_s: float) -> TariffInput:
            needed = {asked.charger: cars.needed_kw(asked, t_s)}
            return replace(register.tariff_at(t_s), needed_kw=needed)

    def observe(t_s: float, phase_a: Meter) -> None:
        register.observe(t_s, phase_a)
        if ready_by is not None:
            cars.observe(t_s, phase_a)

    figures = run_model(
        scenario.name,
        scenario,
        config,
        core_policy(config, scenario, tariff),
        telegram_period_s=telegram_period_s,
        poll_interval_s=poll_interval_s,
        bound=0.0,
        observe=observe,
    )
    register.flush()
    count = int(scenario.duration_s // interval_s)
    powers = tuple(register.interval_kwh.get(k, 0.0) * 3600.0 / interval_s for k in range(count))
    return Evening(powers, figures.energy_kwh, figures.overload_s, figures.pauses)


def house_interval_kw(
    scenario: Scenario, start_s: float, interval_s: float, step_s: int = HOUSE_SAMPLE_S
) -> float:
    """The house's mean import over one interval, sampled every ``step_s``."""
    samples = [import_kw(scenario.house_a(start_s + t)) for t in range(0, int(interval_s), step_s)]
    return sum(samples) / len(samples)


def billed_peak_kw(peaks: Sequence[tuple[int, float]], count: int = 3) -> float:
    """The mean of the ``count`` highest daily maxima of ``(day, interval kW)``."""
    daily: dict[int, float] = {}
    for day, kw in peaks:
        daily[day] = max(daily.get(day, 0.0), kw)
    top = sorted(daily.values(), reverse=True)[:count]
    return sum(top) / len(top) if top else 0.0


def car_kw(plan: CarPlan) -> float:
    """What the car takes at its maximum."""
    return plan.phases * car_draw_a(plan, plan.max_current_a) * NOMINAL_VOLTAGE_V / 1000.0


def perfect_kwh(scenario: Scenario, budget_kw: float, interval_s: float) -> float:
    """The perfect-knowledge limiter's energy over one evening (see the module): an upper bound."""
    total = 0.0
    for plan in scenario.cars:
        for k in range(int(scenario.duration_s // interval_s)):
            start_s, end_s = k * interval_s, (k + 1) * interval_s
            unplug_s = plan.unplug_s if plan.unplug_s is not None else scenario.duration_s
            plugged_s = max(0.0, min(end_s, unplug_s) - max(start_s, plan.plug_in_s))
            house_kwh = house_interval_kw(scenario, start_s, interval_s) * interval_s / 3600.0
            room_kwh = max(0.0, budget_kw * interval_s / 3600.0 - house_kwh)
            total += min(car_kw(plan) * plugged_s / 3600.0, room_kwh)
    return total


#: (day, start of the interval in the day in seconds, mean import kW)
Peak = tuple[int, float, float]


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """One month through the core: the billed peak, the highest interval, the cars' energy,
    the seconds over the fuse caused by a charger, the pauses."""

    billed_peak_kw: float
    worst_interval_kw: float
    energy_kwh: float
    overload_s: float
    pauses: int


@dataclass(frozen=True, slots=True)
class NightFigures:
    """The month with the ready-by night in place of its day's evening: the month's billed
    peak, the night's highest interval and its intervals above the budget + 2 %, the energy the
    car had by 07:00 (the night's end), the night's pauses and seconds over the fuse."""

    billed_peak_kw: float
    worst_interval_kw: float
    over_budget: int
    ready_kwh: float
    pauses: int
    overload_s: float


@dataclass(frozen=True, slots=True)
class NightReport:
    """The ready-by night with its override, and the same night on the budget alone."""

    night: Night
    override: NightFigures
    budget_only: NightFigures


@dataclass(frozen=True, slots=True)
class MonthReport:
    """The month with and without the limiter, the house alone, the perfect-knowledge bound,
    and the ready-by night (if one was run)."""

    limited: MonthFigures
    unlimited: MonthFigures
    house_billed_peak_kw: float
    perfect_kwh: float
    #: every interval of the month with the limiter
    limited_peaks: tuple[Peak, ...] = ()
    night: NightReport | None = None


def day_house_peaks(day: Day, interval_s: float) -> list[Peak]:
    """The house-only intervals of a day (the evening's hours left out)."""
    out = []
    for k in range(int(DAY_S // interval_s)):
        start_s = k * interval_s
        if not EVENING_START_S <= start_s < EVENING_START_S + EVENING_S:
            out.append((day.index, start_s, house_interval_kw(day.house, start_s, interval_s)))
    return out


def evening_peaks(day: int, evening: Evening, interval_s: float) -> list[Peak]:
    """An evening's (or night's) intervals, each on the day it begins in."""
    out = []
    for k, kw in enumerate(evening.interval_kw):
        start_s = EVENING_START_S + k * interval_s
        out.append((day + int(start_s // DAY_S), start_s % DAY_S, kw))
    return out


def run_month(
    days: Sequence[Day],
    config: ControlConfig,
    budget_kw: float,
    interval_s: float,
    *,
    margin_kw: float = 0.0,
    count: int = 3,
    night: Night | None = None,
) -> MonthReport:
    """Every evening with and without the limiter; every interval of the month is counted.
    ``night``: also the month with that ready-by night, with its override and without."""
    rest = [peak for day in days for peak in day_house_peaks(day, interval_s)]
    house_evenings = [
        (day.index, house_interval_kw(day.evening, k * interval_s, interval_s))
        for day in days
        for k in range(int(EVENING_S // interval_s))
    ]
    figures = []
    limited: list[Peak] = []
    for budget in (budget_kw, None):
        evenings = [
            (day.index, run_evening(day.evening, config, budget, interval_s, margin_kw=margin_kw))
            for day in days
        ]
        peaks = rest + [p for index, e in evenings for p in evening_peaks(index, e, interval_s)]
        limited = limited or peaks
        figures.append(
            MonthFigures(
                billed_peak_kw([(d, kw) for d, _, kw in peaks], count),
                max(kw for _, _, kw in peaks),
                sum(e.energy_kwh for _, e in evenings),
                sum(e.overload_s for _, e in evenings),
                sum(e.pauses for _, e in evenings),
            )
        )
    perfect = sum(perfect_kwh(day.evening, budget_kw, interval_s) for day in days)
    report = MonthReport(
        figures[0],
        figures[1],
        billed_peak_kw([(d, kw) for d, _, kw in rest] + house_evenings, count),
        perfect,
        tuple(limited),
    )
    if night is None:
        return report
    return replace(
        report,
        night=night_report(report, night, config, budget_kw, interval_s, margin_kw, count),
    )


def night_report(
    report: MonthReport,
    night: Night,
    config: ControlConfig,
    budget_kw: float,
    interval_s: float,
    margin_kw: float = 0.0,
    count: int = 3,
) -> NightReport:
    """The ready-by night in the limited month of ``report``, with its override and without."""
    runs = [
        _night_figures(
            report.limited_peaks, night, config, budget_kw, interval_s, margin_kw, count, asked
        )
        for asked in (night.ready_by, None)
    ]
    return NightReport(night, runs[0], runs[1])


def _night_figures(
    month_peaks: Sequence[Peak],
    night: Night,
    config: ControlConfig,
    budget_kw: float,
    interval_s: float,
    margin_kw: float,
    count: int,
    ready_by: ReadyBy | None,
) -> NightFigures:
    """The night through the core (with its ready-by or on the budget alone), and the month's
    billed peak with its intervals in place of the ones it covers."""
    run = run_evening(
        night.scenario, config, budget_kw, interval_s, margin_kw=margin_kw, ready_by=ready_by
    )
    mine = evening_peaks(night.day, run, interval_s)
    covered = {(d, start_s) for d, start_s, _ in mine}
    peaks = [p for p in month_peaks if (p[0], p[1]) not in covered] + mine
    return NightFigures(
        billed_peak_kw([(d, kw) for d, _, kw in peaks], count),
        max(kw for _, _, kw in mine),
        sum(1 for _, _, kw in mine if kw > budget_kw * 1.02),
        run.energy_kwh,
        run.pauses,
        run.overload_s,
    )
