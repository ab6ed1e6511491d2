"""``ready_by``: a car that must have been given some energy by a local time (issue 15 item 4).

In the site file, under ``tariff:``, per charger by name::

    tariff:
      profile: ellevio
      budget_kw: 5
      ready_by:
        carport: {time: "07:00", energy_kwh: 20}

The service counts the energy delivered to that charger since its car was plugged in, or since
the last such time passed (the currents it measures, at 230 V per phase, over the monotonic
clock), and asks the core for the power still needed: what is missing divided by the time left
to the next ``time`` on the Europe/Stockholm clock (:func:`needed_kw`). That charger may then
take the house above the tariff's budget; the fuse still limits it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from loadbalancer.tariff.calendar import STOCKHOLM
from loadbalancer.yamlcheck import YamlReader, kind_of

READY_BY_KEYS = {"time", "energy_kwh"}
#: more than any car's battery
MAX_ENERGY_KWH = 200.0
#: the time left is counted as at least this (a deadline a moment away asks for a finite power)
MIN_LEFT_S = 60.0
_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class ReadyBy:
    """The car on this charger must have been given ``energy_kwh`` by ``at`` (local time)."""

    at: time
    energy_kwh: float


def read_ready_by(
    reader: YamlReader, value: object, charger_names: Collection[str]
) -> dict[str, ReadyBy]:
    """``tariff.ready_by`` validated: a mapping from charger names to ``{time, energy_kwh}``."""
    raw = reader.mapping(value, "tariff.ready_by", set(charger_names))
    found = {}
    for name, entry in raw.items():
        path = f"tariff.ready_by.{name}"
        fields = reader.mapping(entry, path, READY_BY_KEYS, READY_BY_KEYS)
        text = fields["time"]
        match = _HH_MM.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            shown = repr(text[:20]) if isinstance(text, str) else kind_of(text)
            raise reader.fail(
                f"{path}.time", f'{shown} is not a local time HH:MM (write it quoted: "07:00")'
            )
        at = time(int(match[1]), int(match[2]))
        energy = reader.number(fields["energy_kwh"], f"{path}.energy_kwh", 0.1, MAX_ENERGY_KWH)
        found[name] = ReadyBy(at, energy)
    return found


def next_deadline_s(t_s: float, at: time) -> float:
    """The next moment after ``t_s`` (wall clock, seconds since the epoch) that the Stockholm
    clock shows ``at``; on the day of a change, a time the clock skips is taken an hour later and
    a time it shows twice is its first."""
    now = datetime.fromtimestamp(t_s, STOCKHOLM)
    day = now.date()
    while True:
        local = datetime.combine(day, at, tzinfo=STOCKHOLM)
        # a skipped time (02:30 on the March day) normalises through UTC to the hour after
        deadline_s = local.timestamp()
        if deadline_s > t_s:
            return deadline_s
        day += timedelta(days=1)


def needed_kw(remaining_kwh: float, left_s: float) -> float:
    """The power that gives ``remaining_kwh`` in ``left_s``."""
    if remaining_kwh <= 0:
        return 0.0
    return remaining_kwh * 3600.0 / max(left_s, MIN_LEFT_S)
