"""The site file's 1p/3p switching keys of a Modbus charger (issue 19), read beside config.py.

Per charger: ``phase_switching`` (off by default; auto, 1p, 3p), ``one_phase_on`` (the grid
phase that carries the box's one-phase output, its first wired phase by default),
``phase_switch_up_after_s`` (how long three phases must fit before a switch back) and
``phase_switches_max`` (per session). Checked against the charger's profile (it must have a
``phase_switch`` section) and the fuse (that phase must carry the charger's minimum).
docs/phase-switching.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from loadbalancer.chargers.profile.phase import PhaseSwitch
from loadbalancer.control.config import PhaseSwitchSpec
from loadbalancer.control.fuse import FuseProfile
from loadbalancer.ocpp.phases import ocpp_switching
from loadbalancer.ocpp.profile import OcppPhaseSwitch
from loadbalancer.yamlcheck import YamlReader

if TYPE_CHECKING:  # config.py imports this module
    from loadbalancer.config import ChargerConfig

#: the keys this module reads in a ``chargers[]`` entry
PHASE_SWITCH_KEYS = frozenset(
    {"phase_switching", "one_phase_on", "phase_switch_up_after_s", "phase_switches_max"}
)
MODES = ("auto", "off", "1p", "3p")


def phase_switching_mode(reader: YamlReader, value: object, path: str) -> str:
    """One of :data:`MODES` (an unquoted ``off``, which YAML reads as false, is off)."""
    return reader.choice("off" if value is False else value, path, MODES, "phase switching")


#: defaults: peers wait 1 to 10 minutes before a switch back; five switches per session
DEFAULT_UP_AFTER_S = 300.0
DEFAULT_SWITCHES_MAX = 5


def with_phase_switching(
    reader: YamlReader, raw: object, chargers: tuple[ChargerConfig, ...], fuse: FuseProfile
) -> tuple[ChargerConfig, ...]:
    """``chargers`` with the switching each entry of ``raw`` (the ``chargers`` list) asks for."""
    if not isinstance(raw, list):
        return chargers
    return tuple(
        _charger(reader, entry, f"chargers[{i}]", charger, fuse)
        for i, (entry, charger) in enumerate(zip(raw, chargers, strict=True))
    )


def _charger(
    reader: YamlReader, entry: object, path: str, charger: ChargerConfig, fuse: FuseProfile
) -> ChargerConfig:
    if not isinstance(entry, dict) or not PHASE_SWITCH_KEYS & set(entry):
        return charger
    mode = phase_switching_mode(
        reader, entry.get("phase_switching", "off"), f"{path}.phase_switching"
    )
    if mode == "off":
        extra = sorted(PHASE_SWITCH_KEYS & set(entry) - {"phase_switching"})
        if extra:
            raise reader.fail(f"{path}.{extra[0]}", "needs phase_switching: auto, 1p or 3p")
        return charger
    where = f"{path}.phase_switching"
    profile = getattr(charger, "profile", None)
    if profile is None or getattr(profile, "phase_switch", None) is None:
        name = getattr(profile, "name", "OCPP")
        raise reader.fail(where, f"the {name} profile has no phase_switch section")
    spec = charger.spec
    if len(spec.phases) != 3:
        raise reader.fail(
            where, f"charger {spec.name} is wired on {len(spec.phases)} phase(s), not 3"
        )
    one = reader.text(entry.get("one_phase_on", spec.phases[0]), f"{path}.one_phase_on")
    if one not in spec.phases:
        raise reader.fail(f"{path}.one_phase_on", f"{one!r} is not one of its phases {spec.phases}")
    if fuse.target_a < spec.min_current_a:
        raise reader.fail(
            f"{path}.one_phase_on",
            f"{one} carries at most {fuse.target_a:g} A ({fuse.rating_a:g} A fuse - "
            f"{fuse.margin_a:g} A margin), below the charger's {spec.min_current_a:g} A minimum",
        )
    switch = PhaseSwitchSpec(
        mode,
        one,
        up_after_s=reader.number(
            entry.get("phase_switch_up_after_s", DEFAULT_UP_AFTER_S),
            f"{path}.phase_switch_up_after_s",
            0,
            86400,
        ),
        max_per_session=reader.integer(
            entry.get("phase_switches_max", DEFAULT_SWITCHES_MAX),
            f"{path}.phase_switches_max",
            0,
            100,
        ),
    )
    return replace(charger, spec=replace(spec, phase_switch=switch))


def phase_switch_lines(chargers: tuple[ChargerConfig, ...]) -> list[str]:
    """For ``check``: what each switching charger's phase switching will do."""
    return [
        _described(charger.name, charger.spec.phase_switch, charger.profile.phase_switch)
        for charger in chargers
        if charger.spec.phase_switch is not None and charger.profile.phase_switch is not None
    ]


def _described(name: str, spec: PhaseSwitchSpec, box: PhaseSwitch | OcppPhaseSwitch) -> str:
    held = {"1p": "held on one phase", "3p": "held on three phases"}.get(spec.mode)
    rule = held or (
        f"auto: down when three phases do not fit its minimum and one does, up after "
        f"{spec.up_after_s:g} s of three fitting"
    )
    how = ocpp_switching(box) if isinstance(box, OcppPhaseSwitch) else _modbus_switching(box)
    return (
        f"charger {name}: phase switching {rule}, at most {spec.max_per_session} a session, "
        f"one phase on {spec.one_phase_on}; {how}; 0 A first, the car has "
        f"{box.stop_timeout_s:g} s to stop (else not switched) and {box.resume_timeout_s:g} s "
        f"to resume (else reported, switching ends for the session); unverified: "
        f"{box.unverified or 'not said'}"
    )


def _modbus_switching(box: PhaseSwitch) -> str:
    return (
        f"register {box.register} written ({box.one_phase:g} / {box.three_phase:g}), read back "
        f"from {box.readback}, the box's own wait {box.switch_wait_s:g} s"
    )
