"""The Modbus TCP charger driver: the only module that imports the pymodbus client.

One :class:`ChargerClient` per box (host, port, unit id) and profile. It sends one request at a
time (an ``asyncio.Lock``: some boxes serve two masters at most, some cannot read blocks), puts
its own timeouts around connect and every request, drops the connection after a timeout or a
lost connection and opens it again on the next call, with back-off between failed attempts.
Errors are leaves of ``ChargerError`` that name the box, the register and what went wrong.

pymodbus's own reconnect and retries are switched off: the service decides when to try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from loadbalancer.chargers.codec import Value, quantise_down
from loadbalancer.chargers.hooks import HOOKS
from loadbalancer.chargers.profile import ChargerProfile, CodeMap, FailsafeValue, Register
from loadbalancer.chargers.readplan import ReadBlock, plan_reads
from loadbalancer.errors import (
    ChargerBadValue,
    ChargerExceptionReply,
    ChargerTimeout,
    ChargerUnreachable,
    ChargerUnsupported,
    ChargerWrongAnswer,
)
from loadbalancer.meter.sources import Backoff

#: A LAN box answers in milliseconds; seconds mean it is gone or busy with another master.
DEFAULT_CONNECT_TIMEOUT_S = 3.0
DEFAULT_REQUEST_TIMEOUT_S = 2.0
#: Back-off between failed connection attempts (doubles up to the maximum).
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
#: A phase counts as in use above this current (evcc ``minActiveCurrent``).
PHASE_ACTIVE_CURRENT_A = 1.0
#: Modbus exception "illegal data address": the box lacks an optional register.
ILLEGAL_DATA_ADDRESS = 2
#: Exceptions to a write that mean a missing licence or mode (the profile's prerequisites):
#: "illegal function" and "illegal data address". A busy or failing box is not one of them.
PREREQUISITE_EXCEPTIONS = (1, 2)
#: pymodbus's words for an answer to another request (transaction/transaction.py)
_WRONG_ID = re.compile(
    r"uses (?P<field>device|transaction) id=(?P<want>\d+) but received (?P<got>\d+)"
)

# pymodbus logs connection failures as warnings; we raise typed errors instead, and a command
# line must not get a stray log line on stderr (Python's last-resort handler).
logging.getLogger("pymodbus").addHandler(logging.NullHandler())

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class FailsafeSettings:
    """The box's own fallback: current and timeout, None where unknown."""

    current_a: float | None
    timeout_s: float | None


@dataclass(frozen=True, slots=True)
class ChargerReading:
    """One poll of a box."""

    status: str | None  # IEC 61851 letter A-F, None when the box's code is not in the profile
    status_raw: str | None  # the box's own code(s), e.g. "C2", "3", "7/3"
    #: charger phase order; None where the box says "not available" (NaN, inf, a sentinel)
    current_a: tuple[float | None, float | None, float | None]
    limit_a: float | None  # the limit the box applies, where it says
    phases: int | None  # phases in use
    max_current_a: float | None  # hardware maximum, where the box says
    failsafe: FailsafeSettings

    def to_record(self, profile: str) -> dict[str, Any]:
        """The ``charger --json`` object."""
        return {
            "profile": profile,
            "status": self.status,
            "status_raw": self.status_raw,
            "current_a": [_rounded(value) for value in self.current_a],
            "limit_a": _rounded(self.limit_a),
            "phases": self.phases,
            "max_current_a": _rounded(self.max_current_a),
            "failsafe": {
                "current_a": _rounded(self.failsafe.current_a),
                "timeout_s": _rounded(self.failsafe.timeout_s),
            },
        }


