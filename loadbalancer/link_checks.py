"""What a link checks on each fresh read of its charger:

* the plausibility gate: currents that cannot be the car's draw make it *unknown* to the core
  (:mod:`loadbalancer.control.plausibility`), one episode logged;
* the read-back limit against the acknowledged one (issue 11, item 5): above it for longer
  than the box's response time, a rewrite with back-off, and the box is booked at its read-back
  limit until it applies its own;
* the compliance watch (:mod:`loadbalancer.control.compliance`): a car that draws more than its
  limit gets a rewrite, then the core's pause (``ChargerRead.ignores_limit``), then an alarm.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from loadbalancer.control.compliance import Action
from loadbalancer.control.compliance import check_compliance as next_compliance
from loadbalancer.control.plausibility import implausible_current
from loadbalancer.link_state import Due, Episode

if TYPE_CHECKING:
    from loadbalancer.link import ChargerLink

#: a read-back limit this far above the one written is "not applied" (float and mA rounding)
APPLIED_TOLERANCE_A = 0.5


def finite(values: tuple[float | None, ...]) -> list[float | None]:
    """Currents for a record: rounded, and null where not available or not finite (JSON has
    no NaN or Infinity)."""
    return [None if v is None or not math.isfinite(v) else round(v, 3) for v in values]


def check_plausible(link: ChargerLink, measured: tuple[float | None, ...]) -> bool:
    """The plausibility gate, logged once per episode; False while the read is implausible
    (the core then books the charger, see :mod:`loadbalancer.control.plausibility`)."""
    context, name = link.context, link.name
    problem = implausible_current(measured, link.config.spec.plausible_max_a)
    was = Episode.IMPLAUSIBLE in link.episodes
    if problem is not None and not was:
        link.episodes.add(Episode.IMPLAUSIBLE)
        context.log.record(
            "charger_implausible", charger=name, reason=problem, measured_a=finite(measured)
        )
        context.status(f"charger {name}: implausible read ({problem}); booked at its limit")
        context.wake_control()
    elif problem is None and was:
        link.episodes.discard(Episode.IMPLAUSIBLE)
        context.log.record("charger_plausible", charger=name, measured_a=finite(measured))
        context.status(f"charger {name}: plausible reads again")
        context.wake_control()
    return problem is None


def check_applied(link: ChargerLink, now_s: float) -> None:
    """The box's read-back limit against the one it acknowledged: above it for longer than
    the box's response time, a rewrite (then again after a growing back-off), and the charger
    is booked at its read-back limit until it applies what it was told (the compliance rule
    watches the car)."""
    assert link.reading is not None
    applied, written = link.reading.limit_a, link.written_a
    if applied is None or written is None or link.written_at_s is None:
        return
    context, name = link.context, link.name
    if applied <= written + APPLIED_TOLERANCE_A:
        link.applied_backoff.reset()
        if Episode.NOT_APPLIED in link.episodes:
            link.episodes.discard(Episode.NOT_APPLIED)
            context.log.record("setpoint_applied", charger=name, setpoint_a=written)
            context.wake_control()
        return
    wait_s = max(context.box_response_s, link.applied_backoff.delay_s)
    if now_s - link.written_at_s < wait_s:
        return
    link.due.add(Due.SETPOINT)  # a rewrite; then again after a growing back-off
    link.wake.set()
    link.applied_backoff.next_delay_s()
    if Episode.NOT_APPLIED not in link.episodes:
        link.episodes.add(Episode.NOT_APPLIED)
        context.log.record(
            "setpoint_not_applied",
            charger=name,
            setpoint_a=written,
            limit_a=round(applied, 3),
            action="rewrite; booked at its read-back limit until it applies its limit",
        )
        context.status(
            f"charger {name}: acknowledged {written:g} A but applies {applied:g} A; "
            "rewriting, booked at the higher limit"
        )
        context.wake_control()


def check_compliance(link: ChargerLink, now_s: float) -> None:
    """The compliance watch: a rewrite, then the core's pause (the link tells it with
    ``ignores_limit``), then an alarm; each action logged."""
    assert link.read is not None
    context = link.context
    if link.written_at_s is not None and link.measured_s < link.written_at_s:
        return  # currents from before the limit was written (an OCPP box's last MeterValues)
    link.compliance, action = next_compliance(
        link.compliance,
        setpoint_a=link.written_a,
        measured_a=link.read.measured_a,
        now_s=link.measured_s,  # a value read again is no later evidence
        response_time_s=context.site.control.ev_response_allowance_s,
    )
    if action is Action.NONE:
        return
    details: dict[str, Any] = {
        "charger": link.name,
        "setpoint_a": link.written_a,
        "measured_a": [round(x, 3) for x in link.read.measured_a],
    }
    if action is Action.REWRITE:
        context.log.record("setpoint_ignored", action="rewrite", **details)
        link.due.add(Due.SETPOINT)
        link.wake.set()
    elif action is Action.PAUSE:
        context.log.record("setpoint_ignored", action="pause", **details)
        context.wake_control()
    else:
        context.log.record("alarm", problem="charger ignores its limit and its pause", **details)
        context.status(
            f"ALARM: charger {link.name} draws more than its limit and ignores the pause"
        )
