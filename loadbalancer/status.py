"""What the service is doing right now, as one frozen :class:`Status`: per phase the meter,
the house, the cars and what is allowed; per charger its limit, what it draws and the reason of
its last decision in words; the meter's and the chargers' health; readiness and liveness.

A pure function of the service's state and the time (:func:`status_of`): no I/O, no clock. The
HTTP status page (:mod:`loadbalancer.http`) serves it; other outputs (MQTT) can take the same.
The reason "in words" is the one ``loadbalancer log --explain`` prints
(:data:`loadbalancer.review.explain.REASON_MEANINGS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from loadbalancer import __version__
from loadbalancer.electric import PHASES
from loadbalancer.link_state import Episode
from loadbalancer.review.explain import REASON_MEANINGS

if TYPE_CHECKING:
    from loadbalancer.link import ChargerLink
    from loadbalancer.service import Service

#: the control loop counts as running (``/livez``) while its last step is at most this old
#: (it steps at least once a second; systemd's watchdog is pinged from the same step)
LIVE_WITHIN_S = 5.0

#: IEC 61851 states as people say them
STATE_WORDS: Mapping[str, str] = {
    "A": "no car",
    "B": "car connected, not charging",
    "C": "charging",
    "D": "charging (ventilation asked)",
    "E": "error: no power to the car (E)",
    "F": "charger fault (F)",
}

#: a limit refused or not applied makes a charger not controllable
_UNCONTROLLED = frozenset({Episode.WRITE_REFUSED, Episode.NOT_APPLIED})


@dataclass(frozen=True, slots=True)
class PhaseStatus:
    """One grid phase; ``allowed_a`` is what the chargers may draw in total on it, so house +
    allowed is the phase's limit now (rating − margin − any reserve)."""

    phase: str
    meter_a: float | None
    house_a: float | None
    cars_a: float
    allowed_a: float | None
    limit_a: float
    rating_a: float


@dataclass(frozen=True, slots=True)
class ChargerStatus:
    name: str
    online: bool
    #: controllable: online, and it takes and applies its limit
    controlled: bool
    state: str | None
    state_words: str
    limit_a: float | None
    measured_a: tuple[float | None, ...]
    phases: tuple[str, ...]
    min_current_a: float
    max_current_a: float
    reason: str | None
    reason_words: str | None


@dataclass(frozen=True, slots=True)
class MeterStatus:
    age_s: float | None
    stale_after_s: float
    #: a usable reading no older than ``stale_after_s``
    fresh: bool
    #: the stale rule fired: every charger at the safe current
    fallback: bool
    valid_telegrams: int
    rejected_telegrams: int


