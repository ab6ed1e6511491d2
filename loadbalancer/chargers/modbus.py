"""The Modbus TCP transport to one box: the only client-side module that imports pymodbus.

One :class:`ModbusConnection` per box (host, port, unit id). It sends one request at a time
(an ``asyncio.Lock``: some boxes serve two masters at most, some cannot read blocks), keeps the
box's pace, puts its own timeouts around connect and every request, drops the connection after
a timeout or a lost connection and opens it again on the next call, with back-off between
failed attempts. It reads blocks of words and writes words; what the words mean is the
device's business (:mod:`loadbalancer.chargers.driver`). Errors are leaves of ``ChargerError``
that name the box, the register and what went wrong.

pymodbus's own reconnect and retries are switched off: the service decides when to try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from loadbalancer.backoff import Backoff
from loadbalancer.chargers.profile import Register, Transport
from loadbalancer.chargers.readplan import ReadBlock
from loadbalancer.errors import (
    ChargerBadValue,
    ChargerExceptionReply,
    ChargerTimeout,
    ChargerUnreachable,
    ChargerWrongAnswer,
)

#: A LAN box answers in milliseconds; seconds mean it is gone or busy with another master.
#: The service, the probe and the tests start from these (the shutdown and the simulation set
#: their own).
CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 2.0
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
Sleep = Callable[[float], Awaitable[None]]
#: what runs on every new connection before any other request (the profile's start-up writes)
OnOpen = Callable[[], Awaitable[None]]


class ModbusConnection:
    """One box's connection: ``async with session():`` holds the lock on an open connection;
    inside it, ``read_block`` and ``write_words`` send one request each."""

    def __init__(
        self,
        host: str,
        port: int,
        unit_id: int,
        transport: Transport,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        backoff: Backoff | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        refused_hint: str = "",
        on_open: OnOpen | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.transport = transport
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.endpoint = f"{host}:{port} unit {unit_id}"
        self.refused_hint = refused_hint  # the prerequisites, named when the box refuses
        self._on_open = on_open
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self._lost: asyncio.Future[None] | None = None
        self._backoff = backoff if backoff is not None else Backoff()
        self._next_attempt_s = -math.inf
        self._last_failure = ""
        self._last_hint = ""  # the prerequisites, after a refused connection only
        self._last_request_s = -math.inf
        self._last_write_s = -math.inf
        self._sent_tid: int | None = None
        self._wrong_answer: tuple[str, int, int] | None = None  # (field, expected, got)

    # ---- connection --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """The lock, on an open connection (opened, with the start-up writes, if need be)."""
        async with self._lock:
            await self._ensure_connected()
            yield

    async def close(self) -> None:
        async with self._lock:
            self._drop()

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
            if self._on_open is not None:
                await self._on_open()
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
                raise ChargerUnreachable(self.endpoint, "connection refused", self.refused_hint)
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

    # ---- one request -------------------------------------------------------------------------

    async def _pace(self, write: bool) -> None:
        """Keep the box's pace: ``min_request_interval_s`` between any two requests and
        ``min_write_interval_s`` between two writes (KEBA P40: one write every 5 s)."""
        due_s = self._last_request_s + self.transport.min_request_interval_s
        if write:
            due_s = max(due_s, self._last_write_s + self.transport.min_write_interval_s)
        wait_s = due_s - self._clock()
        if wait_s > 0:
            await self._sleep(wait_s)

    async def _send(
        self,
        describe: Callable[[], str],
        call: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]],
        *,
        write: bool = False,
    ) -> ModbusPDU:
        """One request on the open connection (the caller holds the lock); ``describe`` says
        what it is, for an error (not built for the many requests that go through)."""
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
            await self._unanswered(request, lost, describe())
        try:
            response = request.result()
        except (ConnectionException, ModbusIOException) as exc:
            self._lost_in(exc, describe())
        self._backoff.reset()  # it answered
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            hint = self.refused_hint if write and code in PREREQUISITE_EXCEPTIONS else ""
            raise ChargerExceptionReply(self.endpoint, describe(), code, hint)
        return response

    async def _unanswered(
        self, request: asyncio.Future[ModbusPDU], lost: asyncio.Future[None], what: str
    ) -> NoReturn:
        """No answer in time: why (closed, an answer to another request, silence); raises."""
        request.cancel()
        # wait for it to end without taking its outcome as ours: a cancel of this task that comes
        # meanwhile must go on up (``await request`` under a suppress would swallow it)
        await asyncio.wait([request])
        if not request.cancelled():
            request.exception()  # retrieved: a late answer or error is of no interest now
        if lost.done():
            reason = f"connection closed by the charger ({what})"
            self._failed(reason)
            raise ChargerUnreachable(self.endpoint, reason)
        if self._wrong_answer is not None:
            error = ChargerWrongAnswer(self.endpoint, what, *self._wrong_answer)
            self._failed(str(error).removeprefix(f"charger {self.endpoint}: "))
            raise error
        self._failed(f"no answer to {what} within {self.request_timeout_s:g} s")
        raise ChargerTimeout(self.endpoint, what, self.request_timeout_s)

    def _lost_in(self, exc: Exception, what: str) -> NoReturn:
        """pymodbus gave up on the request: an answer to another one, or the connection went."""
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

    async def read_block(self, block: ReadBlock) -> list[int]:
        """The words of one block of registers (inside ``session()``)."""

        def what() -> str:
            return "reading " + ", ".join(register.describe() for register in block.registers)

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
                f"charger {self.endpoint}: {what()}: {len(words)} registers in the answer, "
                f"expected {block.count}"
            )
        return words

    async def write_words(self, register: Register, words: tuple[int, ...] | list[int]) -> None:
        """Write one register's words with its function code (inside ``session()``)."""

        def what() -> str:
            return f"writing {register.describe()}"

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
