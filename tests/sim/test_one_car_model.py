"""One car model (issue 14 item 7): the emulated box's car, the simulation's ground truth and
the control tests' house-and-cars model all draw by :func:`simbox.car_draw_a`."""

from __future__ import annotations

import pytest

from loadbalancer.chargers.simbox import SimulatedCar, car_draw_a
from loadbalancer.electric import IEC_MIN_CURRENT_A
from loadbalancer.sim import figures
from loadbalancer.sim.scenario import CarPlan
from tests.control.sim import Car

OFFERS_A = (0.0, 5.9, 6.0, 6.1, 10.0, 16.0, 31.9, 40.0)
CARS = ((16.0, 0.3), (32.0, 0.2), (10.0, 0.0), (6.0, 1.0))


@pytest.mark.parametrize(("max_current_a", "shortfall_a"), CARS)
def test_the_simulation_draws_what_the_emulated_car_draws(
    max_current_a: float, shortfall_a: float
) -> None:
    plan = CarPlan("carport", max_current_a=max_current_a, shortfall_a=shortfall_a)
    car = SimulatedCar(max_current_a=max_current_a, shortfall_a=shortfall_a)
    for offer_a in OFFERS_A:
        assert figures.car_draw_a(plan, offer_a) == car.draw_a(offer_a)


@pytest.mark.parametrize(("max_current_a", "shortfall_a"), CARS)
def test_the_control_tests_car_is_the_model_without_its_shortfall(
    max_current_a: float, shortfall_a: float
) -> None:
    for offer_a in OFFERS_A:
        car = Car(limit_a=max_current_a)
        car.follow(offer_a)
        assert car.draw_a == car_draw_a(offer_a, max_current_a, 0.0)
        unplugged = Car(limit_a=max_current_a, plugged=False)
        unplugged.follow(offer_a)
        assert unplugged.draw_a == SimulatedCar(plugged=False).draw_a(offer_a) == 0.0


def test_the_model_charges_from_the_iec_minimum_up_to_the_cars_limit() -> None:
    assert car_draw_a(IEC_MIN_CURRENT_A - 0.1, 16.0, 0.3) == 0.0
    assert car_draw_a(IEC_MIN_CURRENT_A, 16.0, 0.3) == pytest.approx(5.7)
    assert car_draw_a(20.0, 16.0, 0.3) == pytest.approx(15.7)
    assert car_draw_a(10.0, 16.0, 0.0, min_current_a=12.0) == 0.0
