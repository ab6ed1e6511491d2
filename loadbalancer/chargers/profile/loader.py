"""Loading a charger profile: a bundled name or a file, validated on load.

Every problem is a ``ConfigError`` naming the file and the key path, e.g.
``alfen-eve.yaml: registers.setpoint.type: unknown type 'uint12'``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast, get_args

from loadbalancer.chargers.hooks import HOOKS
from loadbalancer.chargers.profile.model import (
    IEC_LETTERS,
    ChargerProfile,
    CodeMap,
    Failsafe,
    FailsafeTrigger,
    FailsafeValue,
    KeepAlive,
    KeepAliveAction,
    Pause,
    RawCode,
    Readings,
    Setpoint,
    StartupWrite,
    StatusMap,
)
from loadbalancer.chargers.profile.phase import read_phase_switch
from loadbalancer.chargers.profile.registers import RegisterReader
from loadbalancer.resources import find_profile
from loadbalancer.yamlcheck import kind_of, parse_yaml


def load_profile(name_or_path: str) -> ChargerProfile:
    """A bundled profile by name (``alfen-eve``) or a profile file by path."""
    found = find_profile("chargers", name_or_path)
    return parse_profile(found.text, found.file)


def parse_profile(text: str, file: str) -> ChargerProfile:
    """Parse and validate one profile's YAML text; ``file`` names it in errors."""
    return _Parser(file).profile(parse_yaml(text, file))


_TOP_KEYS = {
    "name",
    "vendor",
    "models",
    "sources",
    "verified_on_hardware",
    "transport",
    "registers",
    "setpoint",
    "readings",
    "failsafe",
    "keep_alive",
    "startup",
    "prerequisites",
    "hooks",
    "phase_switch",  # issue 19: loadbalancer/chargers/profile/phase.py
}
_REQUIRED_TOP = {"name", "vendor", "sources", "transport", "registers", "setpoint", "readings"}
_CODE_MAP_KEYS = {"register", "map", "shift", "mask"}
_KEEP_ALIVE_KEYS = {
    "action",
    "register",
    "value",
    "fraction_of_timeout",
    "max_interval_s",
    "min_interval_s",
}


