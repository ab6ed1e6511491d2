"""Charger profiles: a declarative YAML file per wallbox model, validated on load.

:mod:`.model` holds the types a loaded profile is made of, :mod:`.loader` reads a bundled name or
a file into them (with :mod:`.registers` for the register map). Every problem is a
``ConfigError`` naming the file and the key path, e.g.
``alfen-eve.yaml: registers.setpoint.type: unknown type 'uint12'``.
"""

from loadbalancer.chargers.profile.loader import load_profile, parse_profile
from loadbalancer.chargers.profile.model import (
    IEC_LETTERS,
    MODBUS_MAX_READ_REGISTERS,
    UNITS,
    Access,
    ChargerProfile,
    CodeMap,
    Failsafe,
    FailsafeTrigger,
    FailsafeValue,
    KeepAlive,
    KeepAliveAction,
    Pause,
    PauseKind,
    RawCode,
    Readings,
    Register,
    Setpoint,
    StartupWrite,
    StatusMap,
    Table,
    Transport,
)

__all__ = [
    "IEC_LETTERS",
    "MODBUS_MAX_READ_REGISTERS",
    "UNITS",
    "Access",
    "ChargerProfile",
    "CodeMap",
    "Failsafe",
    "FailsafeTrigger",
    "FailsafeValue",
    "KeepAlive",
    "KeepAliveAction",
    "Pause",
    "PauseKind",
    "RawCode",
    "Readings",
    "Register",
    "Setpoint",
    "StartupWrite",
    "StatusMap",
    "Table",
    "Transport",
    "load_profile",
    "parse_profile",
]
