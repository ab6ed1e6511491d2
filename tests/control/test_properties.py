"""Stateful property test of ``decide`` over random houses, cars, outages and meter gaps.

Every decision is checked against the control's invariants. Settings are fixed (derandomized, no
example database) so CI runs the same few thousand steps every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from loadbalancer.control import (
    ChargerSpec,
    ControlConfig,
    Decision,
    FuseProfile,
    MeterInput,
    Reason,
)
from loadbalancer.control.config import PhaseSwitchSpec
from loadbalancer.electric import PHASES
from loadbalancer.fuse_profiles import load_fuse_profile
from tests.control.sim import Car, Site

EPS = 1e-6
FUSES = ("3x16A-gG", "3x20A-gG", "3x25A-gG", "3x20A-C", "3x20A-strict", "1x16A-gG")
SIGNED_HOUSE_A = st.floats(min_value=-8.0, max_value=30.0, allow_nan=False).map(
    lambda a: round(a, 1)
)


@st.composite
def charger_specs(draw: st.DrawFn, fuse: FuseProfile, index: int) -> ChargerSpec:
    phase_names = fuse.phase_names
    if len(phase_names) == 3 and draw(st.booleans()):
        phases: tuple[str, ...] = tuple(draw(st.permutations(phase_names)))
    else:
        phases = (draw(st.sampled_from(phase_names)),)
    switch = None
    if len(phases) == 3 and draw(st.booleans()):  # issue 19: a box that switches 1p/3p
        switch = PhaseSwitchSpec(
            "auto",
            draw(st.sampled_from(phases)),
            up_after_s=draw(st.sampled_from((0.0, 30.0, 300.0))),
            max_per_session=draw(st.sampled_from((0, 1, 2, 5))),
        )
    return ChargerSpec(
        name=f"c{index}",
        phases=phases,
        max_current_a=draw(st.sampled_from((10.0, 13.0, 16.0, 32.0))),
        priority=draw(st.integers(1, 2)),
        granularity_a=draw(st.sampled_from((1.0, 0.1, 0.001))),
        failsafe_current_a=draw(st.sampled_from((0.0, 6.0, 8.0))),
        phase_switch=switch,
    )


@dataclass
class History:
    """What the test remembers of one charger: (time, set-point, reason) of every decision."""

    entries: list[tuple[float, float, Reason]] = field(default_factory=list)

    def last_change_s(self) -> float | None:
        """When the set-point before the latest decision was first set."""
        if len(self.entries) < 2:
            return None
        value = self.entries[-2][1]
        since = self.entries[-2][0]
        for time_s, setpoint, _ in reversed(self.entries[:-1]):
            if setpoint != value:
                break
            since = time_s
        return since


class ControlMachine(RuleBasedStateMachine):
    """Drives a ``Site`` and checks the invariants after every decision."""

    def __init__(self) -> None:
        super().__init__()
        self.site: Site
        self.now_s = 0.0
        self.history: dict[str, History] = {}
        #: issue 19: per charger the phase switches decided since its car was plugged in
        self.session_switches: dict[str, int] = {}

    @initialize(data=st.data())
    def build(self, data: st.DataObject) -> None:
        fuse = load_fuse_profile(data.draw(st.sampled_from(FUSES)))
        count = data.draw(st.integers(1, 3))
        specs = tuple(data.draw(charger_specs(fuse, i)) for i in range(count))
        config = ControlConfig(
            fuse=fuse,
            chargers=specs,
            safe_current_a=data.draw(st.sampled_from((0.0, 6.0, 10.0))),
            ramp_up_delay_s=data.draw(st.sampled_from((0.0, 20.0, 30.0, 60.0))),
            resume_delay_s=data.draw(st.sampled_from((0.0, 60.0, 120.0, 300.0))),
            min_share_hold_s=data.draw(st.sampled_from((None, 0.0, 30.0, 900.0))),
        )
        self.site = Site(config)
        for spec in specs:
            self.site.cars[spec.name] = Car(
                phases_used=data.draw(st.sampled_from((1, 3))),
                limit_a=data.draw(st.sampled_from((8.0, 16.0, 32.0))),
                slow=data.draw(st.booleans()),
            )
            self.history[spec.name] = History()

    # ---- actions ---------------------------------------------------------------------------

    @rule(
        house=st.tuples(SIGNED_HOUSE_A, SIGNED_HOUSE_A, SIGNED_HOUSE_A),
        gap_s=st.sampled_from((5.0, 10.0, 10.0, 10.0, 12.0)),
    )
    def telegram(self, house: tuple[float, float, float], gap_s: float) -> None:
        self.now_s += gap_s
        self.record(self.site.telegram(self.now_s, house))

    @rule(
        kettle_a=st.sampled_from((4.0, 8.7, 13.0)),
        phase=st.integers(0, 2),
        telegrams=st.integers(1, 6),
    )
    def spike(self, kettle_a: float, phase: int, telegrams: int) -> None:
        """A kettle, oven or heat-pump start on one phase for a few telegrams."""
        base = self.site.house_a
        spiked = tuple(a + (kettle_a if p == phase else 0.0) for p, a in enumerate(base))
        for _ in range(telegrams):
            self.now_s += 10.0
            self.record(self.site.telegram(self.now_s, (spiked[0], spiked[1], spiked[2])))
        self.now_s += 10.0
        self.record(self.site.telegram(self.now_s, base))

    @rule(steady_telegrams=st.integers(1, 12))
    def quiet_house(self, steady_telegrams: int) -> None:
        for _ in range(steady_telegrams):
            self.now_s += 10.0
            self.record(self.site.telegram(self.now_s))

    @rule(wait_s=st.sampled_from((2.0, 4.0, 8.0)))
    def charger_poll(self, wait_s: float) -> None:
        """A decision between telegrams, on the same meter reading."""
        self.now_s += wait_s
        self.record(self.site.decide(self.now_s))

    @rule(wait_s=st.sampled_from((15.0, 26.0, 40.0, 90.0)))
    def meter_gap(self, wait_s: float) -> None:
        self.now_s += wait_s
        self.record(self.site.decide(self.now_s))

    @rule(
        index=st.integers(0, 2),
        phases_used=st.sampled_from((1, 3)),
        limit_a=st.sampled_from((7.0, 10.0, 16.0, 32.0)),
    )
    def plug(self, index: int, phases_used: int, limit_a: float) -> None:
        name = self.name_of(index)
        car = self.site.cars[name]
        car.plugged, car.phases_used, car.limit_a = True, phases_used, limit_a

    @rule(index=st.integers(0, 2))
    def unplug(self, index: int) -> None:
        self.site.cars[self.name_of(index)].unplug()

    @rule(index=st.integers(0, 2))
    def toggle_refusing(self, index: int) -> None:
        """Issue 19: the box refuses (or stops refusing) a phase switch."""
        self.site.refusing ^= {self.name_of(index)}

    @rule(index=st.integers(0, 2))
    def toggle_outage(self, index: int) -> None:
        name = self.name_of(index)
        self.site.offline ^= {name}

    def name_of(self, index: int) -> str:
        specs = self.site.config.chargers
        return specs[index % len(specs)].name

    # ---- checks ----------------------------------------------------------------------------

    def record(self, decision: Decision) -> None:
        self.check_switches(decision)
        for charger in decision.chargers:
            self.history[charger.name].entries.append(
                (self.now_s, charger.setpoint_a, charger.reason)
            )
        self.check(decision)

    def check(self, decision: Decision) -> None:
        config = self.site.config
        fuse = config.fuse
        meter = self.site.meter
        stale = meter is None or self.now_s - meter.received_s > config.stale_after_s
        specs = {spec.name: spec for spec in config.chargers}
        for charger in decision.chargers:
            spec = specs[charger.name]
            setpoint = charger.setpoint_a
            # never between 0 and the minimum, never above the maximum, at the granularity
            assert setpoint == 0 or spec.min_current_a <= setpoint <= spec.max_current_a + EPS
            steps = setpoint / spec.granularity_a
            assert abs(steps - round(steps)) < 1e-6, (setpoint, spec.granularity_a)
            if charger.name in self.site.offline:
                # an offline charger is at its failsafe current, reserved on its phases
                assert charger.reason is Reason.CHARGER_OFFLINE_RESERVED
                assert setpoint == clamp(spec.failsafe_current_a, spec)
            elif stale:
                assert charger.reason is Reason.METER_STALE_FALLBACK
                assert setpoint == clamp(config.safe_current_a, spec)
            else:
                self.check_timing(spec, charger.reason, setpoint)
            if charger.reason is Reason.MIN_CURRENT_HOLD:
                # a hold spends budget only above the rating: there, the budget must remain
                assert fuse.overload_budget_s > 0
                for phase in charger.phases:
                    house = decision.house_a[phase]
                    offered = sum(c.setpoint_a for c in decision.chargers if phase in c.phases)
                    within_rating = house is not None and house + offered <= fuse.rating_a + EPS
                    assert within_rating or decision.budget_used_s[phase] < fuse.overload_budget_s
            if charger.reason is Reason.NO_CAR:
                assert setpoint <= spec.min_current_a
            if charger.reason is Reason.SHARE_ROTATION_PAUSE:
                self.check_turn(spec)
        if not stale:
            assert meter is not None
            self.check_phases(decision, meter)

    def check_phases(self, decision: Decision, meter: MeterInput) -> None:
        """House from measured currents; offers fit the allowance (plus at most the margin the
        cars leave unused) but for holds in budget."""
        config = self.site.config
        fuse = config.fuse
        for p, phase in enumerate(PHASES):
            if phase not in fuse.phase_names:
                continue
            measured_online = sum(
                self.site.seen_grid_draw(name)[p]
                for name in self.site.cars
                if name not in self.site.offline
            )
            meter_a = meter.current_a[p]
            assert meter_a is not None
            house = decision.house_a[phase]
            assert house is not None
            assert math.isclose(house, meter_a - measured_online, abs_tol=EPS)
            reserved = sum(
                clamp(spec.failsafe_current_a, spec)
                for spec in config.chargers
                if spec.name in self.site.offline and phase in spec.phases
            )
            allowed = decision.allowed_a[phase]
            assert allowed is not None
            assert math.isclose(allowed, fuse.target_a - house - reserved, abs_tol=EPS)
            on_phase = [
                c
                for c in decision.chargers
                if phase in c.phases and c.name not in self.site.offline
            ]
            held = sum(c.setpoint_a for c in on_phase if c.reason is Reason.MIN_CURRENT_HOLD)
            others = sum(c.setpoint_a for c in on_phase if c.reason is not Reason.MIN_CURRENT_HOLD)
            # issue 13: what the cars leave unused of their offers may be offered again, at most
            # the fuse's margin per phase: the phase stays within its rating whatever they draw
            assert others <= max(0.0, allowed - held) + fuse.margin_a + EPS, (
                phase,
                allowed,
                held,
                others,
            )
        for charger in decision.chargers:
            # a car drawing on a grid phase is counted on it
            if charger.name not in self.site.offline:
                draws = self.site.seen_grid_draw(charger.name)
                for p, draw in enumerate(draws):
                    if draw >= 1.0:
                        assert PHASES[p] in charger.phases

    def check_turn(self, spec: ChargerSpec) -> None:
        """A car paused for another's turn ran for at least ``min_share_hold_s`` before."""
        hold_s = self.site.config.min_share_hold_s
        assert hold_s is not None
        entries = self.history[spec.name].entries
        assert len(entries) >= 2 and entries[-2][1] > 0
        started_s = entries[0][0]
        for time_s, setpoint, _ in reversed(entries[:-1]):
            if setpoint == 0:
                break
            started_s = time_s
        assert self.now_s - started_s >= hold_s - EPS

    def check_timing(self, spec: ChargerSpec, reason: Reason, setpoint: float) -> None:
        """No raise before the ramp delay, no resume before the resume delay."""
        config = self.site.config
        entries = self.history[spec.name].entries
        previous = entries[-2][1] if len(entries) >= 2 else None
        if previous is None or setpoint <= previous:
            return
        now = self.now_s
        if reason is Reason.RAMP_UP:
            assert previous > 0
            window = [e for e in entries[:-1] if e[0] > now - config.ramp_up_delay_s - EPS]
            changed = self.history[spec.name].last_change_s()
            assert changed is not None
            assert now - changed >= config.ramp_up_delay_s - EPS
            assert all(e[2] is Reason.HOLD_RAMP_DELAY and e[1] == previous for e in window)
        elif reason is Reason.RESUME:
            assert previous == 0
            window = [e for e in entries[:-1] if e[0] > now - config.resume_delay_s - EPS]
            changed = self.history[spec.name].last_change_s()
            assert changed is not None
            assert now - changed >= config.resume_delay_s - EPS
            assert all(e[2] is Reason.PAUSED_WAIT_RESUME for e in window)
            # issue 13: a resume goes in one step to what fitted all through the wait (the
            # allowance check above bounds it), no longer always to the minimum
            assert spec.min_current_a <= setpoint <= spec.max_current_a
        elif reason is Reason.START:
            # issue 13: after a fallback that left it running, the next share is a fresh start
            before = entries[-2][2]
            assert before in (Reason.METER_STALE_FALLBACK, Reason.CHARGER_OFFLINE_RESERVED)
            assert previous > 0
        else:
            raise AssertionError(f"{spec.name} raised {previous} -> {setpoint} by {reason}")

    def check_switches(self, decision: Decision) -> None:
        """Issue 19: a switch only on a fresh meter with no phase over, for an online car, at
        set-point 0, at most ``max_per_session`` per plug-in; the shell switched no box under
        load."""
        config, site = self.site.config, self.site
        inputs = site.last_inputs
        assert inputs is not None
        for charger in decision.chargers:
            read = inputs.chargers[charger.name]
            if read.status == "A":
                self.session_switches[charger.name] = 0
            if charger.reason not in (Reason.PHASE_SWITCH_DOWN, Reason.PHASE_SWITCH_UP):
                continue
            spec = next(spec for spec in config.chargers if spec.name == charger.name)
            assert spec.phase_switch is not None and charger.setpoint_a == 0
            assert site.meter is not None
            assert self.now_s - site.meter.received_s <= config.stale_after_s
            assert charger.name not in site.offline and not read.phase_switch_failed
            for p, name in enumerate(PHASES):
                meter_a = site.meter.current_a[p]
                if name in config.fuse.phase_names and meter_a is not None:
                    assert abs(meter_a) <= config.fuse.target_a + EPS, (name, meter_a)
            count = self.session_switches.get(charger.name, 0) + 1
            self.session_switches[charger.name] = count
            assert count <= spec.phase_switch.max_per_session
        assert all(drawn_a == 0 for _, _, drawn_a in site.switches)

    @invariant()
    def time_moves_forward(self) -> None:
        assert self.now_s >= 0


