"""OCPP charger profiles (``profiles/ocpp/*.yaml``): how one vendor's box takes its limit.

A profile names its sources and what is unverified, and says: the charging profile to write
(rate unit, purpose, stack level, kind, connector, whether ``numberPhases`` is sent), the meter
values to ask for, the write economy (minimum interval, daily budget, dead-band), the time a
limit may take to show (verification of effect), the settings to read and set at boot, and the
failsafe mechanism. Every problem is a ``ConfigError`` naming the file and the key path.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from loadbalancer.control.config import GRANULARITIES_A
from loadbalancer.electric import IEC_MIN_CURRENT_A
from loadbalancer.resources import find_profile
from loadbalancer.yamlcheck import YamlReader, parse_yaml

RATE_UNITS = ("A", "W")
PURPOSES = ("TxDefaultProfile", "ChargePointMaxProfile")
KINDS = ("Absolute", "Relative")
#: ``vendor_setting``: a configuration key the box falls back to when the central system is
#: gone (written and read back at every connection); ``expiring_profile``: the safe current as
#: a profile at ``safe_stack_level``, each limit above it valid for the failsafe timeout and
#: renewed by the keep-alive (the box falls back to the safe one when we stop renewing);
#: ``none``: OCPP 1.6 has no failsafe, the last profile rules
FAILSAFE_MECHANISMS = ("vendor_setting", "expiring_profile", "none")
#: the measurands the charger reads (each asked for singly: a list with one unsupported
#: measurand is rejected whole)
MEASURANDS = ("Current.Import", "Current.Offered", "Power.Active.Import", "Voltage")
#: a limit that takes longer than this to show is not applied (the link's episode)
DEFAULT_VERIFY_S = 60.0
#: how long a box takes to apply a limit it accepted, where its profile does not say (the
#: simulated charge point of ``simulate`` waits this long; no vendor documents it)
DEFAULT_APPLY_S = 5.0
#: after a raise, MeterValues are asked for once the limit applied and the car had this long
#: to follow it (IEC 61851-1: the pilot changes within 5 s)
CAR_FOLLOWS_S = 5.0

_TOP = {
    "name", "vendor", "models", "sources", "unverified", "verified_on_hardware", "charging",
    "meter_values", "writes", "boot", "failsafe", "phase_switch",
}  # fmt: skip
_CHARGING = {
    "rate_unit", "purpose", "stack_level", "kind", "connector_id", "number_phases",
    "min_current_a", "max_current_a", "step_a",
}  # fmt: skip
_METER = {"measurands", "interval_s", "current_offered", "trigger", "trigger_after_s"}
_WRITES = {"min_interval_s", "daily_budget", "deadband_a", "verify_s", "apply_s"}
_BOOT = {"set", "read"}
_FAILSAFE = {"mechanism", "key", "value", "safe_stack_level", "semantics_verified", "note"}
#: what a vendor setting's value may name
_VALUE_FIELDS = {"current_a", "connector_id"}
_PHASE_SWITCH = {
    "one_phase", "three_phase", "readback", "key", "stop_timeout_s", "switch_wait_s",
    "resume_timeout_s", "verified", "unverified",
}  # fmt: skip
#: how an OCPP box says what it charges on: the phases its MeterValues show current on (while
#: the car draws nothing, the count of the last profile it accepted)
PHASE_READBACKS = ("meter_values",)


@dataclass(frozen=True, slots=True)
class ChargingSettings:
    rate_unit: str
    purpose: str
    stack_level: int
    kind: str
    connector_id: int
    #: ``numberPhases`` is sent with each limit (phase switching through the profile)
    number_phases: bool
    min_current_a: float
    max_current_a: float
    step_a: float


@dataclass(frozen=True, slots=True)
class MeterSettings:
    measurands: tuple[str, ...]
    interval_s: float
    #: the box reports ``Current.Offered`` (the limit it applies): the read-back check uses it
    current_offered: bool
    #: after a raise the box is asked for MeterValues (TriggerMessage) this long after the
    #: write, so its old ones (the car's lower draw) do not count until its next report; None:
    #: the box cannot be asked
    trigger_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class WriteEconomy:
    """Profile writes wear the box's flash: at most ``daily_budget`` in 24 h, raises no closer
    than ``min_interval_s`` and not for less than ``deadband_a`` (a cut always goes at once)."""

    min_interval_s: float
    daily_budget: int
    deadband_a: float
    verify_s: float
    #: how long the box takes to apply an accepted limit, typically (``verify_s``: at most)
    apply_s: float = DEFAULT_APPLY_S


@dataclass(frozen=True, slots=True)
class OcppFailsafe:
    mechanism: str
    key: str | None
    #: the key's value, with ``{current_a}`` and ``{connector_id}`` in it
    value: str
    #: ``expiring_profile``: the safe profile's stack level (below the limits')
    safe_stack_level: int | None
    #: the box is known to fall back to the key's value when the central system is gone
    semantics_verified: bool
    note: str


@dataclass(frozen=True, slots=True)
class OcppPhaseSwitch:
    """Issue 19: 1p/3p switching through ``numberPhases`` in the charging profile (the box's
    firmware switches; OCPP 1.6 §7.13). ``one_phase``/``three_phase``: the ``numberPhases``
    values; ``readback``: see :data:`PHASE_READBACKS`; ``key``: the box's configuration key
    that must read ``true`` before it is switched (None: none); the times as a Modbus profile's
    (:class:`loadbalancer.chargers.profile.phase.PhaseSwitch`)."""

    one_phase: int = 1
    three_phase: int = 3
    readback: str = "meter_values"
    key: str | None = None
    stop_timeout_s: float = 30.0
    switch_wait_s: float = 10.0
    resume_timeout_s: float = 120.0
    verified: bool = False
    unverified: str = ""

    def value_for(self, count: int) -> int:
        """The ``numberPhases`` for ``count`` phases."""
        return self.one_phase if count == 1 else self.three_phase


@dataclass(frozen=True, slots=True)
class OcppProfile:
    name: str
    vendor: str
    models: tuple[str, ...]
    sources: tuple[str, ...]
    unverified: tuple[str, ...]
    verified_on_hardware: bool
    charging: ChargingSettings
    meter: MeterSettings
    writes: WriteEconomy
    #: configuration keys set at every connection (ChangeConfiguration), and read (logged)
    boot_set: tuple[tuple[str, str], ...]
    boot_read: tuple[str, ...]
    failsafe: OcppFailsafe
    #: issue 19: how the box switches phases (None: it is not switched)
    phase_switch: OcppPhaseSwitch | None = None


def load_ocpp_profile(name_or_path: str) -> OcppProfile:
    """A bundled OCPP profile by name (``easee``) or a profile file by path."""
    found = find_profile("ocpp", name_or_path)
    return _Reader(found.file).profile(parse_yaml(found.text, found.file), found.stem)


class _Reader(YamlReader):
    def profile(self, data: object, stem: str) -> OcppProfile:
        top = self.mapping(
            data, "", _TOP, {"name", "vendor", "sources", "unverified", "charging", "failsafe"}
        )
        writes = self.writes(top.get("writes", {}))
        meter = self.meter(top.get("meter_values", {}), writes.apply_s)
        charging = self.charging(top["charging"])
        return OcppProfile(
            name=self.text(top.get("name", stem), "name"),
            vendor=self.text(top["vendor"], "vendor"),
            models=self.texts(top.get("models", []), "models"),
            sources=self.sources(top["sources"]),
            unverified=self.texts(top["unverified"], "unverified"),
            verified_on_hardware=self.flag(
                top.get("verified_on_hardware", False), "verified_on_hardware"
            ),
            charging=charging,
            meter=meter,
            writes=writes,
            boot_set=self.boot_set(top.get("boot", {}), meter),
            boot_read=self.texts(top.get("boot", {}).get("read", []), "boot.read"),
            failsafe=self.failsafe(top["failsafe"], charging),
            phase_switch=self.phase_switch(top["phase_switch"], charging)
            if "phase_switch" in top
            else None,
        )

    def sources(self, value: object) -> tuple[str, ...]:
        sources = self.texts(value, "sources")
        if not sources:
            raise self.fail("sources", "name at least one source")
        return sources

    def charging(self, value: object) -> ChargingSettings:
        raw = self.mapping(value, "charging", _CHARGING, {"max_current_a"})
        min_a = self.number(
            raw.get("min_current_a", IEC_MIN_CURRENT_A), "charging.min_current_a", 6, 80
        )
        max_a = self.number(raw["max_current_a"], "charging.max_current_a", min_a, 80)
        step = self.number(raw.get("step_a", 1.0), "charging.step_a")
        if step not in GRANULARITIES_A or step < 0.1:
            raise self.fail("charging.step_a", f"{step:g} A: the controller offers 1 or 0.1 A")
        connector = self.integer(raw.get("connector_id", 1), "charging.connector_id", 0, 16)
        purpose = self.choice(
            raw.get("purpose", "TxDefaultProfile"), "charging.purpose", PURPOSES, "purpose"
        )
        if purpose == "ChargePointMaxProfile" and connector != 0:
            raise self.fail("charging.connector_id", "a ChargePointMaxProfile is on connector 0")
        return ChargingSettings(
            rate_unit=self.choice(
                raw.get("rate_unit", "A"), "charging.rate_unit", RATE_UNITS, "unit"
            ),
            purpose=purpose,
            stack_level=self.integer(raw.get("stack_level", 0), "charging.stack_level", 0, 100),
            kind=self.choice(raw.get("kind", "Absolute"), "charging.kind", KINDS, "kind"),
            connector_id=connector,
            number_phases=self.flag(raw.get("number_phases", False), "charging.number_phases"),
            min_current_a=min_a,
            max_current_a=max_a,
            step_a=step,
        )

    def meter(self, value: object, apply_s: float) -> MeterSettings:
        raw = self.mapping(value, "meter_values", _METER)
        measurands = self.texts(
            raw.get("measurands", ["Current.Import"]), "meter_values.measurands"
        )
        for i, name in enumerate(measurands):
            self.choice(name, f"meter_values.measurands[{i}]", MEASURANDS, "measurand")
        if "Current.Import" not in measurands:
            raise self.fail("meter_values.measurands", "Current.Import is needed (the car's draw)")
        offered = self.flag(raw.get("current_offered", False), "meter_values.current_offered")
        if offered and "Current.Offered" not in measurands:
            raise self.fail("meter_values.current_offered", "Current.Offered is not asked for")
        interval = self.number(raw.get("interval_s", 10), "meter_values.interval_s", 1, 300)
        trigger = None
        if self.flag(raw.get("trigger", True), "meter_values.trigger"):
            trigger = self.number(
                raw.get("trigger_after_s", apply_s + CAR_FOLLOWS_S),
                "meter_values.trigger_after_s",
                0,
                300,
            )
        elif "trigger_after_s" in raw:
            raise self.fail("meter_values.trigger_after_s", "the box is not asked (trigger false)")
        return MeterSettings(measurands, interval, offered, trigger)

    def writes(self, value: object) -> WriteEconomy:
        raw = self.mapping(value, "writes", _WRITES)
        verify_s = self.number(raw.get("verify_s", DEFAULT_VERIFY_S), "writes.verify_s", 1, 600)
        return WriteEconomy(
            min_interval_s=self.number(
                raw.get("min_interval_s", 10), "writes.min_interval_s", 0, 3600
            ),
            daily_budget=self.integer(
                raw.get("daily_budget", 2000), "writes.daily_budget", 5, 100000
            ),
            deadband_a=self.number(raw.get("deadband_a", 0), "writes.deadband_a", 0, 10),
            verify_s=verify_s,
            apply_s=self.number(
                raw.get("apply_s", min(DEFAULT_APPLY_S, verify_s)), "writes.apply_s", 0, verify_s
            ),
        )

    def boot_set(self, value: object, meter: MeterSettings) -> tuple[tuple[str, str], ...]:
        raw = self.mapping(value, "boot", _BOOT)
        settings = self.mapping(raw.get("set", {}), "boot.set", _any_key(raw.get("set", {})))
        out = [("MeterValueSampleInterval", f"{meter.interval_s:g}")]
        for key, item in settings.items():
            if not isinstance(item, str | int | bool) or isinstance(item, float):
                raise self.fail(f"boot.set.{key}", "expected text, a whole number or true/false")
            shown = str(item).lower() if isinstance(item, bool) else str(item)
            out.append((key, shown))
        return tuple(out)

    def failsafe(self, value: object, charging: ChargingSettings) -> OcppFailsafe:
        raw = self.mapping(value, "failsafe", _FAILSAFE, {"mechanism", "note"})
        mechanism = self.choice(
            raw["mechanism"], "failsafe.mechanism", FAILSAFE_MECHANISMS, "failsafe mechanism"
        )
        key = self.text(raw["key"], "failsafe.key") if "key" in raw else None
        if (mechanism == "vendor_setting") != (key is not None):
            raise self.fail("failsafe.key", "a vendor_setting needs its key, and only it has one")
        value = self.text(raw.get("value", "{current_a}"), "failsafe.value")
        try:
            names = {field for _, field, _, _ in string.Formatter().parse(value) if field}
        except ValueError as exc:
            raise self.fail("failsafe.value", str(exc)) from None
        if not names <= _VALUE_FIELDS:
            raise self.fail("failsafe.value", "may name only {current_a} and {connector_id}")
        safe_level = None
        if mechanism == "expiring_profile":
            safe_level = self.integer(
                raw.get("safe_stack_level", 0), "failsafe.safe_stack_level", 0, 99
            )
            if safe_level >= charging.stack_level or charging.kind != "Absolute":
                raise self.fail(
                    "failsafe.safe_stack_level",
                    "an expiring profile needs Absolute limits at a stack level above the safe "
                    f"one (charging.stack_level {charging.stack_level}, kind {charging.kind})",
                )
        return OcppFailsafe(
            mechanism=mechanism,
            key=key,
            value=value,
            safe_stack_level=safe_level,
            semantics_verified=self.flag(
                raw.get("semantics_verified", False), "failsafe.semantics_verified"
            ),
            note=self.text(raw["note"], "failsafe.note"),
        )

    def phase_switch(self, value: object, charging: ChargingSettings) -> OcppPhaseSwitch:
        path = "phase_switch"
        raw = self.mapping(value, path, _PHASE_SWITCH)
        if not charging.number_phases:
            raise self.fail(path, "switching through numberPhases needs charging.number_phases")
        one = self.integer(raw.get("one_phase", 1), f"{path}.one_phase", 1, 3)
        three = self.integer(raw.get("three_phase", 3), f"{path}.three_phase", 1, 3)
        if one >= three:
            raise self.fail(f"{path}.three_phase", "must be more than one_phase")
        return OcppPhaseSwitch(
            one_phase=one,
            three_phase=three,
            readback=self.choice(
                raw.get("readback", PHASE_READBACKS[0]), f"{path}.readback", PHASE_READBACKS, "one"
            ),
            key=self.text(raw["key"], f"{path}.key") if "key" in raw else None,
            stop_timeout_s=self.number(
                raw.get("stop_timeout_s", 30), f"{path}.stop_timeout_s", 1, 300
            ),
            switch_wait_s=self.number(
                raw.get("switch_wait_s", 10), f"{path}.switch_wait_s", 0, 600
            ),
            resume_timeout_s=self.number(
                raw.get("resume_timeout_s", 120), f"{path}.resume_timeout_s", 1, 1800
            ),
            verified=self.flag(raw.get("verified", False), f"{path}.verified"),
            unverified=self.text(raw["unverified"], f"{path}.unverified")
            if "unverified" in raw
            else "",
        )


def _any_key(value: Any) -> set[str]:
    """Every text key of a mapping is allowed (vendor configuration keys)."""
    return {key for key in value if isinstance(key, str)} if isinstance(value, dict) else set()


def failsafe_value(failsafe: OcppFailsafe, current_a: float, connector_id: int) -> str:
    """The vendor setting's value for ``current_a`` (``{current_a}`` as ``16`` or ``6.5``)."""
    return failsafe.value.format(current_a=f"{current_a:g}", connector_id=connector_id)