class _Parser(RegisterReader):
    """Walks the YAML tree with the key path at hand, so every error says where it is."""

    def profile(self, data: object) -> ChargerProfile:
        top = self.mapping(data, "", _TOP_KEYS, _REQUIRED_TOP)
        transport = self.transport(top["transport"])
        self.read_registers(top["registers"])
        setpoint = self.setpoint(top["setpoint"])
        readings = self.readings(top["readings"])
        failsafe = self.failsafe(top.get("failsafe", {"trigger": "none"}))
        keep_alive = self.keep_alive(top.get("keep_alive", {"action": "none"}), failsafe)
        hooks = self.hooks(top.get("hooks", []), keep_alive)
        startup = self.startup(top.get("startup", []))
        models = self.texts(top.get("models", []), "models")
        prerequisites = self.texts(top.get("prerequisites", []), "prerequisites")
        return ChargerProfile(
            name=self.text(top["name"], "name"),
            file=self.file,
            vendor=self.text(top["vendor"], "vendor"),
            models=models,
            sources=self.texts(top["sources"], "sources"),
            verified_on_hardware=self.flag(
                top.get("verified_on_hardware", False), "verified_on_hardware"
            ),
            transport=transport,
            registers=dict(self.registers),
            setpoint=setpoint,
            readings=readings,
            failsafe=failsafe,
            keep_alive=keep_alive,
            startup=startup,
            prerequisites=prerequisites,
            hooks=hooks,
            phase_switch=read_phase_switch(self, top["phase_switch"])
            if "phase_switch" in top
            else None,
        )

    def setpoint(self, value: object) -> Setpoint:
        spec = self.mapping(
            value,
            "setpoint",
            {"register", "granularity_a", "min_a", "max_a", "pause"},
            {"register", "granularity_a", "min_a", "max_a", "pause"},
        )
        name = self.register_name(spec["register"], "setpoint.register", writable=True, unit="A")
        register = self.registers[name]
        granularity = self.number(spec["granularity_a"], "setpoint.granularity_a", 0.001, 1.0)
        if register.codec.raw_range() is not None:
            steps = granularity / register.codec.scale
            if abs(steps - round(steps)) > 1e-9:
                raise self.fail(
                    "setpoint.granularity_a",
                    f"{granularity:g} A is not a whole number of register steps "
                    f"({register.codec.scale:g} A)",
                )
        min_a = self.number(spec["min_a"], "setpoint.min_a", 0.0, 80.0)
        max_a = self.number(spec["max_a"], "setpoint.max_a", min_a, 80.0)
        bounds = register.codec.raw_range()
        if bounds is not None and not bounds[0] <= max_a <= bounds[1]:
            raise self.fail("setpoint.max_a", f"{max_a:g} A does not fit register {name!r}")
        return Setpoint(name, granularity, min_a, max_a, self.pause(spec["pause"]))

    def pause(self, value: object) -> Pause:
        if value == "zero" or value == "none":
            return Pause(value)
        if isinstance(value, str):
            raise self.fail(
                "setpoint.pause",
                f"unknown pause {value!r} "
                "(zero, none, or a mapping with register, enable_value, disable_value)",
            )
        spec = self.mapping(
            value, "setpoint.pause", {"register", "enable_value", "disable_value"}, {"register"}
        )
        return Pause(
            "register",
            self.register_name(spec["register"], "setpoint.pause.register", writable=True),
            self.number(spec.get("enable_value", 1), "setpoint.pause.enable_value"),
            self.number(spec.get("disable_value", 0), "setpoint.pause.disable_value"),
        )

    def readings(self, value: object) -> Readings:
        spec = self.mapping(
            value,
            "readings",
            {"current_a", "status", "limit_a", "phases", "max_current_a"},
            {"current_a", "status"},
        )
        currents = spec["current_a"]
        if not isinstance(currents, list) or len(currents) != 3:
            raise self.fail(
                "readings.current_a",
                "expected a list of three register names (the charger's phases 1, 2, 3)",
            )
        current_names = tuple(
            self.register_name(item, f"readings.current_a[{i}]", readable=True, unit="A")
            for i, item in enumerate(currents)
        )
        status_keys = {*_CODE_MAP_KEYS, "override"}
        status_spec = self.mapping(
            spec["status"], "readings.status", status_keys, {"register", "map"}
        )
        override = None
        if "override" in status_spec:
            override = self.code_map(
                status_spec["override"], "readings.status.override", IEC_LETTERS
            )
        main = self.code_map(status_spec, "readings.status", IEC_LETTERS, status_keys)
        status = StatusMap(main, override)
        phases = None
        if "phases" in spec:
            phases = self.code_map(spec["phases"], "readings.phases", ("1", "2", "3"))
        limit = spec.get("limit_a")
        maximum = spec.get("max_current_a")
        return Readings(
            current_names,
            status,
            None
            if limit is None
            else self.register_name(limit, "readings.limit_a", readable=True, unit="A"),
            phases,
            None
            if maximum is None
            else self.register_name(maximum, "readings.max_current_a", readable=True, unit="A"),
        )

    def code_map(
        self,
        value: object,
        path: str,
        meanings: tuple[str, ...],
        allowed: Collection[str] = _CODE_MAP_KEYS,
    ) -> CodeMap:
        """Raw values -> ``meanings``, from the mapping at ``path``."""
        spec = self.mapping(value, path, allowed, {"register", "map"})
        name = self.register_name(spec["register"], f"{path}.register", readable=True)
        register = self.registers[name]
        if register.codec.scale != 1.0:
            raise self.fail(f"{path}.register", f"codes are raw values: {name!r} must have scale 1")
        raw_map = spec["map"]
        if not isinstance(raw_map, dict) or not raw_map:
            raise self.fail(f"{path}.map", "expected a mapping of meaning -> list of raw values")
        codes: list[tuple[str, tuple[RawCode, ...]]] = []
        seen: dict[RawCode, str] = {}
        for key, raws in raw_map.items():
            meaning = str(key)
            key_path = f"{path}.map.{meaning}"
            if meaning not in meanings:
                raise self.fail(
                    key_path, f"unknown meaning {meaning!r} (one of: {', '.join(meanings)})"
                )
            if not isinstance(raws, list) or not raws:
                raise self.fail(key_path, "expected a non-empty list of raw values")
            checked: list[RawCode] = []
            for i, raw in enumerate(raws):
                if register.codec.data_type == "string":
                    checked.append(self.text(raw, f"{key_path}[{i}]"))
                elif register.codec.raw_range() is not None:
                    checked.append(self.integer(raw, f"{key_path}[{i}]", -(2**31), 2**32 - 1))
                else:
                    raise self.fail(
                        f"{path}.register",
                        "a code map needs an integer or string register, "
                        f"{name!r} is {register.codec.data_type}",
                    )
                if checked[-1] in seen:
                    raise self.fail(
                        f"{key_path}[{i}]",
                        f"{checked[-1]!r} is already mapped to {seen[checked[-1]]}",
                    )
                seen[checked[-1]] = meaning
            codes.append((meaning, tuple(checked)))
        mask = spec.get("mask")
        return CodeMap(
            name,
            tuple(codes),
            shift=self.integer(spec.get("shift", 0), f"{path}.shift", 0, 31),
            mask=None if mask is None else self.integer(mask, f"{path}.mask", 1, 2**32 - 1),
        )

    def failsafe(self, value: object) -> Failsafe:
        spec = self.mapping(
            value, "failsafe", {"trigger", "current", "timeout", "note"}, {"trigger"}
        )
        trigger = cast(
            FailsafeTrigger,
            self.choice(
                spec["trigger"], "failsafe.trigger", get_args(FailsafeTrigger), "failsafe trigger"
            ),
        )
        current = (
            None
            if "current" not in spec
            else self.failsafe_value(spec["current"], "failsafe.current", "A")
        )
        timeout = (
            None
            if "timeout" not in spec
            else self.failsafe_value(spec["timeout"], "failsafe.timeout", "s")
        )
        if trigger != "none" and timeout is None:
            raise self.fail("failsafe.timeout", f"missing (a {trigger} failsafe has a timeout)")
        note = spec.get("note", "")
        return Failsafe(trigger, current, timeout, self.text(note, "failsafe.note") if note else "")

    def failsafe_value(self, value: object, path: str, unit: str) -> FailsafeValue:
        default_key = f"default_{unit.lower()}"
        spec = self.mapping(
            value,
            path,
            {"register", "readback", f"min_{unit.lower()}", f"max_{unit.lower()}", default_key},
        )
        register = (
            None
            if "register" not in spec
            else self.register_name(spec["register"], f"{path}.register", unit=unit)
        )
        readback = (
            None
            if "readback" not in spec
            else self.register_name(spec["readback"], f"{path}.readback", readable=True, unit=unit)
        )
        if readback is None and register is not None and self.registers[register].readable:
            readback = register
        default = (
            None
            if default_key not in spec
            else self.number(spec[default_key], f"{path}.{default_key}", 0.0)
        )
        if register is None and default is None:
            raise self.fail(path, f"needs a register or a {default_key}")
        low_key, high_key = f"min_{unit.lower()}", f"max_{unit.lower()}"
        return FailsafeValue(
            register,
            readback,
            None if low_key not in spec else self.number(spec[low_key], f"{path}.{low_key}", 0.0),
            None
            if high_key not in spec
            else self.number(spec[high_key], f"{path}.{high_key}", 0.0),
            default,
        )

    def keep_alive(self, value: object, failsafe: Failsafe) -> KeepAlive:
        spec = self.mapping(value, "keep_alive", _KEEP_ALIVE_KEYS, {"action"})
        action = cast(
            KeepAliveAction,
            self.choice(
                spec["action"], "keep_alive.action", get_args(KeepAliveAction), "keep-alive action"
            ),
        )
        register = self._keep_alive_register(spec, action)
        keep_value = self._keep_alive_value(spec, action)
        if action == "none" and failsafe.trigger not in ("none", "any_request"):
            raise self.fail(
                "keep_alive.action", f"a {failsafe.trigger} failsafe needs a keep-alive"
            )
        if (
            action == "write"
            and keep_value is None
            and (failsafe.timeout is None or failsafe.timeout.register is None)
        ):
            raise self.fail("keep_alive.value", "failsafe_timeout needs failsafe.timeout.register")
        max_interval = spec.get("max_interval_s")
        return KeepAlive(
            action,
            register,
            keep_value,
            self.number(
                spec.get("fraction_of_timeout", 0.5), "keep_alive.fraction_of_timeout", 0.01, 0.5
            ),
            None
            if max_interval is None
            else self.number(max_interval, "keep_alive.max_interval_s", 0.1),
            self.number(spec.get("min_interval_s", 1.0), "keep_alive.min_interval_s", 0.0),
        )

    def _keep_alive_register(self, spec: dict[str, Any], action: KeepAliveAction) -> str | None:
        """The register a ``write`` or ``read`` keep-alive touches; other actions have none."""
        if action not in ("write", "read"):
            if "register" in spec:
                raise self.fail("keep_alive.register", f"a {action} keep-alive has no register")
            return None
        if "register" not in spec:
            raise self.fail(
                "keep_alive.register", f"missing (a {action} keep-alive names its register)"
            )
        return self.register_name(
            spec["register"],
            "keep_alive.register",
            readable=action == "read",
            writable=action == "write",
        )

    def _keep_alive_value(self, spec: dict[str, Any], action: KeepAliveAction) -> float | None:
        """What a ``write`` keep-alive writes: a number, or None for the failsafe timeout."""
        if action != "write":
            if "value" in spec:
                raise self.fail("keep_alive.value", f"a {action} keep-alive writes no value")
            return None
        raw_value = spec.get("value")
        if raw_value == "failsafe_timeout":
            return None
        if raw_value is None:
            raise self.fail("keep_alive.value", "missing (a number, or failsafe_timeout)")
        return self.number(raw_value, "keep_alive.value")

    def hooks(self, value: object, keep_alive: KeepAlive) -> tuple[str, ...]:
        names = self.texts(value, "hooks")
        for i, name in enumerate(names):
            hook = HOOKS.get(name)
            if hook is None:
                raise self.fail(
                    f"hooks[{i}]", f"unknown hook {name!r} (known: {', '.join(sorted(HOOKS))})"
                )
            if hook.keep_alive is not None and (
                keep_alive.action != "write" or keep_alive.value is None
            ):
                raise self.fail(
                    f"hooks[{i}]", f"hook {name!r} replaces a write keep-alive with a value"
                )
        return names

    def startup(self, value: object) -> tuple[StartupWrite, ...]:
        if not isinstance(value, list):
            raise self.fail("startup", f"expected a list of writes, got {kind_of(value)}")
        writes = []
        for i, item in enumerate(value):
            spec = self.mapping(item, f"startup[{i}]", {"register", "value"}, {"register", "value"})
            writes.append(
                StartupWrite(
                    self.register_name(spec["register"], f"startup[{i}].register", writable=True),
                    self.number(spec["value"], f"startup[{i}].value"),
                )
            )
        return tuple(writes)