def clamp(current_a: float, spec: ChargerSpec) -> float:
    """What a fixed current (safe, failsafe) becomes on a charger (0 below its minimum)."""
    value = math.floor(min(current_a, spec.max_current_a) / spec.granularity_a + 1e-6)
    value_a = round(value * spec.granularity_a, 3)
    return value_a if value_a >= spec.min_current_a else 0.0


ControlMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestControlProperties = ControlMachine.TestCase


class PhaseSwitchMachine(ControlMachine):
    """Issue 19: the same machine and invariants on three-phase fuses where every three-phase
    charger switches, with houses full on two phases and light on the third for a while (down
    to one phase), then light on all (back up)."""

    @initialize(data=st.data())
    def build(self, data: st.DataObject) -> None:
        ControlMachine.build(self, data)
        config = self.site.config
        if config.fuse.phases != 3:
            return
        specs = tuple(
            spec
            if len(spec.phases) != 3 or spec.phase_switch is not None
            else replace(
                spec,
                phase_switch=PhaseSwitchSpec(
                    "auto",
                    data.draw(st.sampled_from(spec.phases)),
                    up_after_s=data.draw(st.sampled_from((0.0, 30.0, 120.0))),
                    max_per_session=data.draw(st.sampled_from((1, 3, 5))),
                ),
            )
            for spec in config.chargers
        )
        cars = self.site.cars
        self.site = Site(replace(config, chargers=specs))
        self.site.cars.update(cars)

    @rule(light_a=st.sampled_from((0.0, 2.0, 5.0)), telegrams=st.integers(1, 20))
    def light_house(self, light_a: float, telegrams: int) -> None:
        for _ in range(telegrams):
            self.now_s += 10.0
            self.record(self.site.telegram(self.now_s, (light_a, light_a, light_a)))

    @rule(
        light=st.integers(0, 2),
        light_a=st.sampled_from((0.0, 3.0, 8.0)),
        full_by_a=st.sampled_from((0.5, 2.0, 4.5)),
        telegrams=st.integers(1, 15),
    )
    def lopsided(self, light: int, light_a: float, full_by_a: float, telegrams: int) -> None:
        """Issue 19: two phases nearly full, one light, for a while (a one-phase load)."""
        target_a = self.site.config.fuse.target_a
        house = tuple(light_a if p == light else target_a - full_by_a for p in range(3))
        for _ in range(telegrams):
            self.now_s += 10.0
            self.record(self.site.telegram(self.now_s, (house[0], house[1], house[2])))


PhaseSwitchMachine.TestCase.settings = settings(
    ControlMachine.TestCase.settings, max_examples=100, stateful_step_count=30
)
TestPhaseSwitchProperties = PhaseSwitchMachine.TestCase
