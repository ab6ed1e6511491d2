"""The capacity tariff in ``loadbalancer run`` (issue 15): the service's thin shell around the
pure parts of :mod:`loadbalancer.tariff`.

Only a site with a ``tariff:`` section imports this module. It is fed every valid telegram's
import register and active power, stamped with the wall clock when it came
(:meth:`TariffIntake.on_reading`), and gives each decision a :class:`TariffInput`, the running
interval's edges converted to the core's monotonic clock (:meth:`TariffIntake.input`). When an
interval closes, the month's peaks take it in, the state file is saved, and a
``tariff_interval`` record says what it was. At start the month comes from the state file, or
from the decision log's ``tariff_interval`` records when the file is missing or corrupt (one line
on stderr and a ``tariff_month`` record name the file and the problem).

The budget in force is the configured one; ``mode: follow_peak`` raises it to the month's N-th
highest peak already paid for in the component the interval counts in. The core is given it as
a limit on the interval's mean power: divided by the interval's weight (an Ellevio night hour,
billed at half, may take twice as much). A free interval (one no component counts) is not
limited. ``ready_by`` chargers (:mod:`loadbalancer.tariff.ready_by`) are counted in
:class:`~loadbalancer.tariff_ready.ReadyTracker`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loadbalancer.config import SiteConfig
from loadbalancer.control.decision import Decision
from loadbalancer.control.inputs import ChargerRead, TariffInput
from loadbalancer.control.tariff import car_power_w
from loadbalancer.errors import StateFileError
from loadbalancer.logwriter import DecisionLog
from loadbalancer.meter.reading import Reading
from loadbalancer.tariff.calendar import (
    counted_in,
    holiday_check,
    interval_start,
    local_day,
    local_time,
    month_of,
)
from loadbalancer.tariff.meter import IntervalMeter, MeterSample
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks, follow_peak_kw
from loadbalancer.tariff.rebuild import rebuild_month
from loadbalancer.tariff.settings import TariffConfig
from loadbalancer.tariff.state import load_month, save_month, state_path
from loadbalancer.tariff_ready import ReadyTracker

Clock = Callable[[], float]
Status = Callable[[str], None]

#: a meter with no import register for this long is said once (list 3 comes hourly at most)
NO_REGISTER_SAY_AFTER_S = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class InForce:
    """The limit on an interval's mean power and the component it comes from."""

    budget_kw: float
    component: str
    weight: float


