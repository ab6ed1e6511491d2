"""A charger profile's ``phase_switch`` section (issue 19): how the box's own firmware is told
to charge on one or three phases, how to read back what it did, and its own wait times.

Only boxes whose firmware runs the stop, switch and restart itself are switched
(docs/phase-switching.md); an external contactor is never driven. Parsed here so that the
profile loader stays one reader of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the reader's module imports the profile's model, which imports this
    from loadbalancer.chargers.profile.registers import RegisterReader

_KEYS = {
    "register",
    "one_phase",
    "three_phase",
    "readback",
    "stop_timeout_s",
    "switch_wait_s",
    "resume_timeout_s",
    "verified",
    "unverified",
}
_READBACK_KEYS = {"register", "one_phase", "three_phase"}


@dataclass(frozen=True, slots=True)
class PhaseSwitch:
    """Write ``one_phase`` or ``three_phase`` to ``register``; read ``readback`` (its values
    ``readback_one`` / ``readback_three``) to see what the box did.

    ``stop_timeout_s``: how long a car may take to stop drawing after 0 A (IEC 61851-1 gives it
    a few seconds) before the switch is given up; ``switch_wait_s``: the box's own time after
    the switch before it offers current again; ``resume_timeout_s``: a car that drew before and
    draws nothing this long after the box offers current again has not resumed.
    ``verified``: seen working on a real box; ``unverified`` says what is not.
    """

    register: str
    one_phase: float
    three_phase: float
    readback: str
    readback_one: float
    readback_three: float
    stop_timeout_s: float = 10.0
    switch_wait_s: float = 5.0
    resume_timeout_s: float = 60.0
    verified: bool = False
    unverified: str = ""

    def value_for(self, count: int) -> float:
        """What to write for ``count`` phases."""
        return self.one_phase if count == 1 else self.three_phase

    def count_of(self, raw: float | None) -> int | None:
        """The phase count a read-back value means (None: neither)."""
        if raw == self.readback_one:
            return 1
        if raw == self.readback_three:
            return 3
        return None


def read_phase_switch(reader: RegisterReader, value: object) -> PhaseSwitch:
    """The ``phase_switch`` section, each key checked against the profile's registers."""
    path = "phase_switch"
    spec = reader.mapping(value, path, _KEYS, {"register", "one_phase", "three_phase"})
    register = reader.register_name(spec["register"], f"{path}.register", writable=True)
    one = reader.number(spec["one_phase"], f"{path}.one_phase")
    three = reader.number(spec["three_phase"], f"{path}.three_phase")
    if one == three:
        raise reader.fail(f"{path}.three_phase", "must differ from one_phase")
    readback = _readback(reader, spec, register, one, three)
    return PhaseSwitch(
        register,
        one,
        three,
        *readback,
        stop_timeout_s=reader.number(
            spec.get("stop_timeout_s", 10), f"{path}.stop_timeout_s", 1, 120
        ),
        switch_wait_s=reader.number(spec.get("switch_wait_s", 5), f"{path}.switch_wait_s", 0, 600),
        resume_timeout_s=reader.number(
            spec.get("resume_timeout_s", 60), f"{path}.resume_timeout_s", 1, 1800
        ),
        verified=reader.flag(spec.get("verified", False), f"{path}.verified"),
        unverified=reader.text(spec["unverified"], f"{path}.unverified")
        if "unverified" in spec
        else "",
    )


def _readback(
    reader: RegisterReader, spec: dict[str, Any], register: str, one: float, three: float
) -> tuple[str, float, float]:
    """The read-back register and its values: the written register by default."""
    path = "phase_switch.readback"
    if "readback" not in spec:
        if not reader.registers[register].readable:
            raise reader.fail(path, f"missing ({register!r} cannot be read back)")
        return register, one, three
    raw = reader.mapping(spec["readback"], path, _READBACK_KEYS, {"register"})
    name = reader.register_name(raw["register"], f"{path}.register", readable=True)
    read_one = reader.number(raw.get("one_phase", one), f"{path}.one_phase")
    read_three = reader.number(raw.get("three_phase", three), f"{path}.three_phase")
    if read_one == read_three:
        raise reader.fail(f"{path}.three_phase", "must differ from one_phase")
    return name, read_one, read_three
