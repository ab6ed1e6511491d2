"""Which broker the MQTT tests run against: one kind for the whole run (tests/mqtt/broker.py's
``broker_kind``: ``LB_TEST_BROKER``, else Mosquitto where installed, else the Python broker),
and the tests marked ``both_brokers`` once per kind: a representative few (discovery, retained
state, the last will, a command, the login) keep the Python broker honest in every run without
a second pass of the whole suite (``LB_TEST_BROKER=python pytest tests/mqtt`` is that pass)."""

from __future__ import annotations

import os

import pytest

from tests.mqtt.broker import BROKER_KINDS, default_kind

BOTH = "both_brokers"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{BOTH}: run against Mosquitto and the Python broker")


def kinds_for_both() -> list[str]:
    forced = os.environ.get("LB_TEST_BROKER", "")
    if forced in BROKER_KINDS:
        return [forced]
    return sorted({default_kind(), "python"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker(BOTH) is None:
        return
    metafunc.fixturenames.append("broker_of_test")
    metafunc.parametrize("broker_of_test", kinds_for_both(), indirect=True)


@pytest.fixture
def broker_of_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The broker kind of a ``both_brokers`` test, for every broker it starts."""
    kind: str = request.param
    monkeypatch.setenv("LB_TEST_BROKER", kind)
    return kind
