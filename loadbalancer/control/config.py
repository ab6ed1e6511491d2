"""What the control core is told about the site: chargers and control timing (plain, frozen).

A later issue builds these from the site YAML; the checks here only refuse values the core
cannot work with. Defaults and why: docs/control.md §Defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from loadbalancer.control.fuse import FuseProfile
from loadbalancer.electric import IEC_MIN_CURRENT_A, PHASES

#: set-point resolutions chargers take: whole amps, deciamps, milliamps
GRANULARITIES_A: tuple[float, ...] = (1.0, 0.1, 0.001)


@dataclass(frozen=True, slots=True)
class PhaseSwitchSpec:
    """A box whose firmware switches between one and three phases (docs/phase-switching.md):
    ``mode`` auto (the core decides, :mod:`.phases`), 1p or 3p (held there); the grid phase
    that carries its one-phase output; how long three phases must fit before a switch up; the
    most switches in one session (plug-in to unplug)."""

    mode: str = "auto"
    one_phase_on: str = "L1"
    up_after_s: float = 300.0
    max_per_session: int = 5

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "1p", "3p") or self.one_phase_on not in PHASES:
            raise ValueError("phase switching: mode auto, 1p or 3p and one_phase_on L1..L3")
        if not (
            math.isfinite(self.up_after_s) and self.up_after_s >= 0 and self.max_per_session >= 0
        ):
            raise ValueError("phase switching: up_after_s and max_per_session must be >= 0")


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    """One wallbox. ``phases``: the grid phase wired to the charger's phase 1..n."""

    name: str
    phases: tuple[str, ...]
    max_current_a: float
    min_current_a: float = IEC_MIN_CURRENT_A
    priority: int = 1
    granularity_a: float = 1.0
    failsafe_current_a: float = IEC_MIN_CURRENT_A
    #: the most the box itself can be set to (its profile's set-point maximum): before the first
    #: write, or in its own fallback, a car may draw that much, above ``max_current_a``
    box_max_current_a: float | None = None
    #: 1p/3p switching through the box's firmware (None: the box stays as wired)
    phase_switch: PhaseSwitchSpec | None = None

    def __post_init__(self) -> None:
        box_max = self.box_max_current_a if self.box_max_current_a is not None else 0.0
        if not _finite(self.max_current_a, self.min_current_a, self.failsafe_current_a, box_max):
            raise ValueError(f"charger {self.name}: currents must be finite numbers")
        if not self.phases or len(set(self.phases)) != len(self.phases):
            raise ValueError(f"charger {self.name}: phases must be distinct and not empty")
        if any(phase not in PHASES for phase in self.phases):
            raise ValueError(f"charger {self.name}: phases must be among {PHASES}")
        if self.granularity_a not in GRANULARITIES_A:
            raise ValueError(f"charger {self.name}: granularity_a must be one of {GRANULARITIES_A}")
        if not 0 < self.min_current_a <= self.max_current_a:
            raise ValueError(f"charger {self.name}: needs 0 < min_current_a <= max_current_a")
        steps = self.min_current_a / self.granularity_a
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"charger {self.name}: min_current_a is not a multiple of granularity")
        if self.failsafe_current_a < 0:
            raise ValueError(f"charger {self.name}: failsafe_current_a must be >= 0")
        if self.phase_switch is not None and self.phase_switch.one_phase_on not in self.phases:
            raise ValueError(f"charger {self.name}: one_phase_on must be one of its phases")

    @property
    def plausible_max_a(self) -> float:
        """The most this charger can really draw: its installation maximum or, if higher, what
        the box itself can be set to (the base of the plausibility gate's bound)."""
        return max(self.max_current_a, self.box_max_current_a or 0.0)

    @property
    def grid_phase_indices(self) -> tuple[int, ...]:
        """The grid phases (0 = L1) in charger phase order."""
        return tuple(PHASES.index(phase) for phase in self.phases)


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """Everything ``decide`` needs besides its inputs."""

    fuse: FuseProfile
    chargers: tuple[ChargerSpec, ...]
    #: per charger on meter loss: the lowest offer a car takes (IEC 61851-1)
    safe_current_a: float = IEC_MIN_CURRENT_A
    #: headroom must last this long before a raise: seen on two 10 s telegrams
    ramp_up_delay_s: float = 10.0
    #: a raise smaller than this waits for more headroom (a deciamp charger is not rewritten
    #: for every tenth of an amp the noise leaves)
    min_raise_a: float = 1.0
    #: a paused charger resumes after its minimum has fitted this long (two telegrams); each
    #: pause within ``pause_memory_s`` doubles it, up to ``resume_delay_max_s``
    resume_delay_s: float = 20.0
    #: the longest wait before a resume, however often the charger was paused (never less
    #: than ``resume_delay_s``)
    resume_delay_max_s: float = 60.0
    #: how long a pause counts towards the doubling of the resume delay (pauses per hour)
    pause_memory_s: float = 3600.0
    #: no valid telegram this long means the meter is stale: two lost 10 s telegrams and a margin
    stale_after_s: float = 25.0
    #: room needed above the minimum before a resume: none by default, the hold at the
    #: minimum within the fuse's budget is the cushion for noise around the cut point
    resume_margin_a: float = 0.0
    #: after a set-point change a car may take this long to follow: 5 s PWM + 10 s EV (§6)
    ev_response_allowance_s: float = 15.0
    #: a charger read older than this counts as offline (several 2 s polls missed)
    charger_stale_after_s: float = 10.0
    #: a car counts as drawing less than offered below its offer minus this (evcc#14417 noise)
    follow_tolerance_a: float = 1.0
    #: a car drawing less is still offered this much above its draw (max_increase_step_a, §6)
    demand_headroom_a: float = 2.0
    #: a hold at the minimum must leave budget for this long: the time until the next telegram
    #: can end it (the telegram period; the site loader sets it from meter.telegram_period_s)
    hold_horizon_s: float = 10.0

    #: a hold at the minimum that takes a phase above its rating (not noise within the margin
    #: but a load) lasts at most this long: a spike (< 60 s) is ridden through, a
    #: lasting load pauses the charger and leaves the budget for the next spike
    spike_hold_s: float = 60.0
    #: past ``spike_hold_s`` such a hold goes on only while the budget used stays below this
    #: share of it: the rest is kept for the next spike (a kettle on a full phase needs most)
    long_hold_budget_ratio: float = 0.4
    #: when not every car's minimum fits, a running car keeps its share this long before it
    #: pauses for a car that has waited (share rotation, :mod:`.rotate`; None: no rotation,
    #: the paused ones wait). A cut for the fuse never waits for it.
    min_share_hold_s: float | None = 900.0

    def __post_init__(self) -> None:
        numbers = (getattr(self, f.name) for f in fields(self))
        if not _finite(*(v for v in numbers if isinstance(v, float | int))):
            raise ValueError("control timings and currents must be finite numbers")
        names = [charger.name for charger in self.chargers]
        if len(set(names)) != len(names):
            raise ValueError("charger names must be unique")
        for charger in self.chargers:
            if any(phase not in self.fuse.phase_names for phase in charger.phases):
                raise ValueError(f"charger {charger.name}: a phase the fuse does not have")
        if self.safe_current_a < 0 or self.stale_after_s <= 0:
            raise ValueError("safe_current_a must be >= 0 and stale_after_s > 0")
        if min(self.ramp_up_delay_s, self.resume_delay_s, self.resume_margin_a) < 0:
            raise ValueError("delays and margins must be >= 0")
        if not 0 <= self.long_hold_budget_ratio <= 1 or self.spike_hold_s < 0:
            raise ValueError("long_hold_budget_ratio must be in 0..1 and spike_hold_s >= 0")
        if self.min_share_hold_s is not None and self.min_share_hold_s < 0:
            raise ValueError("min_share_hold_s must be >= 0")
        if self.resume_delay_max_s < 0 or self.pause_memory_s < 0:
            raise ValueError("resume_delay_max_s and pause_memory_s must be >= 0")


#: every default of :class:`ControlConfig` by field name: the site loader's value for a key the
#: site file leaves out (each default is written once, in the class)
_DEFAULTS: dict[str, float] = {
    f.name: f.default for f in fields(ControlConfig) if isinstance(f.default, float)
}


def control_default(name: str) -> float:
    """The default of the :class:`ControlConfig` field ``name`` (a ``KeyError`` if it has none)."""
    return _DEFAULTS[name]


def _finite(*values: float) -> bool:
    return all(math.isfinite(value) for value in values)
