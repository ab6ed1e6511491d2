"""Where meter bytes come from: a serial port, a TCP bridge or a capture file.

This is the only module under ``meter/`` that opens anything. Each source is an async iterator
of byte chunks; serial and TCP sources reconnect with back-off forever and report each outage
once, when it starts and when it ends, through a ``notify`` callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal, TypeGuard
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from loadbalancer.backoff import Backoff
from loadbalancer.errors import SourceError, UsageError

Notify = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]

#: A TCP bridge that sends nothing for this long is assumed half-dead and reconnected
#: (Swedish meters push every 10 s; a bridge rebooted without a FIN looks like silence).
TCP_IDLE_RECONNECT_S = 60.0
TCP_CONNECT_TIMEOUT_S = 5.0
READ_SIZE = 4096
#: a capture file is read this much at a time; a paced replay hands on at most about
#: MAX_PIECE_BYTES + FILE_READ_BYTES at once where it finds no telegram start
FILE_READ_BYTES = 65_536
MAX_PIECE_BYTES = 65_536

_SERIAL_DEFAULTS: dict[str, str] = {
    "baudrate": "115200",
    "bytesize": "8",
    "parity": "N",
    "stopbits": "1",
    "xonxoff": "0",
    "rtscts": "0",
    "dsrdtr": "0",
}
#: HDLC meters (NVE-style HAN, an M-Bus port) send at 2400 baud, 8E1; Kamstrup uses 8N1
#: (``?parity=N``). P1 (and ``auto``) keep 115200 8N1, the Swedish HAN-P1 setting.
_SERIAL_DEFAULTS_DLMS: dict[str, str] = _SERIAL_DEFAULTS | {"baudrate": "2400", "parity": "E"}
#: Options for the meter parser that any source URL may carry in its query.
PARSER_OPTIONS = ("crc", "key", "auth_key", "kamstrup_energy_wh", "kamstrup_current_ma")


#: options whose values are never secret; every other value in a URL's query is hidden
_SHOWN_OPTIONS = frozenset({*_SERIAL_DEFAULTS, "crc", "kamstrup_energy_wh", "kamstrup_current_ma"})


def redact_key(url: str) -> str:
    """The URL for messages and summaries: the value of every query parameter but the known
    harmless ones (serial settings, ``crc``, the Kamstrup scales) hidden as ``***``. Names
    are judged after percent-decoding (``%6Bey=`` is ``key=``), whatever their case (``KEY=``);
    a parameter without ``=`` (a key pasted on its own) is hidden whole."""
    base, mark, query = url.partition("?")
    if not mark:
        return url
    shown = []
    for part in query.split("&"):
        raw_name, equals, _value = part.partition("=")
        name = unquote_plus(raw_name)
        if name in _SHOWN_OPTIONS:
            shown.append(part)
        elif equals and _OPTION_NAME.fullmatch(name):
            shown.append(f"{name}=***")
        else:
            shown.append("***")
    return f"{base}?{'&'.join(shown)}"


_OPTION_NAME = re.compile(r"[A-Za-z_]{1,32}")


def serial_defaults(protocol: str) -> dict[str, str]:
    """The serial settings used where the URL gives none, for a meter protocol."""
    return dict(_SERIAL_DEFAULTS_DLMS if protocol == "dlms" else _SERIAL_DEFAULTS)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed source URL."""

    kind: Literal["serial", "tcp", "file"]
    url: str
    path: str = ""  # serial device or file path
    host: str = ""
    port: int = 0
    serial: dict[str, str] = field(default_factory=dict)
    #: parser options from the query (:data:`PARSER_OPTIONS`), as written
    options: dict[str, str] = field(default_factory=dict)


def parse_source_url(url: str, *, protocol: str = "auto") -> SourceSpec:
    """``serial://DEV[?baudrate=..&parity=..]``, ``tcp://HOST:PORT`` or ``file://PATH``, each
    optionally with parser options (``?crc=optional&key=...``); serial settings the URL leaves
    out are the defaults for ``protocol``."""
    parts = urlsplit(url)
    shown = redact_key(url)  # the key is a secret: never in a message
    scheme = parts.scheme.lower()
    serial_known = serial_defaults(protocol) if scheme == "serial" else {}
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in serial_known and key not in PARSER_OPTIONS:
            known = ", ".join([*serial_known, *PARSER_OPTIONS])
            what = "serial option" if scheme == "serial" else "option"
            name = repr(key) if _OPTION_NAME.fullmatch(key) else "(a name that may be a key)"
            raise UsageError(f"source {shown!r}: unknown {what} {name} (known: {known})")
        query[key] = value
    options = {k: v for k, v in query.items() if k in PARSER_OPTIONS}
    if scheme == "file":
        path = parts.netloc + parts.path
        if not path:
            raise UsageError(f"source {shown!r}: expected file://PATH")
        return SourceSpec("file", url, path=path, options=options)
    if scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise UsageError(f"source {shown!r}: expected tcp://HOST:PORT")
        return SourceSpec("tcp", url, host=parts.hostname, port=port, options=options)
    if scheme == "serial":
        device = parts.netloc + parts.path
        if not device:
            raise UsageError(
                f"source {shown!r}: expected serial://DEVICE, e.g. serial:///dev/ttyUSB0"
            )
        settings = serial_known | {k: v for k, v in query.items() if k in serial_known}
        _check_serial_options(shown, settings)
        return SourceSpec("serial", url, path=device, serial=settings, options=options)
    raise UsageError(f"source {shown!r}: the scheme must be serial://, tcp:// or file://")


