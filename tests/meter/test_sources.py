"""Meter sources over real transports: a TCP server on 127.0.0.1, a pseudo-terminal, files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from loadbalancer.backoff import Backoff
from loadbalancer.errors import UsageError
from loadbalancer.meter.p1 import P1Parser
from loadbalancer.meter.reading import Reading
from loadbalancer.meter.sources import (
    FileSource,
    SerialSource,
    TcpSource,
    parse_source_url,
    redact_key,
)
from tests.meter.test_p1_stream import evening

TELEGRAMS = evening(6)


async def collect_readings(chunks: AsyncIterator[bytes], count: int) -> list[Reading]:
    parser = P1Parser()
    readings: list[Reading] = []
    async with asyncio.timeout(10):
        async for chunk in chunks:
            readings += [e for e in parser.feed(chunk, 0.0) if isinstance(e, Reading)]
            if len(readings) >= count:
                break
    return readings


async def test_tcp_source_reconnects_and_reports_each_outage_once() -> None:
    served: list[int] = []

    async def first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # two telegrams, the second cut in two writes, then the bridge drops the connection
        writer.write(TELEGRAMS[0] + TELEGRAMS[1][:300])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(TELEGRAMS[1][300:])
        await writer.drain()
        served.append(1)
        writer.close()

    server = await asyncio.start_server(first, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    messages: list[str] = []
    source = TcpSource("127.0.0.1", port, notify=messages.append, backoff=Backoff(0.02, 0.05))
    chunks = source.chunks()
    got = await collect_readings(chunks, 2)
    assert len(got) == 2
    # The bridge goes away for a while: many retries, connection refused each time.
    server.close()
    await server.wait_closed()

    async def second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"".join(TELEGRAMS[2:4]))
        await writer.drain()
        await asyncio.sleep(5)

    async def come_back() -> asyncio.Server:
        await asyncio.sleep(0.4)  # several back-off rounds of refused connections
        return await asyncio.start_server(second, "127.0.0.1", port)

    restart = asyncio.create_task(come_back())
    got = await collect_readings(chunks, 2)
    await chunks.aclose()  # type: ignore[attr-defined]
    server2 = await restart
    server2.close()
    assert [r.energy_import_kwh for r in got] == [1000.02, 1000.03]
    # one line when the outage began, one when it ended: not one per retry
    assert len(messages) == 2, messages
    assert "closed the connection" in messages[0] and "reconnecting" in messages[0]
    assert "connected again" in messages[1]


async def test_tcp_source_reconnects_a_silent_bridge() -> None:
    connections = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections > 1:
            writer.write(TELEGRAMS[0])
            await writer.drain()
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    messages: list[str] = []
    source = TcpSource(
        "127.0.0.1",
        port,
        notify=messages.append,
        backoff=Backoff(0.01, 0.01),
        idle_reconnect_s=0.2,
    )
    chunks = source.chunks()
    got = await collect_readings(chunks, 1)
    await chunks.aclose()  # type: ignore[attr-defined]
    server.close()
    assert len(got) == 1 and connections == 2
    assert "no bytes for 0.2 s" in messages[0]


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    yield master, name
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


async def test_serial_source_reads_a_pseudo_terminal(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair
    messages: list[str] = []
    source = SerialSource(name, {"baudrate": "115200"}, notify=messages.append)
    chunks = source.chunks()

    async def meter() -> None:
        for telegram in TELEGRAMS[:3]:
            await asyncio.sleep(0.05)
            # the E360 way: a telegram in pieces with gaps
            for piece in (telegram[:200], telegram[200:500], telegram[500:]):
                os.write(master, piece)
                await asyncio.sleep(0.01)

    writer = asyncio.create_task(meter())
    got = await collect_readings(chunks, 3)
    await writer
    await chunks.aclose()  # type: ignore[attr-defined]
    assert [r.current_a.l2 for r in got] == [-1.5, 2.0, 2.0]
    assert messages == []


async def test_serial_source_says_once_when_the_device_is_missing(tmp_path: Path) -> None:
    messages: list[str] = []
    source = SerialSource(
        str(tmp_path / "ttyUSB9"), notify=messages.append, backoff=Backoff(0.01, 0.02)
    )
    chunks = source.chunks()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await chunks.__anext__()
    await chunks.aclose()  # type: ignore[attr-defined]
    assert len(messages) == 1 and "serial://" in messages[0]


async def test_file_source_paced_by_telegram_time(tmp_path: Path) -> None:
    capture = tmp_path / "c.p1"
    capture.write_bytes(b"\r\n" + b"".join(TELEGRAMS[:4]))
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    source = FileSource(str(capture), paced=True, sleep=fake_sleep)
    chunks = [c async for c in source.chunks()]
    assert slept == [10.0, 10.0, 10.0]
    assert b"".join(chunks) == capture.read_bytes()


async def test_file_source_unpaced_reads_everything_at_once(tmp_path: Path) -> None:
    capture = tmp_path / "c.p1"
    capture.write_bytes(b"".join(TELEGRAMS))
    got = await collect_readings(FileSource(str(capture)).chunks(), 6)
    assert len(got) == 6


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://meter", "the scheme must be"),
        ("tcp://meter", "expected tcp://HOST:PORT"),
        ("tcp://meter:99999", "expected tcp://HOST:PORT"),
        ("serial://", "expected serial://DEVICE"),
        ("serial:///dev/ttyUSB0?speed=9600", "unknown serial option 'speed'"),
        ("serial:///dev/ttyUSB0?parity=X", "serial option parity='X' is not valid"),
        ("file://", "expected file://PATH"),
    ],
)
def test_bad_source_urls_name_the_problem(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_source_url(url)


def test_source_urls() -> None:
    spec = parse_source_url("serial:///dev/ttyUSB0?baudrate=9600&bytesize=7&parity=E")
    assert spec.path == "/dev/ttyUSB0"
    assert spec.serial["baudrate"] == "9600" and spec.serial["stopbits"] == "1"
    tcp = parse_source_url("tcp://192.168.1.50:23")
    assert (tcp.host, tcp.port) == ("192.168.1.50", 23)
    assert parse_source_url("file://examples/captures/x.p1").path == "examples/captures/x.p1"
    assert parse_source_url("file:///tmp/x.p1").path == "/tmp/x.p1"


async def test_serial_source_reports_a_vanished_device_once(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair
    messages: list[str] = []
    source = SerialSource(name, notify=messages.append, backoff=Backoff(0.01, 0.02))
    chunks = source.chunks()
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, os.write, master, TELEGRAMS[0])  # after the port is open
    assert len(await collect_readings(chunks, 1)) == 1
    os.close(master)  # the adapter is gone: reads fail, reopening fails or reads nothing
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await chunks.__anext__()
    await chunks.aclose()  # type: ignore[attr-defined]
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"meter serial://{name}: ")


@pytest.mark.parametrize("paced", [False, True])
async def test_a_large_capture_is_streamed_not_read_whole(tmp_path: Path, paced: bool) -> None:
    """Issue 12 item 12: a 300 MB capture took 317 MB of memory. 24 MB of it (telegrams and
    long stretches without any) must stream through in a bounded amount of memory."""
    capture = tmp_path / "big.p1"
    with capture.open("wb") as out:
        for _ in range(12):
            out.write(b"".join(TELEGRAMS) + bytes(2_000_000))
    size = capture.stat().st_size

    async def no_sleep(_seconds: float) -> None:
        return None

    source = FileSource(str(capture), paced=paced, sleep=no_sleep)
    total = largest = 0
    tracemalloc.start()
    try:
        async for chunk in source.chunks():
            total += len(chunk)
            largest = max(largest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert largest <= 2 * 65_536
    assert peak < 2_000_000, f"{peak} bytes at the peak for a {size}-byte capture"


@pytest.mark.parametrize("read_bytes", [1, 2, 7, 700, 65_536])
async def test_paced_pieces_do_not_depend_on_the_read_size(tmp_path: Path, read_bytes: int) -> None:
    """Telegram starts that straddle two reads ("\\n" + "/", 7E + A0) are still found."""
    hdlc = bytes.fromhex("7ea0") + b"\x00" * 20 + b"\x7e\r\n"
    capture = tmp_path / "mixed.bin"
    capture.write_bytes(b"junk\r\n" + TELEGRAMS[0] + hdlc + TELEGRAMS[1] + hdlc + TELEGRAMS[2])
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    source = FileSource(str(capture), paced=True, sleep=fake_sleep, read_bytes=read_bytes)
    pieces = [c async for c in source.chunks()]
    assert b"".join(pieces) == capture.read_bytes()
    assert pieces == [
        b"junk\r\n" + TELEGRAMS[0], hdlc, TELEGRAMS[1], hdlc, TELEGRAMS[2]
    ]  # fmt: skip
    assert slept == [10.0, 10.0, 10.0, 10.0]


KEY_HEX = "00112233445566778899AABBCCDDEEFF"


@pytest.mark.parametrize(
    "url",
    [
        f"tcp://127.0.0.1:2000?%6Bey={KEY_HEX}",  # percent-encoded name, decoded and used
        f"tcp://127.0.0.1:2000?crc=optional&%61uth_key={KEY_HEX}",
        f"file:///tmp/x.p1?key={KEY_HEX}&kamstrup_energy_wh=10",
    ],
)
def test_a_key_however_its_name_is_written_is_used_but_never_shown(url: str) -> None:
    spec = parse_source_url(url)
    assert KEY_HEX in spec.options.values()
    shown = redact_key(url)
    assert KEY_HEX not in shown and "key=***" in shown


@pytest.mark.parametrize(
    "url",
    [
        f"serial:///dev/ttyUSB0?KEY={KEY_HEX}",  # upper case: an unknown option
        f"tcp://127.0.0.1:2000?Key%3D{KEY_HEX}=1",
        f"tcp://127.0.0.1:2000?{KEY_HEX}",  # the key pasted without a name
        f"tcp://127.0.0.1:2000?kye={KEY_HEX}",  # a typo
    ],
)
def test_an_unknown_option_error_never_echoes_a_key(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_source_url(url)
    assert "unknown" in str(caught.value)
    assert KEY_HEX not in str(caught.value) and KEY_HEX.lower() not in str(caught.value)


def test_harmless_options_stay_visible() -> None:
    url = (
        "serial:///dev/ttyUSB0?baudrate=2400&parity=E&crc=optional"
        "&kamstrup_energy_wh=10&kamstrup_current_ma=1"
    )
    assert redact_key(url) == url
    assert redact_key("tcp://127.0.0.1:2000") == "tcp://127.0.0.1:2000"