@dataclass(frozen=True, slots=True)
class Status:
    version: str
    site: str
    fuse: str
    shadow: bool
    uptime_s: float
    decisions: int
    #: the control loop runs (``/livez``)
    live: bool
    #: the meter is fresh and every charger controllable (``/readyz``)
    ready: bool
    #: why not ready, in words (empty when ready)
    not_ready: tuple[str, ...]
    safe_current_a: float
    meter: MeterStatus
    phases: tuple[PhaseStatus, ...]
    chargers: tuple[ChargerStatus, ...]
    #: the capacity tariff's running interval (:func:`tariff_status`); None without a tariff
    tariff: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``/status`` serves)."""
        return asdict(self)


def status_of(service: Service, now_s: float) -> Status:
    """The status of ``service`` at ``now_s`` (on the service's own clock)."""
    site = service.site
    meter = _meter(service, now_s)
    chargers = tuple(_charger(service, link) for link in service.links)
    not_ready = []
    if not meter.fresh:
        not_ready.append(
            "meter stale: no reading yet"
            if meter.age_s is None
            else f"meter stale: the last reading is {meter.age_s:.1f} s old "
            f"(stale after {meter.stale_after_s:g} s)"
        )
    not_ready += [
        f"charger {c.name} {'not controllable' if c.online else 'offline'}"
        for c in chargers
        if not c.controlled
    ]
    uptime_s = now_s - service.started_s
    # before its first step the loop counts from the start
    last_step_s = service.started_s if service.last_step_s is None else service.last_step_s
    return Status(
        version=__version__,
        site=site.file,
        fuse=site.fuse.name,
        shadow=service.shadow,
        uptime_s=round(uptime_s, 3),
        decisions=service.decisions,
        live=now_s - last_step_s <= LIVE_WITHIN_S,
        ready=not not_ready,
        not_ready=tuple(not_ready),
        safe_current_a=site.control.safe_current_a,
        meter=meter,
        phases=_phases(service),
        chargers=chargers,
        tariff=tariff_status(service, now_s),
    )


def tariff_status(service: Service, now_s: float) -> dict[str, Any] | None:
    """The capacity tariff's running interval as the last decision saw it: the decision
    record's ``tariff`` object (``budget_kw``, ``interval_start``, ``energy_kwh_so_far``,
    ``cars_kw``, ``needed_kw``) with the profile's name and ``interval_s``; ``limited`` is false
    (and those fields null) while the interval is not limited (a free one, or no register
    reading yet). None: no tariff configured."""
    intake = service.tariff
    if intake is None:
        return None
    out: dict[str, Any] = {
        "profile": intake.profile.name,
        "interval_s": intake.profile.interval_s,
        "limited": False,
        **dict.fromkeys(("budget_kw", "interval_start", "energy_kwh_so_far", "cars_kw")),
        "needed_kw": {},
    }
    given, decision = service.last_tariff, service.last_decision
    if given is not None and decision is not None:
        phases = service.site.fuse.phases
        out |= {"limited": True, **intake.decision_fields(given, decision, phases, now_s)}
    return out


def _meter(service: Service, now_s: float) -> MeterStatus:
    intake = service.intake
    age_s = intake.age_s(now_s)
    stale_after_s = service.site.meter.stale_after_s
    return MeterStatus(
        age_s=None if age_s is None else round(age_s, 3),
        stale_after_s=stale_after_s,
        fresh=age_s is not None and age_s <= stale_after_s and not intake.meter_stale,
        fallback=intake.meter_stale,
        valid_telegrams=intake.valid_telegrams,
        rejected_telegrams=intake.rejected_telegrams,
    )


def _phases(service: Service) -> tuple[PhaseStatus, ...]:
    fuse = service.site.fuse
    decision = service.last_decision
    cars = dict.fromkeys(PHASES, 0.0)
    if decision is not None:
        for charger in decision.chargers:
            for phase, drawn_a in zip(charger.phases, charger.measured_a, strict=False):
                if phase in cars and drawn_a == drawn_a:  # NaN: not available
                    cars[phase] += drawn_a
    out = []
    for phase in PHASES[: fuse.phases]:
        out.append(
            PhaseStatus(
                phase=phase,
                meter_a=None if decision is None else decision.meter_a.get(phase),
                house_a=None if decision is None else decision.house_a.get(phase),
                cars_a=round(cars[phase], 3),
                allowed_a=None if decision is None else decision.allowed_a.get(phase),
                limit_a=fuse.rating_a - fuse.margin_a,
                rating_a=fuse.rating_a,
            )
        )
    return tuple(out)


def _charger(service: Service, link: ChargerLink) -> ChargerStatus:
    decision = service.last_decision
    outcome = (
        next((c for c in decision.chargers if c.name == link.name), None)
        if decision is not None
        else None
    )
    state = link.read.status if link.read is not None and link.online else None
    measured: tuple[float | None, ...] = ()
    if link.read is not None and link.online:
        measured = tuple(None if a != a else round(a, 3) for a in link.read.measured_a)
    if not link.online:
        words = "offline" if link.reach.value == "offline" else "not reached yet"
    else:
        words = STATE_WORDS.get(state or "", "state unknown")
    reason = None if outcome is None else str(outcome.reason)
    return ChargerStatus(
        name=link.name,
        online=link.online,
        controlled=link.online and not link.episodes & _UNCONTROLLED,
        state=state,
        state_words=words,
        limit_a=None if outcome is None else outcome.setpoint_a,
        measured_a=measured,
        phases=link.config.spec.phases,
        min_current_a=link.config.spec.min_current_a,
        max_current_a=link.config.spec.max_current_a,
        reason=reason,
        reason_words=None if reason is None else REASON_MEANINGS.get(reason),
    )