def _check_serial_options(url: str, options: dict[str, str]) -> None:
    checks: dict[str, Callable[[str], bool]] = {
        "baudrate": lambda v: v.isdigit() and int(v) > 0,
        "bytesize": lambda v: v in ("5", "6", "7", "8"),
        "parity": lambda v: v.upper() in ("N", "E", "O", "M", "S"),
        "stopbits": lambda v: v in ("1", "1.5", "2"),
        "xonxoff": lambda v: v in ("0", "1"),
        "rtscts": lambda v: v in ("0", "1"),
        "dsrdtr": lambda v: v in ("0", "1"),
    }
    for key, ok in checks.items():
        if not ok(options[key]):
            raise UsageError(f"source {url!r}: serial option {key}={options[key]!r} is not valid")


class _Outage:
    """Says an outage once when it starts and once when it ends, not once per retry."""

    def __init__(self, name: str, notify: Notify, clock: Callable[[], float]) -> None:
        self._name = name
        self._notify = notify
        self._clock = clock
        self._since: float | None = None

    def failed(self, why: str) -> None:
        if self._since is None:
            self._since = self._clock()
            self._notify(f"meter {self._name}: {why}; reconnecting with back-off")

    def connected(self) -> None:
        if self._since is not None:
            self._notify(
                f"meter {self._name}: connected again after {self._clock() - self._since:.0f} s"
            )
            self._since = None