@dataclass(frozen=True, slots=True)
class FailsafeResult:
    """What ``configure_failsafe`` achieved."""

    settable: bool  # the profile can write both the current and the timeout
    verified: bool  # written and read back equal to what was asked
    settings: FailsafeSettings  # as read back from the box (or the profile's defaults)
    reason: str  # one line for the log when not verified


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class ChargerClient:
    """Talks to one wallbox with one profile."""

    def __init__(
        self,
        profile: ChargerProfile,
        host: str,
        port: int | None = None,
        unit_id: int | None = None,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.profile = profile
        self._sleep = sleep
        self.host = host
        self.port = profile.transport.port if port is None else port
        self.unit_id = profile.transport.unit_id if unit_id is None else unit_id
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.endpoint = f"{host}:{self.port} unit {self.unit_id}"
        self._clock = clock
        self._lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self._lost: asyncio.Future[None] | None = None
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._next_attempt_s = -math.inf
        self._last_failure = ""
        self._last_hint = ""  # the prerequisites, after a refused connection only
        self._last_request_s = -math.inf
        self._last_write_s = -math.inf
        self._sent_tid: int | None = None
        self._wrong_answer: tuple[str, int, int] | None = None  # (field, expected, got)
        self._last_limit_a: float | None = None
        self._failsafe_timeout_s: float | None = _default(profile.failsafe.timeout)
        hook = next((HOOKS[name] for name in profile.hooks if HOOKS[name].keep_alive), None)
        self._keep_alive_hook = hook.keep_alive if hook is not None else None

    # ---- connection --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the connection (and run the profile's start-up writes) unless it is open."""
        async with self._lock:
            await self._ensure_connected()

    async def close(self) -> None:
        async with self._lock:
            self._drop()

    async def __aenter__(self) -> ChargerClient:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._lost = None

    async def _ensure_connected(self) -> None:
        if self.connected:
            return
        self._drop()
        now = self._clock()
        if now < self._next_attempt_s:
            raise ChargerUnreachable(
                self.endpoint,
                f"{self._last_failure}; next attempt in {self._next_attempt_s - now:.1f} s",
                self._last_hint,
            )
        try:
            await self._open()
            for write in self.profile.startup:
                await self._write_locked(self.profile.register(write.register), write.value)
        except ChargerUnreachable as exc:
            self._failed(exc.reason, exc.hint)
            raise
        except ChargerTimeout as exc:
            self._failed(f"no answer to {exc.what} within {exc.timeout_s:g} s")
            raise
        except ChargerExceptionReply as exc:
            # a refused start-up write leaves the box half set up: try it all again later
            self._failed(f"start-up write refused: {exc.register}: {exc.meaning}")
            raise
        self._next_attempt_s = -math.inf

    def _failed(self, reason: str, hint: str = "") -> None:
        """A connection attempt or a request on an open connection failed: drop the connection
        and wait a growing back-off before the next attempt (some boxes refuse reconnects, Alfen
        serves two masters at most). Only an answer resets the back-off."""
        self._last_failure = reason
        self._last_hint = hint
        self._next_attempt_s = self._clock() + self._backoff.next_delay_s()
        self._drop()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()

        def on_connect(up: bool) -> None:
            if not up and not lost.done():
                lost.set_result(None)

        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            name=f"charger {self.endpoint}",
            reconnect_delay=0,  # we reconnect, with our own back-off
            retries=0,
            # our own timeouts fire first; pymodbus's are a backstop
            timeout=max(self.connect_timeout_s, self.request_timeout_s) + 1.0,
            trace_connect=on_connect,
            trace_packet=self._trace_packet,
        )
        failure: list[OSError] = []
        create = client.ctx.call_create

        async def create_and_keep_error() -> Any:
            # pymodbus swallows the OSError of a failed connect; keep it for the message
            try:
                return await create()
            except OSError as exc:
                failure.append(exc)
                raise

        client.ctx.call_create = create_and_keep_error
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                ok = await client.connect()
        except TimeoutError as exc:
            client.close()
            raise ChargerTimeout(self.endpoint, "connect", self.connect_timeout_s) from exc
        if not ok:
            client.close()
            if failure and isinstance(failure[0], ConnectionRefusedError):
                raise ChargerUnreachable(self.endpoint, "connection refused", self._refused_hint())
            reason = (failure[0].strerror or str(failure[0])) if failure else "no answer"
            raise ChargerUnreachable(self.endpoint, f"cannot connect: {reason}")
        self._client = client
        self._lost = lost

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        """Watch the MBAP headers: pymodbus drops an answer with a wrong unit or transaction id
        without a word, which would read as "no answer"; remember what came instead."""
        if len(data) >= 7:
            tid, unit = int.from_bytes(data[0:2], "big"), data[6]
            if sending:
                self._sent_tid = tid
            elif unit != self.unit_id:
                self._wrong_answer = ("unit", self.unit_id, unit)
            elif self._sent_tid is not None and tid != self._sent_tid:
                self._wrong_answer = ("transaction", self._sent_tid, tid)
        return data

    def _wrong_answer_since_send(self) -> tuple[str, int, int] | None:
        return self._wrong_answer

    def _refused_hint(self) -> str:
        return self.profile.prerequisites_hint()

    # ---- one request -------------------------------------------------------------------------

    async def _pace(self, write: bool) -> None:
        """Keep the box's pace: ``min_request_interval_s`` between any two requests and
        ``min_write_interval_s`` between two writes (KEBA P40: one write every 5 s)."""
        transport = self.profile.transport
        due_s = self._last_request_s + transport.min_request_interval_s
        if write:
            due_s = max(due_s, self._last_write_s + transport.min_write_interval_s)
        wait_s = due_s - self._clock()
        if wait_s > 0:
            await self._sleep(wait_s)

    async def _send(
        self,
        what: str,
        call: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]],
        *,
        write: bool = False,
    ) -> ModbusPDU:
        """One request on the open connection (the caller holds the lock)."""
        client, lost = self._client, self._lost
        if client is None or lost is None:
            raise ChargerUnreachable(self.endpoint, "not connected")
        await self._pace(write)
        self._wrong_answer = None
        request = asyncio.ensure_future(call(client))
        waited: list[asyncio.Future[Any]] = [request, lost]
        try:
            done, _pending = await asyncio.wait(
                waited, timeout=self.request_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            # our caller is cancelled (shutdown): take the request down with it
            request.cancel()
            self._drop()
            raise
        finally:
            self._last_request_s = self._clock()
            if write:
                self._last_write_s = self._last_request_s
        if request not in done:
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, ModbusException):
                await request
            if lost.done():
                reason = f"connection closed by the charger ({what})"
                self._failed(reason)
                raise ChargerUnreachable(self.endpoint, reason)
            wrong = self._wrong_answer_since_send()
            if wrong is not None:
                error = ChargerWrongAnswer(self.endpoint, what, *wrong)
                self._failed(str(error).removeprefix(f"charger {self.endpoint}: "))
                raise error
            self._failed(f"no answer to {what} within {self.request_timeout_s:g} s")
            raise ChargerTimeout(self.endpoint, what, self.request_timeout_s)
        try:
            response = request.result()
        except (ConnectionException, ModbusIOException) as exc:
            mixed = _WRONG_ID.search(str(exc))
            if mixed is not None:
                field = "unit" if mixed["field"] == "device" else "transaction"
                error = ChargerWrongAnswer(
                    self.endpoint, what, field, int(mixed["want"]), int(mixed["got"])
                )
                self._failed(str(error).removeprefix(f"charger {self.endpoint}: "))
                raise error from exc
            self._failed(f"connection lost ({what})")
            raise ChargerUnreachable(self.endpoint, f"connection lost ({what}): {exc}") from exc
        self._backoff.reset()  # it answered
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            writing = what.startswith("writing")
            hint = self._refused_hint() if writing and code in PREREQUISITE_EXCEPTIONS else ""
            raise ChargerExceptionReply(self.endpoint, what, code, hint)
        return response

    async def _read_block(self, block: ReadBlock) -> list[int]:
        names = ", ".join(register.describe() for register in block.registers)
        what = f"reading {names}"
        unit = self.unit_id
        if block.table == "holding":
            response = await self._send(
                what,
                lambda c: c.read_holding_registers(
                    block.address, count=block.count, device_id=unit
                ),
            )
        else:
            response = await self._send(
                what,
                lambda c: c.read_input_registers(block.address, count=block.count, device_id=unit),
            )
        words = list(response.registers)
        if len(words) != block.count:
            raise ChargerBadValue(
                f"charger {self.endpoint}: {what}: {len(words)} registers in the answer, "
                f"expected {block.count}"
            )
        return words

    async def _write_locked(self, register: Register, value: float | str) -> None:
        try:
            words = register.codec.encode(value)
        except ChargerBadValue as exc:
            raise ChargerBadValue(f"charger {self.endpoint}: {register.describe()}: {exc}") from exc
        what = f"writing {register.describe()}"
        unit = self.unit_id
        if register.write_fc == 6:
            await self._send(
                what,
                lambda c: c.write_register(register.address, words[0], device_id=unit),
                write=True,
            )
        else:
            await self._send(
                what,
                lambda c: c.write_registers(register.address, list(words), device_id=unit),
                write=True,
            )

    async def _read_locked(self, registers: list[Register], *, optional: bool) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for block in plan_reads(registers, self.profile.transport):
            try:
                words = await self._read_block(block)
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
        async with self._lock:
            await self._ensure_connected()
            return await self._read_locked(registers, optional=optional)

    async def read_value(self, name: str) -> Value:
        return (await self.read_values([name]))[name]

    async def write_value(self, name: str, value: float | str) -> None:
        register = self.profile.register(name)
        async with self._lock:
            await self._ensure_connected()
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
        async with self._lock:
            await self._ensure_connected()
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
        async with self._lock:
            await self._ensure_connected()
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

    async def configure_failsafe(self, current_a: float, timeout_s: float) -> FailsafeResult:
        """Write the box's failsafe current and timeout where the profile can, read them back."""
        failsafe = self.profile.failsafe
        if failsafe.trigger == "none":
            return FailsafeResult(
                False, False, FailsafeSettings(None, None), "the box has no failsafe of its own"
            )
        targets = [(failsafe.current, current_a), (failsafe.timeout, timeout_s)]
        settable = all(spec is not None and _writable(self.profile, spec) for spec, _ in targets)
        async with self._lock:
            await self._ensure_connected()
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
    active = sum(1 for value in current_a if value is not None and value > PHASE_ACTIVE_CURRENT_A)
    return active or None
