"""Shared test helpers: where the captured telegrams live."""

from __future__ import annotations

from pathlib import Path

import pytest

TELEGRAMS = Path(__file__).parent / "fixtures" / "telegrams"


@pytest.fixture
def telegram_dir() -> Path:
    return TELEGRAMS
