"""Issue 19: the core's switching rules one by one, beside the reason table's two cases."""

from __future__ import annotations

from dataclasses import replace

from loadbalancer.control import ChargerRead, Reason, TariffInput
from loadbalancer.control.config import PhaseSwitchSpec
from tests.control.builders import at, config_of, ev, read, step

SWITCHING = config_of(replace(ev(), phase_switch=PhaseSwitchSpec(one_phase_on="L1")))
PLUGGED = {"ev": replace(read(0, status="B"), phase_count=3)}
#: L2 and L3 leave 4 A, L1 leaves 14 A (3x20A-gG, 19 A usable)
LOPSIDED = (5.0, 15.0, 15.0)


def test_a_tariff_budget_below_three_phases_but_above_one_switches_down() -> None:
    # 5 kW over a quarter hour, nothing used yet, the house 1.4 kW: 3.6 kW left, 4.1 kW needed
    tariff = TariffInput(5.0, 0.0, 900.0, 0.0)
    _, decision = step(SWITCHING, (2, 2, 2), PLUGGED, {"ev": at(0)}, tariff=tariff)
    assert decision.charger("ev").reason is Reason.PHASE_SWITCH_DOWN
    # over an hour the tariff plans runs at the minimum on three phases: no switch for it
    hourly = TariffInput(5.0, 0.0, 3600.0, 0.0)
    _, planned = step(SWITCHING, (2, 2, 2), PLUGGED, {"ev": at(0)}, tariff=hourly)
    assert planned.charger("ev").phase_count == 3
    roomy = TariffInput(8.0, 0.0, 900.0, 0.0)
    _, stays = step(SWITCHING, (2, 2, 2), PLUGGED, {"ev": at(0)}, tariff=roomy)
    assert stays.charger("ev").phase_count == 3
    tight = TariffInput(2.5, 0.0, 900.0, 0.0)  # 1.1 kW left: not even one phase fits
    _, none = step(SWITCHING, (2, 2, 2), PLUGGED, {"ev": at(0)}, tariff=tight)
    assert none.charger("ev").phase_count == 3


def test_no_switch_after_the_sessions_cap_and_a_new_session_after_unplugging() -> None:
    capped = replace(at(0), phase_count=3, phase_switches=5)
    _, decision = step(SWITCHING, LOPSIDED, PLUGGED, {"ev": capped})
    assert decision.charger("ev").reason is not Reason.PHASE_SWITCH_DOWN
    unplugged = {"ev": replace(read(0, status="A"), phase_count=3)}
    state, _ = step(SWITCHING, LOPSIDED, unplugged, {"ev": capped})
    assert state.chargers[0].phase_switches == 0


def test_no_switch_while_a_phase_is_over_or_the_box_refused_or_a_switch_is_under_way() -> None:
    # L2 at 20 A on the meter (over 19 A): no switch, even though one phase would fit
    _, over = step(SWITCHING, (5, 20, 15), PLUGGED, {"ev": at(0)})
    assert over.charger("ev").reason is not Reason.PHASE_SWITCH_DOWN
    failed = {"ev": replace(PLUGGED["ev"], phase_switch_failed=True)}
    state, refused = step(SWITCHING, LOPSIDED, failed, {"ev": replace(at(0), phase_count=1)})
    assert refused.charger("ev").phase_count == 3 and state.chargers[0].phase_count == 3
    # decided 1, the box still reads 3: counted on all three phases, nothing decided anew
    pending = replace(at(0), phase_count=1, phase_switches=1)
    state, waiting = step(SWITCHING, LOPSIDED, PLUGGED, {"ev": pending})
    assert waiting.charger("ev").phases == ("L1", "L2", "L3")
    assert state.chargers[0].phase_switches == 1


def test_a_box_on_one_phase_is_counted_on_its_grid_phase_with_its_largest_current() -> None:
    on_one: dict[str, ChargerRead] = {"ev": replace(read(12, phases=1), phase_count=1)}
    memory = replace(at(12), phase_count=1)
    _, decision = step(SWITCHING, LOPSIDED, on_one, {"ev": memory})
    outcome = decision.charger("ev")
    assert outcome.phases == ("L1",) and outcome.phase_count == 1
    # its 12 A are not the house's: L1's house is 5 A, what it may take is 14 A
    assert decision.house_a["L1"] == 5.0 and outcome.setpoint_a >= 12
