"""Issue 19: 1p/3p switching of an OCPP charge point through ``numberPhases`` in its charging
profile (OCPP 1.6 §7.13; the box's firmware switches), for the shell's sequence
(:mod:`loadbalancer.phase_switch`) and the charger's every write.

The count goes out with every limit (a limit without it would be read as three phases), so the
charger keeps the count the box was last sent. It changes in one place only,
:meth:`OcppCharger.write_phases`, and only at 0 A with the car seen drawing nothing: the 0-A
profile must be the limit in force and a MeterValues taken after it must show less than
:data:`~loadbalancer.electric.PHASE_IN_USE_A` on every wired phase (a phase it does not report
counts as drawing). When the service starts, the box may still hold a count it was sent before:
the count is then taken from what the car draws (on one phase: one; on more: three; nothing:
the wired count), so that the first limit does not change it under load either.

The read-back (``readback: meter_values``): the phases the box's MeterValues show current on
while the car draws (on two or more: the box charges on all of them, whatever it accepted, and
its limits say so from then on), else the count it last accepted. A box's own configuration
key (``key``, e.g. Charge Amps' ``ACPhaseSwitchingSupported``) must read ``true`` at each
connection before it is switched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loadbalancer.electric import PHASE_IN_USE_A
from loadbalancer.errors import ChargerUnsupported
from loadbalancer.ocpp.profile import OcppPhaseSwitch

if TYPE_CHECKING:  # the charger's module imports this one
    from loadbalancer.ocpp.charger import OcppCharger


class PhaseChangeRefused(ChargerUnsupported):
    """A ``numberPhases`` change that would not be safe now: it is not sent."""


def drawing_phases(currents_a: Sequence[float | None]) -> int | None:
    """On how many phases the car draws (None: a phase does not say)."""
    if any(value is None for value in currents_a):
        return None
    return sum(1 for value in currents_a if value is not None and value >= PHASE_IN_USE_A)


def assumed_count(charger: OcppCharger) -> int:
    """The box's count when the charger does not know it (the service just started): what the
    car draws on (one phase: one; none or unknown: the wired count; more: the wired count)."""
    wired = len(charger.config.spec.phases)
    drawn = drawing_phases(charger.currents_a[:wired])
    return 1 if drawn == 1 and charger.profile.phase_switch is not None else wired


def count_to_send(charger: OcppCharger) -> int:
    """The phase count of the charger's next profile: learnt first if it is not known; the
    wired count if the car draws on two phases or more (a box that lost its profile, or ignored
    a switch to one, charges on all: a limit must not switch it under load)."""
    wired = len(charger.config.spec.phases)
    drawn = drawing_phases(charger.currents_a[:wired])
    if charger.phase_count is None:
        charger.phase_count = assumed_count(charger)
    elif drawn is not None and drawn >= 2:
        charger.phase_count = wired
    return charger.phase_count


def number_phases(charger: OcppCharger, count: int) -> int:
    """The ``numberPhases`` value for ``count`` phases (the profile's, else the count)."""
    switch = charger.profile.phase_switch
    return count if switch is None else switch.value_for(count)


def check_change(charger: OcppCharger, count: int) -> OcppPhaseSwitch:
    """The profile's switching, if a change to ``count`` phases may be sent now; else
    :class:`PhaseChangeRefused` saying why (nothing is sent)."""
    switch = charger.profile.phase_switch
    where = f"charger {charger.endpoint}: numberPhases {count}"
    if switch is None:
        raise PhaseChangeRefused(f"{where}: its profile has no phase_switch section")
    in_force = charger.gate.in_force_a
    if in_force != 0.0:
        raise PhaseChangeRefused(f"{where}: sent only at 0 A (in force: {in_force} A)")
    seen_s = charger.meter_at_s
    if seen_s is None or seen_s <= charger.gate.last_write_s:
        raise PhaseChangeRefused(f"{where}: no MeterValues since 0 A was offered")
    currents = charger.currents_a[: len(charger.config.spec.phases)]
    if drawing_phases(currents) != 0:
        shown = ", ".join("?" if value is None else f"{value:g}" for value in currents)
        raise PhaseChangeRefused(f"{where}: the car draws ({shown} A): not changed under load")
    return switch


async def read_count(charger: OcppCharger) -> int | None:
    """The box's count as it reports it (module docstring); a box whose ``key`` does not read
    ``true`` is :class:`ChargerUnsupported` (not switched)."""
    switch = charger.profile.phase_switch
    if switch is None:
        return None
    if switch.key is not None and charger.phase_key_session is not charger.session:
        value = (await charger.get_configuration([switch.key])).get(switch.key)
        if str(value).lower() != "true":
            raise ChargerUnsupported(
                f"charger {charger.endpoint}: {switch.key} reads {value!r}, not true: "
                "the box does not switch phases"
            )
        charger.phase_key_session = charger.session
    return count_to_send(charger)


def ocpp_switching(switch: OcppPhaseSwitch) -> str:
    """For ``check``: how an OCPP box is switched."""
    key = f"only while its {switch.key} reads true, " if switch.key else ""
    return (
        f"numberPhases {switch.one_phase} / {switch.three_phase} in a 0-A charging profile, "
        f"{key}sent only once a MeterValues taken after the 0 A shows the car drawing nothing "
        f"(asked for), with every limit after it; read back from the phases its MeterValues "
        f"show current on; the box's own wait {switch.switch_wait_s:g} s"
    )
