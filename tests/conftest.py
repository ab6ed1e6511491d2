"""Shared test helpers: where the captured telegrams live; hypothesis's draws fixed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.control.fixed_draws import fixed_constants

TELEGRAMS = Path(__file__).parent / "fixtures" / "telegrams"


@pytest.fixture
def telegram_dir() -> Path:
    return TELEGRAMS


@pytest.fixture(autouse=True)
def _same_examples_whatever_ran_before() -> Iterator[None]:
    """Every hypothesis test draws the same examples alone, on a worker of ``-n 2`` and in the
    whole suite (tests/control/fixed_draws.py says why they did not)."""
    with fixed_constants():
        yield
