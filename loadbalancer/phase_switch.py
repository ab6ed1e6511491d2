"""The shell's 1p/3p switching sequence for one charger (issue 19), run by its link.

When the core's ``phase_count`` for a box differs from what the box reads back, the link's
write task runs :meth:`PhaseSequence.run` instead of its next write (docs/phase-switching.md
§The sequence):

1. offer 0 A (the core's switch decision is a pause; written again here);
2. wait until the car draws less than :data:`STOPPED_BELOW_A` on every phase in a reading taken
   after the 0 A (an OCPP box is asked for MeterValues), at most the profile's
   ``stop_timeout_s``: a car that keeps drawing is not switched;
3. only then write the phase register (through the driver, the box's own firmware: never an
   external contactor), or an OCPP box's 0-A profile with the new ``numberPhases``
   (:mod:`loadbalancer.ocpp.phases`, which refuses it under load itself);
4. read the register back until it says the new count, at most the profile's ``switch_wait_s``,
   and wait out the rest of that time (the box's own);
5. hand back to the link: the core resumes the car on its new phases (at least its minimum).

A box that refuses (an exception, or a read-back that stays) or a car that keeps drawing ends
the switching for the session (``phase_switch_failed``); a car that drew before the switch and
draws nothing ``resume_timeout_s`` after the box offers current again is reported
(``phase_switch_no_resume``) and ends it too; so does a box switched to one phase whose car then
draws on more (it kept its phases: ``phase_switch_failed``). Unplugging (status A) starts a new
session.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol, cast, runtime_checkable

from loadbalancer.chargers.charger import Charger, PhaseSwitching
from loadbalancer.config import ChargerConfig
from loadbalancer.control.inputs import ChargerRead
from loadbalancer.electric import PHASE_IN_USE_A
from loadbalancer.errors import ChargerError
from loadbalancer.logwriter import DecisionLog

Clock = Callable[[], float]

#: a car counts as stopped when it draws less than this on every phase
STOPPED_BELOW_A = PHASE_IN_USE_A
#: how often the sequence reads the box while it waits
SEQUENCE_POLL_S = 0.5
#: how often it asks a box that reports on its own (OCPP MeterValues) for a reading meanwhile
ASK_EVERY_S = 2.0


class SwitchTimes(Protocol):
    """A profile's ``phase_switch`` times (a Modbus or an OCPP profile's)."""

    @property
    def stop_timeout_s(self) -> float: ...
    @property
    def switch_wait_s(self) -> float: ...
    @property
    def resume_timeout_s(self) -> float: ...


class _SwitchCharger(Charger, PhaseSwitching, Protocol):
    """A charger that can switch phases (a profile with a ``phase_switch`` section)."""


@runtime_checkable
class _AsksReadings(Protocol):
    """A charger whose readings come when the box sends them; it can ask for one."""

    async def ask_reading(self) -> None: ...


def phase_sequence(
    config: ChargerConfig, charger: Charger, log: DecisionLog, clock: Clock
) -> PhaseSequence | None:
    """The sequence of a charger the site switches and whose box can (else None)."""
    settings = getattr(getattr(config, "profile", None), "phase_switch", None)
    if settings is None or config.spec.phase_switch is None:
        return None
    if not isinstance(charger, PhaseSwitching):
        return None
    return PhaseSequence(config.name, settings, cast(_SwitchCharger, charger), log, clock)


@dataclass(eq=False)
class PhaseSequence:
    """What the shell knows of one box's phase switching, and its sequence."""

    name: str
    settings: SwitchTimes
    charger: _SwitchCharger
    log: DecisionLog
    clock: Clock
    poll_s: float = SEQUENCE_POLL_S
    #: the box's count as last read back (None: not read yet); the core's last count
    box_count: int | None = None
    wanted: int | None = None
    #: switching given up for this session (refused, car kept drawing, car did not resume)
    failed: bool = False
    #: the car drew before the last switch: it must draw again after the next offer
    must_resume: bool = False
    #: by when it must (set when the box offers current again after a switch)
    resume_by_s: float | None = None

    def booked(self, read: ChargerRead) -> ChargerRead:
        """``read`` with the box's phase count and whether switching was given up."""
        return replace(read, phase_count=self.box_count, phase_switch_failed=self.failed)

    def wants(self, count: int) -> bool:
        """The core's count for the box; True if a switch is now due."""
        self.wanted = count
        return self.due()

    def due(self) -> bool:
        known = self.box_count is not None and self.wanted is not None
        return known and self.wanted != self.box_count and not self.failed

    async def refresh(self) -> None:
        """Read what the box is set to (at each (re)connection)."""
        try:
            self.box_count = await self.charger.read_phases()
        except ChargerError as exc:
            self.log.record("phase_switch_failed", charger=self.name, error=str(exc), to_count=None)

    def offered(self, setpoint_a: float, now_s: float) -> None:
        """The link wrote ``setpoint_a``: after a switch, the car's time to resume starts."""
        if self.must_resume and setpoint_a > 0 and self.resume_by_s is None:
            self.resume_by_s = now_s + self.settings.resume_timeout_s

    def after_read(self, read: ChargerRead, now_s: float) -> bool:
        """Each poll: a session ends at status A; a car that has not resumed in time is
        reported. True when the core should decide again."""
        if read.status == "A":
            changed = self.failed
            self.failed, self.must_resume, self.resume_by_s = False, False, None
            return changed
        if self.box_count == 1 and _phases_drawn(read.measured_a) > 1:
            return self._kept_phases(read)
        if self.resume_by_s is None:
            return False
        if _drawing_a(read.measured_a) >= STOPPED_BELOW_A:
            self.must_resume, self.resume_by_s = False, None
            return False
        if now_s < self.resume_by_s:
            return False
        self.log.record(
            "phase_switch_no_resume",
            charger=self.name,
            phase_count=self.box_count,
            waited_s=self.settings.resume_timeout_s,
        )
        self.failed, self.must_resume, self.resume_by_s = True, False, None
        return True

    def _kept_phases(self, read: ChargerRead) -> bool:
        """Switched to one phase, the car draws on more: the box kept its phases (an OCPP box
        that accepted ``numberPhases`` and ignores it); counted on all from now on."""
        drawn = _phases_drawn(read.measured_a)
        self.log.record(
            "phase_switch_failed",
            charger=self.name,
            error=f"the car draws on {drawn} phases after a switch to one: the box kept them",
            to_count=1,
        )
        self.box_count, self.failed = len(read.measured_a), True
        self.must_resume, self.resume_by_s = False, None
        return True

    async def run(self, pause: Callable[[], Awaitable[None]]) -> None:
        """The sequence to the core's count; ``pause`` writes 0 A through the link."""
        assert self.wanted is not None
        target, start_s = self.wanted, self.clock()
        try:
            await pause()
            drawn_a = await self._stopped(start_s)
            self.must_resume = drawn_a is not None and drawn_a > 0
            if drawn_a is None:
                await self._give_up(target, "the car still draws after 0 A was offered")
                return
            self.log.record(
                "phase_switch_started",
                charger=self.name,
                from_count=self.box_count,
                to_count=target,
            )
            await self.charger.write_phases(target)
            written_s = self.clock()
            if not await self._read_back(target, written_s):
                await self._give_up(target, "the box's read-back did not change")
                return
        except ChargerError as exc:
            await self._give_up(target, str(exc))
            return
        self.box_count = target
        self.log.record(
            "phase_switch_done",
            charger=self.name,
            phase_count=target,
            took_s=round(self.clock() - start_s, 3),
        )

    async def _stopped(self, start_s: float) -> float | None:
        """What the car drew before it stopped (None: it did not stop in time). The last read
        before the switch shows it drawing nothing: the phase is never changed under load."""
        first_a: float | None = None
        paused_s, asked_s = self.clock(), -math.inf
        while True:
            reading = await self.charger.read(failsafe=False)
            drawn_a = _drawing_a(reading.current_a)
            first_a = drawn_a if first_a is None else first_a
            taken_s = reading.measured_at_s
            if drawn_a < STOPPED_BELOW_A and (taken_s is None or taken_s > paused_s):
                return first_a
            if self.clock() - start_s >= self.settings.stop_timeout_s:
                return None
            if isinstance(self.charger, _AsksReadings) and self.clock() - asked_s >= ASK_EVERY_S:
                asked_s = self.clock()
                await self.charger.ask_reading()
            await asyncio.sleep(self.poll_s)

    async def _read_back(self, target: int, written_s: float) -> bool:
        """Whether the box says ``target`` within its ``switch_wait_s``; then its wait is
        waited out."""
        wait_s = self.settings.switch_wait_s
        while (count := await self.charger.read_phases()) != target:
            if self.clock() - written_s >= wait_s:
                self.box_count = count
                return False
            await asyncio.sleep(self.poll_s)
        left_s = written_s + wait_s - self.clock()
        if left_s > 0:
            await asyncio.sleep(left_s)
        return True

    async def _give_up(self, target: int, why: str) -> None:
        """Switching ends for this session; what the box says it is set to stands."""
        self.failed, self.must_resume = True, False
        self.log.record("phase_switch_failed", charger=self.name, error=why, to_count=target)
        with contextlib.suppress(ChargerError):  # else as last known: booked on all its phases
            self.box_count = await self.charger.read_phases()


def _phases_drawn(currents_a: tuple[float, ...]) -> int:
    """On how many phases the car draws at least :data:`STOPPED_BELOW_A`."""
    return sum(1 for value in currents_a if value >= STOPPED_BELOW_A)


def _drawing_a(currents_a: tuple[float | None, ...]) -> float:
    """The largest phase current (a phase that says nothing counts as drawing)."""
    values = [math.inf if value is None or math.isnan(value) else value for value in currents_a]
    return max(values, default=0.0)
