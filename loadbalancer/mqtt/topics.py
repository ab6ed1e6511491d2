"""The topics of one site and what goes on them: the service's state (from the status snapshot
:func:`loadbalancer.status.status_of`) as retained plain values, one topic each.

Under ``base_topic``: ``status`` (``online``/``offline``, the last will); ``meter/age_s``,
``meter/stale``, ``fallback``; per phase ``phase/l1/{meter_a,house_a,allowed_a}``; per charger
``charger/<id>/{limit_a,measured_a,power_w,state,reason,reason_code,online,limiting}``, and the
settings commands change: ``charger/<id>/max_current_a``, ``charger/<id>/pause``,
``budget_kw`` (a command goes to the same topic with ``/set``). Numbers are plain text, ``None``
where unknown (Home Assistant shows it as unknown); binary values are ``ON``/``OFF``.
"""

from __future__ import annotations

from collections.abc import Mapping

from loadbalancer.config import SiteConfig
from loadbalancer.control.reasons import Reason
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.mqtt.commands import OFF, ON, Overrides
from loadbalancer.mqtt.settings import MqttConfig, topic_id
from loadbalancer.status import Status

#: Home Assistant keeps at most 255 characters of a state
MAX_STATE_CHARS = 255
PHASE_VALUES = ("meter_a", "house_a", "allowed_a")
CHARGER_VALUES = (
    "limit_a",
    "measured_a",
    "power_w",
    "state",
    "reason",
    "reason_code",
    "online",
    "limiting",
)
#: the reasons for which the balancer holds a car below what it could take
LIMITING = frozenset(
    {
        Reason.OVERLOAD_CUT,
        Reason.SHARE_CUT,
        Reason.HOLD_RAMP_DELAY,
        Reason.MIN_CURRENT_HOLD,
        Reason.MIN_CURRENT_PAUSE,
        Reason.PAUSED_WAIT_RESUME,
        Reason.METER_STALE_FALLBACK,
        Reason.TARIFF_LIMIT,
        Reason.SETPOINT_IGNORED_PAUSE,
        Reason.COMMANDED_PAUSE,
    }
)


class Topics:
    """The names of a site's topics."""

    def __init__(self, site: SiteConfig, config: MqttConfig) -> None:
        self.base = config.base_topic
        self.availability = f"{self.base}/status"
        self.ha_status = f"{config.discovery_prefix}/status"
        self.phases = tuple(topic_id(p) for p in site.fuse.phase_names)
        self.chargers = dict(config.charger_ids)
        self.commands = config.commands

    def charger(self, name: str, value: str) -> str:
        return f"{self.base}/charger/{self.chargers[name]}/{value}"

    def phase(self, phase: str, value: str) -> str:
        return f"{self.base}/phase/{topic_id(phase)}/{value}"

    def command(self, state_topic: str) -> str:
        return f"{state_topic}/set"

    def count(self) -> int:
        """The most state topics the site has (the store's bound, with discovery's): meter age,
        stale and fallback, per phase and per charger theirs (with its two settings), the
        budget, and at most 16 tariff figures."""
        per_charger = len(CHARGER_VALUES) + 2
        return 3 + len(self.phases) * len(PHASE_VALUES) + len(self.chargers) * per_charger + 17


def number(value: float | None, decimals: int = 2) -> str:
    if value is None or value != value:
        return "None"
    return f"{round(value, decimals):g}"


def flag(value: bool) -> str:
    return ON if value else OFF


def state_values(
    status: Status, overrides: Overrides, site: SiteConfig, topics: Topics
) -> dict[str, str]:
    """Every state topic and its payload now."""
    out = {
        f"{topics.base}/meter/age_s": number(status.meter.age_s, 1),
        f"{topics.base}/meter/stale": flag(not status.meter.fresh),
        f"{topics.base}/fallback": flag(status.meter.fallback),
    }
    for phase in status.phases:
        out[topics.phase(phase.phase, "meter_a")] = number(phase.meter_a)
        out[topics.phase(phase.phase, "house_a")] = number(phase.house_a)
        out[topics.phase(phase.phase, "allowed_a")] = number(phase.allowed_a)
    for charger in status.chargers:
        measured = [a for a in charger.measured_a if a is not None]
        power_w = sum(measured) * NOMINAL_VOLTAGE_V if charger.online and measured else None
        limiting = charger.online and charger.reason in LIMITING
        values = {
            "limit_a": number(charger.limit_a),
            "measured_a": number(max(measured) if measured else None),
            "power_w": number(power_w, 0),
            "state": charger.state_words[:MAX_STATE_CHARS],
            "reason": (charger.reason_words or "None")[:MAX_STATE_CHARS],
            "reason_code": charger.reason or "None",
            "online": flag(charger.online),
            "limiting": flag(limiting),
        }
        for key, payload in values.items():
            out[topics.charger(charger.name, key)] = payload
    out.update(setting_values(overrides, site, topics))
    if status.tariff is not None:
        out.update(_tariff_values(status.tariff, topics))
    return out


def setting_values(overrides: Overrides, site: SiteConfig, topics: Topics) -> dict[str, str]:
    """The settings commands may change (those the site file allows), as in force now: the
    site file's unless commanded."""
    out = {}
    allowed = topics.commands
    for charger in site.chargers:
        max_a = overrides.max_current_a.get(charger.name, charger.spec.max_current_a)
        if "max_current_a" in allowed:
            out[topics.charger(charger.name, "max_current_a")] = number(max_a)
        if "pause" in allowed:
            out[topics.charger(charger.name, "pause")] = flag(charger.name in overrides.paused)
    if site.tariff is not None and "budget_kw" in allowed:
        budget = overrides.budget_kw if overrides.budget_kw is not None else site.tariff.budget_kw
        out[f"{topics.base}/budget_kw"] = number(budget)
    return out


def _tariff_values(tariff: Mapping[str, object], topics: Topics) -> dict[str, str]:
    """The capacity tariff's figures of the status (its numbers only), under ``tariff/``."""
    return {
        f"{topics.base}/tariff/{topic_id(key)}": number(float(value), 3)
        for key, value in sorted(tariff.items())[:16]
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
