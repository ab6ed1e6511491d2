"""The control's invariants (docs/control.md; the fuse's rules) hold in every decision with a
capacity tariff and ``ready_by`` needs: the stateful property test of
tests/control/test_properties.py, each decision told a running hourly interval with a random
budget, the energy the meter has imported in it, and a random need per charger.

The tariff only lowers a claim, so every check of the fuse's machine applies unchanged; a raise
above the budget's share for a ready-by charger says ``tariff_override`` and still waits its
ramp (or resume) delay. Each interval's import is above max(budget, the house's highest draw in
it) by at most what the ready-by chargers needed and the margin, unless the meter went stale in
it (the fallback's safe current is the fuse's rule; no limiter can count a silent meter). The
house is what the core counts as the house's: all the meter measures but what the online
chargers draw (an offline box's car is in it), on the fuse's phases only.

The bound is not a guarantee of the core's: a hold at the minimum may spend half the margin's
energy, and a house drawing above its mean after the hold ends more than the other half takes
the interval over it (README §Capacity tariff: not derandomized, seed 154 finds one, 5.111 kW
on 5 kW + 0.1 kW). The derandomized examples run here do not.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule, run_state_machine_as_test

from loadbalancer.control import (
    ChargerSpec,
    ControlConfig,
    Decision,
    Inputs,
    MeterInput,
    Reason,
    TariffInput,
)
from loadbalancer.control.config import PhaseSwitchSpec
from loadbalancer.electric import NOMINAL_VOLTAGE_V, PHASES
from loadbalancer.fuse_profiles import load_fuse_profile
from tests.control.fixed_draws import fixed_constants
from tests.control.sim import Car, Site
from tests.control.test_properties import ControlMachine, History

MARGIN_KW = 0.1
#: whole intervals checked over all examples (the bound must not be vacuous)
CHECKED: list[int] = []


@dataclass
class TariffSite(Site):
    """A ``Site`` whose meter also counts the energy imported in each hourly interval."""

    budget_kw: float = 5.0
    #: 5 or 15 minutes (the minimum rule's pause) or 30 (the planned runs)
    interval_s: float = 1800.0
    needed_kw: dict[str, float] = field(default_factory=dict)
    interval_kwh: dict[int, float] = field(default_factory=dict)
    house_peak_kw: dict[int, float] = field(default_factory=dict)
    highest_need_kw: dict[int, float] = field(default_factory=dict)
    last_s: float = 0.0
    #: intervals in which a stale meter set a charger to its safe current (no tariff then)
    blind: set[int] = field(default_factory=set)

    def metered_a(self) -> tuple[float | None, float | None, float | None]:
        """What the site's meter measures: the fuse's phases only (a one-phase site's meter
        sends no current on L2 and L3; the house's draws the machine puts there do not exist)."""
        phases = self.config.fuse.phase_names
        l1, l2, l3 = (
            a if PHASES[p] in phases else None for p, a in enumerate(self.meter_current())
        )
        return (l1, l2, l3)

    def count_import(self, now_s: float) -> None:
        """The meter's import since the last telegram, at the currents it last measured,
        booked second by second to the intervals it fell in."""
        metered_a = [a or 0.0 for a in self.metered_a()]
        import_kw = max(0.0, sum(metered_a)) * NOMINAL_VOLTAGE_V / 1000.0
        # the house as the core counts it: all but what the online chargers draw (an offline
        # box's car draws what no limiter can lower)
        online = [self.car_grid_draw(name) for name in self.cars if name not in self.offline]
        house_a = sum(metered_a) - sum(sum(draw) for draw in online)
        house_kw = max(0.0, house_a) * NOMINAL_VOLTAGE_V / 1000.0
        t = self.last_s
        while t < now_s:
            k = int(t // self.interval_s)
            step_s = min(now_s, (k + 1) * self.interval_s) - t
            self.interval_kwh[k] = self.interval_kwh.get(k, 0.0) + import_kw * step_s / 3600.0
            self.house_peak_kw[k] = max(self.house_peak_kw.get(k, 0.0), house_kw)
            need = sum(self.needed_kw.values())
            self.highest_need_kw[k] = max(self.highest_need_kw.get(k, 0.0), need)
            t += step_s
        self.last_s = max(self.last_s, now_s)

    def inputs(self, now_s: float) -> Inputs:
        k = int(now_s // self.interval_s)
        start_s = k * self.interval_s
        so_far = self.interval_kwh.get(k, 0.0)
        end_s = start_s + self.interval_s
        needs = dict(self.needed_kw)
        tariff = TariffInput(self.budget_kw, start_s, end_s, so_far, MARGIN_KW, needs)
        plain = super().inputs(now_s)
        return Inputs(plain.meter, plain.chargers, tariff)

    def decide(self, now_s: float) -> Decision:
        decision = super().decide(now_s)
        fallback = Reason.METER_STALE_FALLBACK
        if any(c.reason is fallback and c.setpoint_a > 0 for c in decision.chargers):
            self.blind.add(int(now_s // self.interval_s))
        return decision

    def telegram(self, now_s: float, house_a: tuple[float, float, float] | None = None):  # type: ignore[no-untyped-def]
        self.count_import(now_s)
        if house_a is not None:
            self.house_a = house_a
        self.meter = MeterInput(self.metered_a(), now_s)
        return self.decide(now_s)


class TariffMachine(ControlMachine):
    @initialize(data=st.data())
    def build(self, data: st.DataObject) -> None:
        super().build(data)
        budget_kw = data.draw(st.sampled_from((2.0, 5.0, 8.0, 11.0)))
        interval_s = data.draw(st.sampled_from((300.0, 900.0, 1800.0)))
        plain = self.site
        self.site = TariffSite(plain.config, plain.cars, budget_kw=budget_kw, interval_s=interval_s)

    @rule(index=st.integers(0, 2), needed_kw=st.sampled_from((0.0, 0.0, 1.0, 4.0, 9.0)))
    def ready_by(self, index: int, needed_kw: float) -> None:
        assert isinstance(self.site, TariffSite)
        self.site.needed_kw[self.name_of(index)] = needed_kw

    def record(self, decision: Decision) -> None:
        """As the fuse's machine; the tariff's reason stands in for the one it bound: a paused
        charger's ``tariff_limit`` is its wait, a kept set-point's is a kept one."""
        tariff = (Reason.TARIFF_LIMIT, Reason.TARIFF_OVERRIDE)
        for charger in decision.chargers:
            reason, setpoint = charger.reason, charger.setpoint_a
            if reason is Reason.TARIFF_LIMIT and setpoint == 0:
                reason = Reason.PAUSED_WAIT_RESUME
            elif reason in tariff and setpoint == charger.previous_a:
                reason = Reason.HOLD_RAMP_DELAY  # kept: the tariff's reason in place of it
            self.history[charger.name].entries.append((self.now_s, setpoint, reason))
        self.check(decision)

    def check_timing(self, spec: ChargerSpec, reason: Reason, setpoint: float) -> None:
        entries = self.history[spec.name].entries
        previous = entries[-2][1] if len(entries) >= 2 else None
        if reason is not Reason.TARIFF_OVERRIDE or previous is None or setpoint <= previous:
            super().check_timing(spec, reason, setpoint)
            return
        # a raise above the budget's share for a ready-by charger: still after its delay
        changed = self.history[spec.name].last_change_s()
        assert changed is not None
        config = self.site.config
        delay_s = config.resume_delay_s if previous == 0 else config.ramp_up_delay_s
        assert self.now_s - changed >= delay_s - 1e-6

    def teardown(self) -> None:
        site = self.site
        assert isinstance(site, TariffSite)
        site.count_import(self.now_s)
        for k, kwh in site.interval_kwh.items():
            if (k + 1) * site.interval_s > self.now_s or k in site.blind:
                continue  # only whole intervals, with a meter to count them, are bounded
            CHECKED.append(k)
            bound_kw = max(site.budget_kw, site.house_peak_kw[k]) + site.highest_need_kw[k]
            assert kwh * 3600.0 / site.interval_s <= bound_kw + MARGIN_KW, (k, kwh)


SETTINGS = settings(
    max_examples=100,
    stateful_step_count=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def run_the_machine(
    machine: type[TariffMachine] = TariffMachine, examples: int = 100, steps: int = 100
) -> None:
    """The machine's derandomized examples, the same whatever the process imported before
    (tests/control/fixed_draws.py)."""
    with fixed_constants():
        run_state_machine_as_test(
            machine, settings=settings(SETTINGS, max_examples=examples, stateful_step_count=steps)
        )


def traced_run() -> str:
    """Every decision of the machine's first examples: time and set-points."""
    trace: list[str] = []

    class Traced(TariffMachine):
        def record(self, decision: Decision) -> None:
            setpoints = [(c.name, c.setpoint_a) for c in decision.chargers]
            trace.append(f"{self.now_s} {setpoints}")
            super().record(decision)

    run_the_machine(Traced, examples=10, steps=30)
    return "\n".join(trace)


def test_the_control_invariants_hold_with_a_tariff_and_ready_by_needs() -> None:
    CHECKED.clear()
    run_the_machine()
    # the bound saw whole intervals (the runs are long enough for it not to be vacuous)
    assert len(CHECKED) >= 10


def test_the_machine_draws_the_same_examples_whatever_the_process_imported_before() -> None:
    """Alone, then after the simulation's modules (as pytest's workers import them with the
    other test files): the same decisions, though hypothesis collected more constants."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "tests.control.fixed_draws", "loadbalancer.sim.evenings"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    (before, alone), (after, imported) = (line.split() for line in done.stdout.splitlines())
    assert int(after) > int(before)  # the import did change hypothesis's pool
    assert imported == alone


#: the kettles (amperes, phase, telegrams) of the counterexample the machine found with
#: hypothesis's seed 110 (200 examples of 100 steps, not derandomized), up to the end of its
#: second interval
SEED_110_KETTLES = (
    (13.0, 0, 4), (13.0, 1, 1), (8.7, 2, 5), (13.0, 2, 6), (8.7, 2, 6), (13.0, 0, 6),
    (13.0, 0, 4), (13.0, 0, 3), (8.7, 1, 6), (8.7, 2, 3), (13.0, 2, 2), (8.7, 2, 6),
    (8.7, 1, 6), (13.0, 0, 2), (8.7, 2, 3), (8.7, 1, 3), (8.7, 1, 5), (4.0, 1, 2),
    (8.7, 2, 6), (8.7, 1, 4), (8.7, 0, 3), (13.0, 0, 6), (13.0, 0, 3), (13.0, 1, 1),
    (4.0, 0, 4), (8.7, 2, 4), (8.7, 2, 5), (4.0, 0, 1), (8.7, 0, 6), (4.0, 2, 3),
    (13.0, 2, 3), (4.0, 1, 2), (8.7, 2, 6), (4.0, 1, 1), (4.0, 1, 3), (8.7, 0, 6),
    (4.0, 0, 1), (8.7, 0, 2), (8.7, 1, 3), (4.0, 1, 6), (8.7, 2, 1), (8.7, 2, 5),
    (4.0, 1, 3), (13.0, 2, 2), (4.0, 0, 1), (13.0, 0, 5), (4.0, 1, 2), (13.0, 1, 2),
    (8.7, 0, 3), (4.0, 0, 4), (13.0, 0, 1), (13.0, 0, 2), (8.7, 1, 2), (13.0, 0, 6),
    (13.0, 0, 6), (13.0, 2, 2), (4.0, 1, 2), (4.0, 0, 5), (13.0, 2, 1), (8.7, 1, 5),
    (4.0, 1, 4), (4.0, 2, 3), (4.0, 1, 2), (13.0, 0, 5), (13.0, 2, 1), (8.7, 2, 5),
    (8.7, 0, 5), (13.0, 1, 1), (8.7, 0, 2), (13.0, 2, 6), (13.0, 0, 6), (4.0, 0, 1),
    (13.0, 0, 4), (8.7, 0, 1), (4.0, 2, 6), (13.0, 1, 3), (8.7, 0, 3), (13.0, 1, 5),
    (8.7, 1, 6),
)  # fmt: skip


def test_a_hold_at_the_minimum_counts_the_slow_cars_telegram_after_its_pause() -> None:
    """The machine's counterexample (seed 110): 30-minute intervals on a 5 kW budget, one slow
    three-phase car held at its 6 A minimum (4.1 kW) through 3 kW kettle spikes. Its hold
    ended when the interval's allowance no longer covered its minimum until the next decision,
    but a slow car draws for one telegram after its limit drops: the second interval came out
    at 5.103 kW, above the budget and the margin. The hold now plans that telegram too."""
    switch = PhaseSwitchSpec("auto", "L2", up_after_s=30.0, max_per_session=1)
    spec = ChargerSpec(
        "c0", ("L1", "L2", "L3"), max_current_a=32.0, priority=2, granularity_a=0.001,
        failsafe_current_a=8.0, phase_switch=switch,
    )  # fmt: skip
    config = ControlConfig(
        fuse=load_fuse_profile("3x20A-gG"), chargers=(spec,), safe_current_a=6.0,
        ramp_up_delay_s=60.0, resume_delay_s=0.0, min_share_hold_s=30.0,
    )  # fmt: skip
    machine = TariffMachine()
    machine.site = TariffSite(
        config, {"c0": Car(3, 32.0, slow=True)}, budget_kw=5.0, interval_s=1800.0
    )
    machine.history["c0"] = History()
    for kettle_a, phase, telegrams in SEED_110_KETTLES:
        machine.spike(kettle_a, phase, telegrams)
    assert machine.now_s >= 3600.0  # the second interval is whole
    CHECKED.clear()
    machine.teardown()  # each whole interval within max(budget, house) + the margin
    assert sorted(CHECKED) == [0, 1]