class TcpSource:
    """A raw telegram stream over TCP (ser2net, ESP P1/HAN bridges)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        notify: Notify = lambda _m: None,
        backoff: Backoff | None = None,
        idle_reconnect_s: float = TCP_IDLE_RECONNECT_S,
        connect_timeout_s: float = TCP_CONNECT_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.name = f"tcp://{host}:{port}"
        self._backoff = backoff or Backoff()
        self._idle_s = idle_reconnect_s
        self._connect_timeout_s = connect_timeout_s
        self._outage = _Outage(self.name, notify, time.monotonic)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
            except (OSError, TimeoutError) as exc:
                self._outage.failed(_why(exc, "connect timed out"))
                await asyncio.sleep(self._backoff.next_delay_s())
                continue
            try:
                while True:
                    data: bytes | OSError
                    try:
                        async with asyncio.timeout(self._idle_s):
                            data = await reader.read(READ_SIZE)
                    except TimeoutError:
                        self._outage.failed(f"no bytes for {self._idle_s:g} s")
                        break
                    except OSError as exc:
                        data = exc
                    closed = "the bridge closed the connection"
                    if not _flowing(data, self._outage, self._backoff, closed):
                        break
                    yield data
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await asyncio.sleep(self._backoff.next_delay_s())


def _flowing(
    item: bytes | OSError, outage: _Outage, backoff: Backoff, gone: str
) -> TypeGuard[bytes]:
    """Whether a read gave bytes to pass on; a read error or the end of the stream (``gone``)
    ends the connection and is said once. Bytes end an outage: only then is it over."""
    if isinstance(item, OSError):
        outage.failed(_why(item, "read failed"))
        return False
    if not item:
        outage.failed(gone)
        return False
    outage.connected()
    backoff.reset()
    return True


class SerialSource:
    """A serial port (USB P1 cable, RJ12 adapter), read without blocking the event loop."""

    def __init__(
        self,
        device: str,
        options: dict[str, str] | None = None,
        *,
        notify: Notify = lambda _m: None,
        backoff: Backoff | None = None,
    ) -> None:
        self.device = device
        self.options = dict(_SERIAL_DEFAULTS) | (options or {})
        self.name = f"serial://{device}"
        self._backoff = backoff or Backoff()
        self._outage = _Outage(self.name, notify, time.monotonic)

    def _open(self) -> object:
        import serial  # pyserial: imported here so that file/TCP use never loads it

        o = self.options
        return serial.Serial(
            self.device,
            baudrate=int(o["baudrate"]),
            bytesize=int(o["bytesize"]),
            parity=o["parity"].upper(),
            stopbits=float(o["stopbits"]) if o["stopbits"] == "1.5" else int(o["stopbits"]),
            xonxoff=o["xonxoff"] == "1",
            rtscts=o["rtscts"] == "1",
            dsrdtr=o["dsrdtr"] == "1",
            timeout=0,
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        while True:
            try:
                port = self._open()
            except (OSError, ValueError) as exc:  # serial.SerialException is an OSError
                self._outage.failed(_why(exc, "cannot open"))
                await asyncio.sleep(self._backoff.next_delay_s())
                continue
            fd: int = port.fileno()  # type: ignore[attr-defined]
            queue: asyncio.Queue[bytes | OSError] = asyncio.Queue()

            def readable(fd: int = fd, queue: asyncio.Queue[bytes | OSError] = queue) -> None:
                try:
                    queue.put_nowait(os.read(fd, READ_SIZE))
                except BlockingIOError:
                    pass
                except OSError as exc:
                    queue.put_nowait(exc)

            loop.add_reader(fd, readable)
            try:
                while True:
                    item = await queue.get()
                    if not _flowing(item, self._outage, self._backoff, "the device went away"):
                        break
                    yield item
            finally:
                loop.remove_reader(fd)
                with contextlib.suppress(OSError):
                    port.close()  # type: ignore[attr-defined]
            await asyncio.sleep(self._backoff.next_delay_s())


# a P1 telegram ("/" at a line start) or an HDLC frame ("7E A?"): where a paced replay pauses
_TELEGRAM_START = re.compile(rb"(?:^|\n)(/)|(\x7e)[\xa0-\xaf]")
_METER_TIME = re.compile(rb"0-0:1\.0\.0\((\d{12})")


class FileSource:
    """A capture file, streamed (never read whole: a capture may be larger than the memory).
    Unpaced it is read as fast as possible; paced, it is replayed with the gaps between the
    meter times of its telegrams (clamped, ``period_s`` where a time is missing), through an
    injectable ``sleep`` so simulations can run on their own clock."""

    def __init__(
        self,
        path: str,
        *,
        paced: bool = False,
        period_s: float = 10.0,
        max_gap_s: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        read_bytes: int = FILE_READ_BYTES,
    ) -> None:
        self.path = path
        self.name = f"file://{path}"
        self.paced = paced
        self._period_s = period_s
        self._max_gap_s = max_gap_s
        self._sleep = sleep
        self._read_bytes = read_bytes

    def check(self) -> None:
        """Raise :class:`UsageError` if the file cannot be read."""
        if not Path(self.path).is_file():
            raise UsageError(f"source {self.name}: no such file")
        if not os.access(self.path, os.R_OK):
            raise UsageError(f"source {self.name}: not readable")

    async def chunks(self) -> AsyncIterator[bytes]:
        self.check()
        try:
            handle = await asyncio.to_thread(open, self.path, "rb")
        except OSError as exc:
            raise SourceError(f"source {self.name}: {_why(exc, 'cannot read')}") from exc
        try:
            blocks = self._blocks(handle)
            if not self.paced:
                async for block in blocks:
                    yield block
                return
            previous: datetime | None = None
            index = 0
            async for piece in _telegram_pieces(blocks):
                stamp = _stamp_of(piece)
                if index:
                    gap = self._period_s  # HDLC frames and telegrams without a time
                    if stamp is not None and previous is not None:
                        gap = min(max((stamp - previous).total_seconds(), 0.0), self._max_gap_s)
                    await self._sleep(gap)
                index += 1
                previous = stamp if stamp is not None else previous
                yield piece
        finally:
            handle.close()

    async def _blocks(self, handle: BinaryIO) -> AsyncIterator[bytes]:
        while True:
            try:
                block = await asyncio.to_thread(handle.read, self._read_bytes)
            except OSError as exc:
                raise SourceError(f"source {self.name}: {_why(exc, 'cannot read')}") from exc
            if not block:
                return
            yield block


async def _telegram_pieces(blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stream cut before each telegram start but the first (bytes in front of it go with
    it); a stretch with no start is handed on once it is MAX_PIECE_BYTES long."""
    held = b""
    seen_start = False
    async for block in blocks:
        data = held + block
        cut = 0
        # a start may straddle the two ("\n" + "/", 7E + A?): look from the last held byte
        for match in _TELEGRAM_START.finditer(data, max(0, len(held) - 1)):
            at = match.start(1) if match.group(1) else match.start(2)
            if seen_start and at > cut:
                yield data[cut:at]
                cut = at
            seen_start = True
        held = data[cut:]
        if len(held) >= MAX_PIECE_BYTES:
            yield held
            held = b""
    if held:
        yield held


def _stamp_of(piece: bytes) -> datetime | None:
    match = _METER_TIME.search(piece)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1).decode(), "%y%m%d%H%M%S")
    except ValueError:
        return None


ChunkSource = TcpSource | SerialSource | FileSource


def open_source(
    spec: SourceSpec,
    *,
    notify: Notify = lambda _m: None,
    paced: bool = False,
    period_s: float = 10.0,
    sleep: Sleep = asyncio.sleep,
) -> ChunkSource:
    """The source a URL names (nothing is opened until iteration starts)."""
    if spec.kind == "tcp":
        return TcpSource(spec.host, spec.port, notify=notify)
    if spec.kind == "serial":
        return SerialSource(spec.path, spec.serial, notify=notify)
    return FileSource(spec.path, paced=paced, period_s=period_s, sleep=sleep)


def _why(exc: BaseException, fallback: str) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0] if text else fallback
