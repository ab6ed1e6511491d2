"""A Modbus TCP wallbox as a :class:`~loadbalancer.chargers.charger.Charger`: the device logic.

One :class:`ChargerClient` per box (host, port, unit id) and profile: the profile's registers
read and written over a :class:`~loadbalancer.chargers.modbus.ModbusConnection` (which alone
speaks pymodbus): the status, currents and limit, the set-point and the pause, the box's own
failsafe and the keep-alive that holds it off, and the hooks a profile names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from loadbalancer.backoff import BACKOFF_INITIAL_S, BACKOFF_MAX_S, Backoff
from loadbalancer.chargers.charger import ChargerReading, FailsafeResult, FailsafeSettings
from loadbalancer.chargers.codec import Value, quantise_down
from loadbalancer.chargers.hooks import HOOKS
from loadbalancer.chargers.modbus import (
    CONNECT_TIMEOUT_S,
    ILLEGAL_DATA_ADDRESS,
    REQUEST_TIMEOUT_S,
    ModbusConnection,
)
from loadbalancer.chargers.profile import ChargerProfile, CodeMap, FailsafeValue, Register
from loadbalancer.chargers.readplan import ReadBlock, plan_reads
from loadbalancer.electric import PHASE_IN_USE_A
from loadbalancer.errors import ChargerBadValue, ChargerExceptionReply, ChargerUnsupported

Clock = Callable[[], float]


class ChargerClient:
    """Talks to one wallbox with one profile."""

    def __init__(
        self,
        profile: ChargerProfile,
        host: str,
        port: int | None = None,
        unit_id: int | None = None,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.profile = profile
        self.host = host
        self.port = profile.transport.port if port is None else port
        self.unit_id = profile.transport.unit_id if unit_id is None else unit_id
        self.modbus = ModbusConnection(
            host,
            self.port,
            self.unit_id,
            profile.transport,
            connect_timeout_s=connect_timeout_s,
            request_timeout_s=request_timeout_s,
            backoff=Backoff(backoff_initial_s, backoff_max_s),
            clock=clock,
            sleep=sleep,
            refused_hint=profile.prerequisites_hint(),
            on_open=self._startup_writes,
        )
        self.endpoint = self.modbus.endpoint
        self._last_limit_a: float | None = None
        #: the read requests of each set of registers asked for (by name): a poll asks for the
        #: same ones every time
        self._plans: dict[tuple[str, ...], list[ReadBlock]] = {}
        self._failsafe_timeout_s: float | None = _default(profile.failsafe.timeout)
        hook = next((HOOKS[name] for name in profile.hooks if HOOKS[name].keep_alive), None)
        self._keep_alive_hook = hook.keep_alive if hook is not None else None

    # ---- connection --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.modbus.connected

    @property
    def connect_timeout_s(self) -> float:
        return self.modbus.connect_timeout_s

    @connect_timeout_s.setter
    def connect_timeout_s(self, value: float) -> None:
        self.modbus.connect_timeout_s = value

    @property
    def request_timeout_s(self) -> float:
        return self.modbus.request_timeout_s

    @request_timeout_s.setter
    def request_timeout_s(self, value: float) -> None:
        self.modbus.request_timeout_s = value

    async def connect(self) -> None:
        """Open the connection (and run the profile's start-up writes) unless it is open."""
        async with self.modbus.session():
            pass

    async def close(self) -> None:
        await self.modbus.close()

    async def __aenter__(self) -> ChargerClient:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _startup_writes(self) -> None:
        for write in self.profile.startup:
            await self._write_locked(self.profile.register(write.register), write.value)

    async def _write_locked(self, register: Register, value: float | str) -> None:
        try:
            words = register.codec.encode(value)
        except ChargerBadValue as exc:
            raise ChargerBadValue(f"charger {self.endpoint}: {register.describe()}: {exc}") from exc
        await self.modbus.write_words(register, words)

    async def _read_locked(self, registers: list[Register], *, optional: bool) -> dict[str, Value]:
        values: dict[str, Value] = {}
        key = tuple(register.name for register in registers)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_reads(registers, self.profile.transport)
        for block in plan:
            try:
                words = await self.modbus.read_block(block)
            except ChargerExceptionReply as exc:
                if optional and exc.exception_code == ILLEGAL_DATA_ADDRESS:
                    values.update({register.name: None for register in block.registers})
                    continue
                raise
            for register in block.registers:
                values[register.name] = register.codec.decode(block.slice_of(register, words))
        return values

    # ---- register access (also what hooks use) -----------------------------------------------

    async def read_values(self, names: list[str], *, optional: bool = False) -> dict[str, Value]:
        """Decoded values of the named registers; ``optional``: absent ones read as None."""
        registers = [self.profile.register(name) for name in names]
        async with self.modbus.session():
            return await self._read_locked(registers, optional=optional)

    async def read_value(self, name: str) -> Value:
        return (await self.read_values([name]))[name]

    async def write_value(self, name: str, value: float | str) -> None:
        register = self.profile.register(name)
        async with self.modbus.session():
            await self._write_locked(register, value)

    # ---- what the service uses ---------------------------------------------------------------

    async def read(self, *, failsafe: bool = True) -> ChargerReading:
        """Status, per-phase currents, applied limit, phases, hardware maximum and failsafe.

        ``failsafe=False`` skips the failsafe read-backs (fewer requests for a fast poll); the
        reading then carries the last known failsafe timeout and the profile's defaults.
        """
        readings = self.profile.readings
        status = readings.status
        required = [*readings.current_a, status.main.register]
        if status.override is not None:
            required.append(status.override.register)
        optional = [
            name
            for name in (
                readings.limit_a,
                readings.phases.register if readings.phases else None,
                readings.max_current_a,
                *(_readbacks(self.profile) if failsafe else []),
            )
            if name is not None and name not in required
        ]
        async with self.modbus.session():
            values = await self._read_locked(
                [self.profile.register(name) for name in required], optional=False
            )
            if optional:
                values.update(
                    await self._read_locked(
                        [self.profile.register(name) for name in optional], optional=True
                    )
                )
        current_a = tuple(_number(values[name]) for name in readings.current_a)
        letter, raw = _status(values, status.main, status.override)
        phases = _phases(values, readings.phases, current_a)
        settings = self._failsafe_settings(values)
        if failsafe and settings.timeout_s:  # the box's own word beats the profile's default
            self._failsafe_timeout_s = settings.timeout_s
        elif not failsafe:
            settings = FailsafeSettings(settings.current_a, self._failsafe_timeout_s)
        return ChargerReading(
            status=letter,
            status_raw=raw,
            current_a=(current_a[0], current_a[1], current_a[2]),
            limit_a=_number(values[readings.limit_a]) if readings.limit_a else None,
            phases=phases,
            max_current_a=(
                _number(values[readings.max_current_a]) if readings.max_current_a else None
            ),
            failsafe=settings,
        )

    def allowed_limit_a(self, current_a: float) -> float:
        """What ``write_limit(current_a)`` would write (see ``Setpoint.allowed_a``)."""
        try:
            return self.profile.setpoint.allowed_a(current_a)
        except ValueError as exc:
            raise ChargerBadValue(f"charger {self.endpoint}: {exc}") from exc

    async def write_limit(self, current_a: float) -> float:
        """Offer ``current_a`` to the car; returns what was written (see ``allowed_limit_a``).

        0 pauses: the set-point 0, or the profile's enable register; a box that cannot pause
        raises ChargerUnsupported. With an enable register, every non-zero limit also writes
        "enabled" (KEBA needs current and enable again after a failsafe trip).
        """
        value = self.allowed_limit_a(current_a)
        setpoint = self.profile.setpoint
        register = self.profile.register(setpoint.register)
        pause = setpoint.pause
        async with self.modbus.session():
            if value == 0.0 and pause.kind == "none":
                raise ChargerUnsupported(
                    f"charger {self.endpoint}: profile {self.profile.name} cannot pause"
                )
            if pause.kind == "register":
                assert pause.register is not None
                enable = self.profile.register(pause.register)
                if value == 0.0:
                    await self._write_locked(enable, pause.disable_value)
                else:
                    await self._write_locked(register, value)
                    await self._write_locked(enable, pause.enable_value)
            else:
                await self._write_locked(register, value)
        self._last_limit_a = value
        return value

    async def write_phases(self, count: int) -> None:
        """Tell the box's firmware to charge on ``count`` (1 or 3) phases (issue 19): one write
        of the profile's ``phase_switch`` register. The caller has stopped the car first."""
        switch = self.profile.phase_switch
        if switch is None:
            raise ChargerUnsupported(
                f"charger {self.endpoint}: profile {self.profile.name} cannot switch phases"
            )
        await self.write_value(switch.register, switch.value_for(count))

    async def read_phases(self) -> int | None:
        """The phase count the box's read-back says (None: neither 1 nor 3, or no section)."""
        switch = self.profile.phase_switch
        if switch is None:
            return None
        return switch.count_of(_number(await self.read_value(switch.readback)))

    async def configure_failsafe(self, current_a: float, timeout_s: float) -> FailsafeResult:
        """Write the box's failsafe current and timeout where the profile can, read them back."""
        failsafe = self.profile.failsafe
        if failsafe.trigger == "none":
            return FailsafeResult(
                False, False, FailsafeSettings(None, None), "the box has no failsafe of its own"
            )
        targets = [(failsafe.current, current_a), (failsafe.timeout, timeout_s)]
        settable = all(spec is not None and _writable(self.profile, spec) for spec, _ in targets)
        async with self.modbus.session():
            expected: list[float | None] = []
            for spec, value in targets:
                if spec is None or not _writable(self.profile, spec):
                    expected.append(None)
                    continue
                assert spec.register is not None
                register = self.profile.register(spec.register)
                if (spec.min is not None and value < spec.min) or (
                    spec.max is not None and value > spec.max
                ):
                    raise ChargerBadValue(
                        f"charger {self.endpoint}: {register.describe()}: {value:g} is outside "
                        f"{spec.min if spec.min is not None else ''}.."
                        f"{spec.max if spec.max is not None else ''}"
                    )
                rounded = quantise_down(value, register.codec.scale)
                await self._write_locked(register, rounded)
                expected.append(rounded)
            readbacks = _readbacks(self.profile)
            values = (
                await self._read_locked(
                    [self.profile.register(name) for name in readbacks], optional=True
                )
                if readbacks
                else {}
            )
        settings = self._failsafe_settings(values)
        read = [settings.current_a, settings.timeout_s]
        mismatches = [
            f"{what} reads {got} instead of {want:g}"
            for what, want, got in zip(("current", "timeout"), expected, read, strict=True)
            if want is not None and (got is None or abs(got - want) > 1e-6)
        ]
        if not settable:
            reason = (
                f"profile {self.profile.name} cannot set the failsafe: "
                f"{failsafe.note or 'set it on the box'}"
            )
        elif mismatches:
            reason = "; ".join(mismatches)
        else:
            reason = ""
        if settable and not mismatches and _writable_timeout(self.profile):
            self._failsafe_timeout_s = timeout_s
        elif settings.timeout_s is not None:
            self._failsafe_timeout_s = settings.timeout_s
        return FailsafeResult(settable, settable and not mismatches, settings, reason)

    @property
    def failsafe_timeout_s(self) -> float | None:
        """The box's failsafe timeout as last configured or read (else the profile default)."""
        return self._failsafe_timeout_s

    @property
    def keep_alive_interval_s(self) -> float | None:
        """How often the service must call ``keep_alive()`` (<= half the box's timeout)."""
        return self.profile.keep_alive.interval_s(self._failsafe_timeout_s)

    async def keep_alive(self) -> None:
        """Hold the box's failsafe off: what the profile says (life bit, set-point, a read)."""
        keep = self.profile.keep_alive
        if keep.action == "none":
            return
        if keep.action == "rewrite_setpoint":
            if self._last_limit_a is not None:
                await self.write_limit(self._last_limit_a)
            return
        assert keep.register is not None
        if keep.action == "read":
            await self.read_value(keep.register)
            return
        value = keep.value if keep.value is not None else self._failsafe_timeout_s
        if value is None:
            return  # writes the box's timeout, which is not known yet: nothing to hold
        if self._keep_alive_hook is not None:
            await self._keep_alive_hook(self, keep.register, value)
        else:
            await self.write_value(keep.register, value)

    def _failsafe_settings(self, values: dict[str, Value]) -> FailsafeSettings:
        failsafe = self.profile.failsafe
        return FailsafeSettings(
            _setting(values, failsafe.current), _setting(values, failsafe.timeout)
        )


def _default(spec: FailsafeValue | None) -> float | None:
    return None if spec is None else spec.default


def _writable(profile: ChargerProfile, spec: FailsafeValue) -> bool:
    return spec.register is not None and profile.register(spec.register).writable


def _writable_timeout(profile: ChargerProfile) -> bool:
    spec = profile.failsafe.timeout
    return spec is not None and _writable(profile, spec)


def _readbacks(profile: ChargerProfile) -> list[str]:
    specs = (profile.failsafe.current, profile.failsafe.timeout)
    return [spec.readback for spec in specs if spec is not None and spec.readback is not None]


def _setting(values: dict[str, Value], spec: FailsafeValue | None) -> float | None:
    """A failsafe value as read back; the profile's default where unreadable or 0 = unset."""
    if spec is None:
        return None
    if spec.readback is not None:
        value = _number(values.get(spec.readback))
        if value is not None and (value != 0 or spec.default is None):
            return value
    return spec.default


def _number(value: Value) -> float | None:
    if value is None or isinstance(value, str):
        return None
    return value


def _raw_code(value: Value) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return int(value) if float(value).is_integer() else None


def _status(
    values: dict[str, Value], main: CodeMap, override: CodeMap | None
) -> tuple[str | None, str | None]:
    main_raw = _raw_code(values[main.register])
    letter = None if main_raw is None else main.lookup(main_raw)
    raw_parts = [str(None if main_raw is None else main.extract(main_raw))]
    if override is not None:
        override_raw = _raw_code(values[override.register])
        raw_parts.append(str(None if override_raw is None else override.extract(override_raw)))
        override_letter = None if override_raw is None else override.lookup(override_raw)
        # the override says "charging" only with a car connected; errors always count
        if override_letter is not None and (letter not in (None, "A") or override_letter in "EF"):
            letter = override_letter
    return letter, "/".join(raw_parts) if main_raw is not None else None


def _phases(
    values: dict[str, Value], phases: CodeMap | None, current_a: tuple[float | None, ...]
) -> int | None:
    if phases is not None:
        raw = _raw_code(values.get(phases.register))
        meaning = None if raw is None else phases.lookup(raw)
        if meaning is not None:
            return int(meaning)
    active = sum(1 for value in current_a if value is not None and value > PHASE_IN_USE_A)
    return active or None
