"""What a command may change, within the site file's bounds, and how the core is told.

A command never writes a register: it changes an *input* of the core. ``max_current_a`` lowers
a charger's maximum in the :class:`~loadbalancer.control.config.ControlConfig` the service
passes to ``decide`` (never above the site file's ``max_current_a``, which the site reader
already keeps within the fuse and the box); ``pause`` names the charger in ``Inputs.paused``
(the core sets it to 0, reason ``commanded_pause``); ``budget_kw`` replaces the capacity
tariff's budget (more than its margin, at most what the fuse lets through). A payload that is
not a value within the bounds is refused with the reason, and nothing changes.

Pure: no I/O here but :func:`load_persisted` and :func:`save_persisted` (``persist: true``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from loadbalancer.config import SiteConfig
from loadbalancer.control.config import ControlConfig
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.tariff.config import MAX_BUDGET_KW

#: a longer payload is refused unread (a number or ON/OFF is a few bytes)
MAX_PAYLOAD_BYTES = 32
PERSIST_FILE = "mqtt-commands.json"
ON, OFF = "ON", "OFF"


class CommandRefused(ValueError):
    """A command's payload is not a value within its bounds: the message says why."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """What commands changed: each value replaces the site file's until a restart (or for
    good with ``persist: true``)."""

    budget_kw: float | None = None
    max_current_a: Mapping[str, float] = field(default_factory=dict)
    paused: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, object]:
        return {
            "budget_kw": self.budget_kw,
            "max_current_a": dict(self.max_current_a),
            "paused": sorted(self.paused),
        }


@dataclass(frozen=True, slots=True)
class Bounds:
    """The lowest and highest value a number command takes, and its step (for Home Assistant)."""

    low: float
    high: float
    step: float


def max_current_bounds(site: SiteConfig, charger: str) -> Bounds:
    """Its minimum to the site file's maximum; the step is the box's, at least 0.1 A (a
    slider in milliamps helps nobody: the core rounds down to the box's step anyway)."""
    spec = next(c.spec for c in site.chargers if c.name == charger)
    return Bounds(spec.min_current_a, spec.max_current_a, max(spec.granularity_a, 0.1))


def budget_bounds(site: SiteConfig) -> Bounds:
    """More than the tariff's margin (something must be left to the cars), at most what the
    fuse lets through (above it the fuse binds, never the budget) and the site file's cap."""
    assert site.tariff is not None
    fuse = site.fuse
    fuse_kw = fuse.phases * (fuse.rating_a - fuse.margin_a) * NOMINAL_VOLTAGE_V / 1000
    low = math.floor(site.tariff.margin_kw * 10 + 1) / 10
    return Bounds(max(0.1, low), round(min(MAX_BUDGET_KW, fuse_kw), 1), 0.1)


def parse_number(payload: bytes, bounds: Bounds, unit: str) -> float:
    text = _text(payload)
    try:
        value = float(text)
    except ValueError:
        raise CommandRefused(f"{_shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise CommandRefused(f"{_shown(text)} is not a finite number")
    if not bounds.low <= value <= bounds.high:
        raise CommandRefused(
            f"{value:g} {unit} is outside {bounds.low:g}..{bounds.high:g} {unit} (the site file's "
            "bounds)"
        )
    return value


def parse_switch(payload: bytes) -> bool:
    text = _text(payload).upper()
    if text not in (ON, OFF):
        raise CommandRefused(f"{_shown(text)} is not ON or OFF")
    return text == ON


def _text(payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandRefused(f"{len(payload)} bytes: longer than any value ({MAX_PAYLOAD_BYTES})")
    try:
        return payload.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CommandRefused("not ASCII text") from None


def _shown(text: str) -> str:
    return repr(text) if text.isprintable() else "a value with control characters"


def control_with(control: ControlConfig, overrides: Overrides) -> ControlConfig:
    """The site's control settings with the commanded maximums (never above the site's)."""
    if not overrides.max_current_a:
        return control
    specs = tuple(
        replace(spec, max_current_a=min(spec.max_current_a, overrides.max_current_a[spec.name]))
        if spec.name in overrides.max_current_a
        else spec
        for spec in control.chargers
    )
    return replace(control, chargers=specs)


# ---- persist: true ------------------------------------------------------------------------------


def persist_path(state_dir: str) -> Path:
    return Path(state_dir) / PERSIST_FILE


def save_persisted(path: Path, overrides: Overrides) -> None:
    """Write the file anew (a temporary file renamed over it: never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mqtt-commands.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(overrides.to_json(), out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_persisted(path: Path, site: SiteConfig, allowed: tuple[str, ...]) -> tuple[Overrides, str]:
    """The kept commands, each checked again against today's site file (one that no longer
    fits is dropped); and what was found, in words (for the status line)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Overrides(), "none kept"
    except (OSError, ValueError) as exc:
        return Overrides(), f"{path}: not read ({exc}): the site file's values hold"
    kept = Overrides()
    dropped: list[str] = []
    names = {c.name for c in site.chargers}
    if not isinstance(raw, dict):
        return kept, f"{path}: not a JSON object: the site file's values hold"
    budget = raw.get("budget_kw")
    if budget is not None and "budget_kw" in allowed and site.tariff is not None:
        try:
            value = parse_number(str(budget).encode(), budget_bounds(site), "kW")
            kept = replace(kept, budget_kw=value)
        except CommandRefused as exc:
            dropped.append(f"budget_kw: {exc}")
    maxima = raw.get("max_current_a")
    if isinstance(maxima, dict) and "max_current_a" in allowed:
        found = {}
        for name, value in maxima.items():
            try:
                if name not in names:
                    raise CommandRefused("no such charger")
                bounds = max_current_bounds(site, name)
                found[name] = parse_number(str(value).encode(), bounds, "A")
            except CommandRefused as exc:
                dropped.append(f"max_current_a of {name}: {exc}")
        kept = replace(kept, max_current_a=found)
    paused = raw.get("paused")
    if isinstance(paused, list) and "pause" in allowed:
        kept = replace(kept, paused=frozenset(n for n in paused if n in names))
    words = f"kept from {path}: {json.dumps(kept.to_json())}"
    return kept, words + (f"; dropped {'; '.join(dropped)}" if dropped else "")
