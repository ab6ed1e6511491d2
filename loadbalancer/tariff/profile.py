"""A capacity-tariff profile: what the grid operator bills on, as data (never code).

A profile is a bundled name (``profiles/tariffs/NAME.yaml``) or a file; every problem is a
``ConfigError`` naming the file and the key path, e.g.
``ellevio.yaml: components[0].hours[0]: '22-30' is not an hour range HH-HH``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from loadbalancer.resources import find_profile
from loadbalancer.yamlcheck import YamlReader, parse_yaml

#: the interval lengths operators bill on: the hourly mean power, or the quarter-hour
INTERVALS_S = (3600, 900)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True, slots=True)
class WeightWindow:
    """Hours (local, by the interval's start) that count at another weight (Ellevio's night)."""

    hours: frozenset[int]
    weight: float


@dataclass(frozen=True, slots=True)
class Component:
    """One billed part of the tariff: its own N highest peaks inside its windows."""

    name: str
    #: 1..12
    months: frozenset[int]
    #: 0 = Monday .. 6 = Sunday
    weekdays: frozenset[int]
    #: local hours 0..23, by the start of the interval
    hours: frozenset[int]
    weight: float = 1.0
    #: public holidays (the profile's country) do not count, like a weekend day
    holidays_excluded: bool = False
    #: further days that never count, as (month, day): Christmas Eve is (12, 24)
    days_excluded: frozenset[tuple[int, int]] = frozenset()
    #: hours inside ``hours`` that count at another weight; the first window that holds wins
    reweighted: tuple[WeightWindow, ...] = ()
    price_per_kw: float | None = None
    #: counts only the intervals no other component counts (Mälarenergi's low-load time)
    rest: bool = False

    def weight_at(self, hour: int) -> float:
        for window in self.reweighted:
            if hour in window.hours:
                return window.weight
        return self.weight

    def counts_on(self, day: date, is_holiday: bool) -> bool:
        """Whether an interval on this local day may count (the hour is checked apart)."""
        if day.month not in self.months or day.weekday() not in self.weekdays:
            return False
        if (day.month, day.day) in self.days_excluded:
            return False
        return not (self.holidays_excluded and is_holiday)


@dataclass(frozen=True, slots=True)
class TariffProfile:
    name: str
    #: where the rules came from (an operator's page, a price list)
    source: str
    #: the day the rules were read there
    read_on: date
    interval_s: int
    #: the billed figure is the mean of this many highest peaks
    peaks_n: int
    #: the N peaks must fall on different local days (the highest of each day competes)
    different_days: bool
    components: tuple[Component, ...]
    #: country code for the ``holidays`` library ("SE"), None when no component needs it
    holidays: str | None = None
    #: a typical price for the estimate (kr per kW and month), None when unknown
    price_per_kw: float | None = None

    @property
    def interval_h(self) -> float:
        return self.interval_s / 3600.0


def load_tariff_profile(name_or_path: str) -> TariffProfile:
    """A bundled tariff profile by name (``ellevio``) or a profile file by path."""
    found = find_profile("tariffs", name_or_path)
    return parse_tariff_profile(found.text, found.file, found.stem)


def parse_tariff_profile(text: str, file: str, stem: str) -> TariffProfile:
    return _Reader(file).profile(parse_yaml(text, file), stem)


_TOP = {
    "name",
    "source",
    "read_on",
    "interval_min",
    "peaks",
    "different_days",
    "holidays",
    "price_per_kw",
    "components",
}
_COMPONENT = {
    "name",
    "months",
    "weekdays",
    "hours",
    "weight",
    "holidays_excluded",
    "days_excluded",
    "reweighted",
    "price_per_kw",
    "rest",
}
_HOUR_RANGE = re.compile(r"(\d{1,2})-(\d{1,2})")
_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")


class _Reader(YamlReader):
    def profile(self, data: object, stem: str) -> TariffProfile:
        top = self.mapping(data, "", _TOP, {"source", "read_on", "interval_min", "components"})
        name = self.label(top.get("name", stem), "name")
        read_on = top["read_on"]
        if not isinstance(read_on, date):
            raise self.fail("read_on", f"expected a date YYYY-MM-DD, got {read_on!r}")
        interval_min = self.integer(top["interval_min"], "interval_min", 15, 60)
        if interval_min * 60 not in INTERVALS_S:
            raise self.fail("interval_min", f"{interval_min} is neither 60 nor 15")
        raw_components = self.items(top["components"], "components")
        if not raw_components:
            raise self.fail("components", "expected at least one component")
        components = tuple(
            self.component(raw, f"components[{i}]") for i, raw in enumerate(raw_components)
        )
        if sum(c.rest for c in components) > 1:
            raise self.fail("components", "only one component may be the rest")
        names = [c.name for c in components]
        for i, cname in enumerate(names):
            if cname in names[:i]:
                raise self.fail(f"components[{i}].name", f"{cname!r} is named twice")
        holidays = top.get("holidays")
        if holidays is not None:
            holidays = self.text(holidays, "holidays")
            if not re.fullmatch(r"[A-Z]{2}", holidays):
                raise self.fail("holidays", f"{holidays!r} is not a country code like 'SE'")
        if holidays is None and any(c.holidays_excluded for c in components):
            raise self.fail("holidays", "missing: a component excludes holidays")
        price = top.get("price_per_kw")
        return TariffProfile(
            name=name,
            source=self.text(top["source"], "source"),
            read_on=read_on,
            interval_s=interval_min * 60,
            peaks_n=self.integer(top.get("peaks", 1), "peaks", 1, 10),
            different_days=self.flag(top.get("different_days", False), "different_days"),
            components=components,
            holidays=holidays,
            price_per_kw=None if price is None else self.number(price, "price_per_kw", 0, 10_000),
        )

    def component(self, value: object, path: str) -> Component:
        raw = self.mapping(value, path, _COMPONENT, {"name"})
        reweighted = tuple(
            self.window(item, f"{path}.reweighted[{i}]")
            for i, item in enumerate(self.items(raw.get("reweighted", []), f"{path}.reweighted"))
        )
        price = raw.get("price_per_kw")
        return Component(
            name=self.label(raw["name"], f"{path}.name"),
            months=self.named_set(raw.get("months", ["jan-dec"]), f"{path}.months", MONTHS, 1),
            weekdays=self.named_set(raw.get("weekdays", ["mon-sun"]), f"{path}.weekdays", WEEKDAYS),
            hours=self.hours(raw.get("hours", ["00-24"]), f"{path}.hours"),
            weight=self.number(raw.get("weight", 1.0), f"{path}.weight", 0.01, 10),
            holidays_excluded=self.flag(
                raw.get("holidays_excluded", False), f"{path}.holidays_excluded"
            ),
            days_excluded=self.month_days(raw.get("days_excluded", []), f"{path}.days_excluded"),
            reweighted=reweighted,
            price_per_kw=None if price is None else self.number(price, f"{path}.price_per_kw", 0),
            rest=self.flag(raw.get("rest", False), f"{path}.rest"),
        )

    def window(self, value: object, path: str) -> WeightWindow:
        raw = self.mapping(value, path, {"hours", "weight"}, {"hours", "weight"})
        return WeightWindow(
            self.hours(raw["hours"], f"{path}.hours"),
            self.number(raw["weight"], f"{path}.weight", 0.01, 10),
        )

    def hours(self, value: object, path: str) -> frozenset[int]:
        """A list of ``HH-HH`` ranges, end exclusive, wrapping past midnight (``22-06``)."""
        result: set[int] = set()
        for i, item in enumerate(self.items(value, path)):
            match = _HOUR_RANGE.fullmatch(item) if isinstance(item, str) else None
            first, end = (int(match[1]), int(match[2])) if match else (-1, -1)
            if not (0 <= first <= 23 and 0 <= end <= 24 and first != end):
                raise self.fail(f"{path}[{i}]", f"{item!r} is not an hour range HH-HH (00-24)")
            result |= _span(first, end, 24)
        return frozenset(result)

    def named_set(
        self, value: object, path: str, names: tuple[str, ...], first: int = 0
    ) -> frozenset[int]:
        """A list of names (``mon``) and ranges (``mon-fri``, ``nov-mar``, wrapping)."""
        result: set[int] = set()
        for i, item in enumerate(self.items(value, path)):
            parts = item.split("-") if isinstance(item, str) else []
            if not 1 <= len(parts) <= 2 or any(p not in names for p in parts):
                raise self.fail(
                    f"{path}[{i}]", f"{item!r} is not a name or range of: {', '.join(names)}"
                )
            low, high = names.index(parts[0]), names.index(parts[-1])
            result |= {n + first for n in _span(low, high + 1, len(names))}
        if not result:
            raise self.fail(path, "expected at least one entry")
        return frozenset(result)

    def month_days(self, value: object, path: str) -> frozenset[tuple[int, int]]:
        result: set[tuple[int, int]] = set()
        for i, item in enumerate(self.items(value, path)):
            match = _MONTH_DAY.fullmatch(item) if isinstance(item, str) else None
            if match is None or not _valid_month_day(int(match[1]), int(match[2])):
                raise self.fail(f"{path}[{i}]", f"{item!r} is not a day MM-DD")
            result.add((int(match[1]), int(match[2])))
        return frozenset(result)


def _span(first: int, end: int, size: int) -> set[int]:
    """``first`` up to ``end`` (exclusive) on a ring of ``size``: 22..6 wraps past midnight."""
    if first < end:
        return set(range(first, end))
    return set(range(first, size)) | set(range(0, end))


def _valid_month_day(month: int, day: int) -> bool:
    try:
        date(2024, month, day)  # a leap year: 02-29 is a day
    except ValueError:
        return False
    return True


def describe(profile: TariffProfile) -> str:
    """One line for ``check``."""
    every = "hour" if profile.interval_s == 3600 else "quarter-hour"
    days = ", on different days" if profile.different_days else ""
    parts = ", ".join(c.name for c in profile.components)
    return f"{profile.name}: mean of the {profile.peaks_n} highest {every} peaks{days} ({parts})"
