"""The hold at the minimum on a spent budget, as a property: the control machine
(:class:`ControlMachine`, its invariants on every decision: a charger held at its minimum keeps
each of its phases within the rating, house plus every offer, unless that phase's overload
budget remains) driven where that bites: fuses with a budget, one-phase boxes, cars that draw
less than they are offered (their own limit under the box's maximum, so offers carry an unused
credit), a phase over its rating for a while that spends the budget, then a house just under
the target that leaves less than a minimum, with charger polls between telegrams."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from loadbalancer.control import ChargerSpec, ControlConfig
from loadbalancer.electric import PHASES
from loadbalancer.fuse_profiles import load_fuse_profile
from tests.control.sim import Car, Site
from tests.control.test_properties import ControlMachine, History

BUDGET_FUSES = ("3x16A-gG", "3x20A-gG", "3x25A-gG", "3x20A-C", "1x16A-gG")


class SpentBudgetMachine(ControlMachine):
    """Budgets spent on a phase, then a nearly full house on it, with cars leaving offers
    unused; every decision under the control machine's invariants."""

    @initialize(data=st.data())
    def build(self, data: st.DataObject) -> None:
        fuse = load_fuse_profile(data.draw(st.sampled_from(BUDGET_FUSES)))
        specs = tuple(
            ChargerSpec(
                f"c{i}",
                (data.draw(st.sampled_from(fuse.phase_names)),),
                max_current_a=data.draw(st.sampled_from((10.0, 13.0, 16.0))),
                priority=data.draw(st.integers(1, 2)),
                granularity_a=data.draw(st.sampled_from((1.0, 0.1))),
                failsafe_current_a=0.0,
            )
            for i in range(data.draw(st.integers(1, 2)))
        )
        config = ControlConfig(
            fuse=fuse,
            chargers=specs,
            safe_current_a=0.0,
            ramp_up_delay_s=data.draw(st.sampled_from((0.0, 0.0, 20.0))),
            resume_delay_s=data.draw(st.sampled_from((0.0, 0.0, 60.0))),
        )
        self.site = Site(config)
        for spec in specs:
            self.site.cars[spec.name] = Car(
                phases_used=1,
                limit_a=data.draw(st.sampled_from((7.0, 8.0, 9.5, 16.0))),
                slow=data.draw(st.booleans()),
            )
            self.history[spec.name] = History()

    def _phase_at(self, index: int, current_a: float, telegrams: int, polls: int = 0) -> None:
        """The house on the grid phase of charger ``index`` at ``current_a`` for ``telegrams``
        telegrams, each followed by ``polls`` charger polls 2 s apart."""
        spec = self.site.config.chargers[index % len(self.site.config.chargers)]
        for _ in range(telegrams):
            house = list(self.site.house_a)
            house[PHASES.index(spec.phases[0])] = current_a
            self.now_s += 10.0
            self.record(self.site.telegram(self.now_s, (house[0], house[1], house[2])))
            for _ in range(polls):
                self.now_s += 2.0
                self.record(self.site.decide(self.now_s))

    @rule(
        index=st.integers(0, 1),
        ratio=st.sampled_from((1.1, 1.3, 1.7)),
        telegrams=st.integers(1, 8),
    )
    def spend_budget(self, index: int, ratio: float, telegrams: int) -> None:
        """A charger's phase over its rating by the house alone: the budget runs down."""
        self._phase_at(index, ratio * self.site.config.fuse.rating_a, telegrams)

    @rule(
        index=st.integers(0, 1),
        below_a=st.sampled_from((0.5, 3.0, 4.5, 5.0, 5.5)),
        telegrams=st.integers(1, 3),
        polls=st.integers(0, 3),
    )
    def nearly_full(self, index: int, below_a: float, telegrams: int, polls: int) -> None:
        """The house just under the target on a charger's phase: less than a minimum left."""
        self._phase_at(index, self.site.config.fuse.target_a - below_a, telegrams, polls)

    @rule(
        index=st.integers(0, 1),
        ratio=st.sampled_from((1.3, 1.7)),
        spend=st.integers(2, 8),
        light_a=st.sampled_from((0.0, 2.0)),
        light=st.integers(1, 3),
        polls=st.integers(0, 3),
        below_a=st.sampled_from((4.2, 4.5, 5.0, 5.5)),
    )
    def spend_then_fill(
        self,
        index: int,
        ratio: float,
        spend: int,
        light_a: float,
        light: int,
        polls: int,
        below_a: float,
    ) -> None:
        """One episode: the phase over its rating (the car is cut, the budget runs down), a
        light house (the car resumes and draws less than offered), then nearly full."""
        rating_a, target_a = self.site.config.fuse.rating_a, self.site.config.fuse.target_a
        self._phase_at(index, ratio * rating_a, spend)
        self._phase_at(index, light_a, light, polls)
        self._phase_at(index, target_a - below_a, 2, polls)


SpentBudgetMachine.TestCase.settings = settings(
    ControlMachine.TestCase.settings, max_examples=100, stateful_step_count=30
)
TestSpentBudgetHold = SpentBudgetMachine.TestCase