class TariffIntake:
    """The month's peaks, the open interval and the ``ready_by`` counts of one running service.

    ``clock``: the core's monotonic clock; ``wall_clock``: seconds since the epoch (the tariff's
    intervals are on the Stockholm wall clock)."""

    def __init__(
        self, site: SiteConfig, log: DecisionLog, status: Status, clock: Clock, wall_clock: Clock
    ) -> None:
        assert site.tariff is not None
        self.config: TariffConfig = site.tariff
        self.profile = self.config.profile
        self.is_holiday = holiday_check(self.profile.holidays)
        self.path = state_path(self.config.state_dir)
        self.decisions_path = site.decisions_path
        self.log = log
        self.status = status
        self.clock = clock
        self.wall_clock = wall_clock
        self.meter = IntervalMeter(self.profile.interval_s)
        self.month = MonthPeaks(month_of(int(wall_clock())))
        self.ready = ReadyTracker(self.config.ready_by, wall_clock())
        self._save_failed = False
        self._no_register_since_s: float | None = None
        self._said_register = False

    # ---- the month ------------------------------------------------------------------------

    def start(self) -> None:
        """The month from the state file, else rebuilt from the decision log; recorded."""
        now_s = self.wall_clock()
        problem = None
        try:
            kept = load_month(self.path, self.profile.name)
        except StateFileError as exc:
            kept, problem = None, exc.problem
        source = "state_file"
        if kept is None:
            kept, source = self._rebuilt(month_of(int(now_s))), "decision_log"
        self.month = kept.rolled(now_s)
        self.log.record(
            "tariff_month",
            month=self.month.month,
            source=source,
            state_file=str(self.path),
            problem=problem,
            intervals=self.month.intervals,
            billed_kw=self._billed_kw(),
        )
        if problem is not None:
            self.status(
                f"tariff: {self.path}: {problem}; the month rebuilt from the decision log "
                f"({self.month.intervals} interval(s)), the file kept as "
                f"{self.path.name}.corrupt"
            )
            with contextlib.suppress(OSError):
                self.path.replace(self.path.with_name(f"{self.path.name}.corrupt"))
        if source == "decision_log":
            self._save()

    def _rebuilt(self, month: str) -> MonthPeaks:
        try:
            return rebuild_month(self.profile, month, self.decisions_path, self.is_holiday).month
        except OSError as exc:  # the log's directory cannot be listed
            self.status(
                f"tariff: cannot read the decision log beside {self.decisions_path} "
                f"({exc.strerror or exc}): the month starts afresh"
            )
            return MonthPeaks(month)

    def _billed_kw(self) -> dict[str, float]:
        return {
            c.name: round(self.month.billed_kw(self.profile, c.name), 3)
            for c in self.profile.components
        }

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            save_month(self.path, self.profile.name, self.month)
        except OSError as exc:
            if not self._save_failed:
                self.status(
                    f"tariff: {self.path}: cannot save the month's peaks "
                    f"({exc.strerror or exc}); they are kept in memory and saved again at the "
                    "next interval"
                )
            self._save_failed = True
            return
        if self._save_failed:
            self.status(f"tariff: {self.path}: saved again")
        self._save_failed = False

    # ---- the meter ------------------------------------------------------------------------

    def on_reading(self, reading: Reading) -> None:
        """A valid telegram: its register and power at the wall-clock time it came."""
        if reading.energy_import_kwh is None and reading.import_w is None:
            return
        t_s = self.wall_clock() - (self.clock() - reading.received_s)
        sample = MeterSample(t_s, reading.energy_import_kwh, reading.import_w)
        self.meter, closed = self.meter.step(sample)
        if closed:
            self._closed(closed)
        self._check_register(t_s)

    def _check_register(self, t_s: float) -> None:
        """Say once when the meter has sent no import register for a while: the interval's
        energy cannot be measured and the tariff does not limit."""
        if self.meter.anchor is not None:
            self._no_register_since_s = None
            return
        if self._no_register_since_s is None:
            self._no_register_since_s = t_s
        elif t_s - self._no_register_since_s > NO_REGISTER_SAY_AFTER_S and not self._said_register:
            self._said_register = True
            self.status(
                "tariff: the meter sends no import register (1-0:1.8.0): the intervals' energy "
                "cannot be measured and the tariff does not limit the cars"
            )

    def _closed(self, intervals: tuple[IntervalEnergy, ...]) -> None:
        """Closed intervals: into the month, the month to disk, then one record each."""
        records = []
        for interval in intervals:
            in_force = self.in_force(interval.start_s)  # what held while it ran
            self.month = self.month.add(self.profile, interval, self.is_holiday)
            records.append(self._interval_fields(interval, in_force))
        self._save()
        for fields in records:
            self.log.record("tariff_interval", **fields)

    def _interval_fields(self, interval: IntervalEnergy, held: InForce | None) -> dict[str, Any]:
        rank = None
        if held is not None:
            billed = self.month.billed(self.profile, held.component)
            starts = [peak.start_s for peak in billed]
            rank = starts.index(interval.start_s) + 1 if interval.start_s in starts else None
        interval_s = self.profile.interval_s
        return {
            "profile": self.profile.name,
            "start": local_time(interval.start_s).isoformat(),
            "end": local_time(interval.start_s + interval_s).isoformat(),
            "interval_s": interval_s,
            "energy_kwh": round(interval.energy_kwh, 4),
            "mean_kw": round(interval.energy_kwh / self.profile.interval_h, 3),
            "estimated": interval.estimated,
            "component": None if held is None else held.component,
            "weight": 0.0 if held is None else held.weight,
            "budget_kw": None if held is None else round(held.budget_kw, 3),
            "peak_rank": rank,
        }

    def in_force(self, start_s: int) -> InForce | None:
        """The limit on the mean power of the interval starting at ``start_s`` (None: it counts
        in no component): in each component it counts in, the budget (``follow_peak``: raised
        to the month's paid peak) divided by the weight; the lowest."""
        month = self.month.rolled(start_s)
        day = local_day(start_s)
        found: InForce | None = None
        for counted in counted_in(self.profile, start_s, self.is_holiday):
            if counted.weight <= 0:
                continue
            kw = self.config.budget_kw
            if self.config.mode == "follow_peak":
                kw = follow_peak_kw(self.profile, month, counted.component, kw, day)
            mean_kw = kw / counted.weight
            if found is None or mean_kw < found.budget_kw:
                found = InForce(mean_kw, counted.component, counted.weight)
        return found

    # ---- each decision --------------------------------------------------------------------

    def input(self, now_s: float, reads: Mapping[str, ChargerRead]) -> TariffInput | None:
        """The running interval for the core, or None: not limited now (a free interval, or no
        register reading yet). ``reads``: each charger's latest read (for ``ready_by``)."""
        wall_s = self.wall_clock()
        needed = self.ready.update(now_s, wall_s, reads)
        start_s = interval_start(wall_s, self.profile.interval_s)
        in_force = self.in_force(start_s)
        so_far = self._so_far_kwh(start_s, wall_s)
        if in_force is None or so_far is None:
            return None
        start_mono_s = now_s - (wall_s - start_s)
        try:
            return TariffInput(
                budget_kw=in_force.budget_kw,
                interval_start_s=start_mono_s,
                interval_end_s=start_mono_s + self.profile.interval_s,
                energy_kwh_so_far=so_far,
                margin_kw=self.config.margin_kw,
                needed_kw=needed,
            )
        except ValueError:  # a register or a clock beyond sense: the fuse alone decides
            return None

    def _so_far_kwh(self, start_s: int, wall_s: float) -> float | None:
        """The energy imported in the interval starting at ``start_s`` up to now; when no
        telegram came in it yet, the last power held since its start."""
        if self.meter.start_s == start_s:
            return self.meter.so_far_kwh()
        last = self.meter.last
        if last is None or self.meter.so_far_kwh() is None:
            return None
        return max(0.0, last.import_w or 0.0) / 1000.0 * max(0.0, wall_s - start_s) / 3600.0

    def decision_fields(
        self, tariff: TariffInput, decision: Decision, phases: int, now_s: float
    ) -> dict[str, Any]:
        """The decision record's ``tariff`` object: what the core was given, and ``cars_kw``,
        what the cars may still take (the core's P, from the same house draw it uses)."""
        start_s = interval_start(self.wall_clock(), self.profile.interval_s)
        return {
            "budget_kw": round(tariff.budget_kw, 3),
            "interval_start": local_time(start_s).isoformat(),
            "energy_kwh_so_far": round(tariff.energy_kwh_so_far, 4),
            "cars_kw": _cars_kw(tariff, decision, phases, now_s),
            "needed_kw": {name: round(kw, 3) for name, kw in tariff.needed_kw.items()},
        }


def _cars_kw(tariff: TariffInput, decision: Decision, phases: int, now_s: float) -> float | None:
    """The core's P: the house's draw is the meter's less what the chargers measure."""
    others_a = list(decision.meter_a.values())
    if any(value is None for value in others_a):
        return None
    names = list(decision.meter_a)
    house_a = [float(value or 0.0) for value in others_a]
    for charger in decision.chargers:
        for phase, drawn_a in zip(charger.phases, charger.measured_a, strict=False):
            if phase in names:
                house_a[names.index(phase)] -= drawn_a
    return round(car_power_w(tariff, house_a, phases, now_s) / 1000.0, 3)
