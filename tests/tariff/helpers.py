"""Shared by the tariff tests: local Stockholm times as interval starts."""

from __future__ import annotations

from datetime import datetime

from loadbalancer.tariff.calendar import STOCKHOLM


def local_s(year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> int:
    """Seconds since the epoch of a Stockholm wall-clock time (``fold=1``: the second 02:xx of
    the October change)."""
    when = datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM, fold=fold)
    return int(when.timestamp())
