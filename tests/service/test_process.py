"""``loadbalancer run`` as a real process: systemd notify, SIGTERM and every other terminating
signal, SIGHUP, a slow box at shutdown, the serial path, a meter bridge that drops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.meter.emulator import MeterServer, PhaseLoad, swedish_telegram
from loadbalancer.shutdown import signal_name
from tests.service.harness import Box, one_box_site, write_site

T0 = datetime(2026, 1, 14, 18, 0, 0)


def telegram(i: int, amps: float = 4.0) -> bytes:
    loads = (PhaseLoad(amps), PhaseLoad(amps), PhaseLoad(amps))
    return swedish_telegram(T0 + timedelta(seconds=i), loads, energy_import_kwh=100 + i * 0.01)


def records(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [r for r in out if event is None or r["event"] == event]


async def wait_for(condition: Any, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - files and emulators have no event to wait on
            await asyncio.sleep(0.02)


async def start_process(
    site_file: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadbalancer", "run", "--config", str(site_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


async def test_notify_ready_watchdog_and_sigterm_to_safe_current(tmp_path: Path) -> None:
    box = Box("carport", "vestel-evc04", ["L1", "L2", "L3"])
    async with MeterServer() as meter, one_box_site(tmp_path, meter.url, box) as served:
        emulator, site_file, log = served
        notify_path = tmp_path / "notify"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.setblocking(False)
        process = await start_process(
            site_file, {"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000"}
        )
        loop = asyncio.get_running_loop()
        try:
            await meter.wait_for_client(15)
            # no READY before the first valid telegram
            await asyncio.sleep(1.0)
            received = drain(notify)
            assert not any("READY=1" in m for m in received)
            for i in range(8):
                await meter.send(telegram(i))
                await asyncio.sleep(0.3)
            received += drain(notify)
            assert any(m.startswith("READY=1") for m in received), received
            assert received.count("WATCHDOG=1") >= 2
            await wait_for(lambda: emulator.box.setpoint_a > 6.0, 10)
            started = loop.time()
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 6) == 0
            assert loop.time() - started < 5.0
            assert emulator.box.setpoint_a == 6.0
            (shutdown,) = records(log, "shutdown")
            assert shutdown["chargers"] == {"carport": 6.0}
            stopping = [m for m in drain(notify) if m.startswith("STOPPING=1")]
            assert stopping
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            notify.close()


def drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


async def test_sigint_also_stops_cleanly_with_an_offline_charger(tmp_path: Path) -> None:
    meter = MeterServer()
    await meter.start()
    box = Box("carport", "vestel-evc04", ["L1", "L2", "L3"])
    # nothing listens on this port: the charger is offline from the start
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    site_file, log = write_site(tmp_path, meter.url, [box], {"carport": dead_port})
    process = await start_process(site_file)
    try:
        await meter.wait_for_client(15)
        for i in range(3):
            await meter.send(telegram(i))
            await asyncio.sleep(0.3)
        await wait_for(lambda: bool(records(log, "charger_offline")), 10)
        decision = records(log, "decision")[-1]
        assert decision["chargers"][0]["reason"] == "charger_offline_reserved"
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 6) == 0
        (shutdown,) = records(log, "shutdown")
        assert shutdown["chargers"]["carport"].startswith("failed")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await meter.stop()


async def test_serial_meter_through_a_pseudo_terminal(tmp_path: Path) -> None:
    master, slave = os.openpty()
    box = Box("carport", "alfen-eve", ["L1", "L2", "L3"])
    async with one_box_site(tmp_path, f"serial://{os.ttyname(slave)}", box) as served:
        _emulator, site_file, log = served
        process = await start_process(site_file)
        try:
            await wait_for(lambda: bool(records(log, "startup")), 15)
            await asyncio.sleep(1.0)  # the port is opened
            for i in range(4):
                os.write(master, telegram(i, amps=15.0))
                await asyncio.sleep(0.3)
            await wait_for(
                lambda: any(r["trigger"] == "telegram" for r in records(log, "decision")), 5
            )
            decision = [r for r in records(log, "decision") if r["trigger"] == "telegram"][-1]
            assert decision["meter_a"] == {"L1": 15.0, "L2": 15.0, "L3": 15.0}
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 6) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            os.close(master)
            os.close(slave)


async def test_meter_bridge_drops_and_comes_back(tmp_path: Path) -> None:
    meter = MeterServer()
    await meter.start()
    box = Box("carport", "alfen-eve", ["L1", "L2", "L3"])
    async with one_box_site(tmp_path, meter.url, box) as (emulator, site_file, log):
        process = await start_process(site_file)
        try:
            await meter.wait_for_client(15)
            for i in range(3):
                await meter.send(telegram(i))
                await asyncio.sleep(0.3)
            port = meter.port
            await meter.stop()  # the bridge is gone: meter-loss rules apply meanwhile
            await wait_for(lambda: bool(records(log, "meter_stale")), 8)
            # the stale record comes first; the safe current's decision and write follow it
            await wait_for(
                lambda: (
                    emulator.box.setpoint_a == 6.0
                    and records(log, "decision")[-1]["chargers"][0]["setpoint_a"] == 6.0
                ),
                5,
            )
            meter = MeterServer(port=port)
            await meter.start()
            await meter.wait_for_client(40)  # back-off: 1, 2, 4 ... s
            for i in range(3, 6):
                await meter.send(telegram(i))
                await asyncio.sleep(0.3)
            await wait_for(lambda: bool(records(log, "meter_recovered")), 5)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 6) == 0
            assert process.stderr is not None
            stderr = (await process.stderr.read()).decode()
            assert stderr.count("reconnecting with back-off") == 1, stderr
            assert "Traceback" not in stderr
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await meter.stop()


@contextlib.asynccontextmanager
async def balanced_process(tmp_path: Path) -> AsyncIterator[tuple[Any, ChargerEmulator, Path]]:
    """``loadbalancer run`` with a meter and a Vestel box, controlling (the box above its safe
    current); yields the process, the box and the log path, and cleans up."""
    box = Box("carport", "vestel-evc04", ["L1", "L2", "L3"])
    async with MeterServer() as meter, one_box_site(tmp_path, meter.url, box) as served:
        emulator, site_file, log = served
        process = await start_process(site_file)
        try:
            await meter.wait_for_client(15)
            i = 0
            # balanced by the service (not the box's own default limit): online, and a limit
            # above the safe current written by it
            while not (
                records(log, "charger_online")
                and any(d["chargers"][0]["setpoint_a"] > 6.0 for d in records(log, "decision"))
                and emulator.box.setpoint_a > 6.0
            ):
                await meter.send(telegram(i))
                i += 1
                await asyncio.sleep(0.3)
                assert i < 40, "the box was never set above its safe current"
            yield process, emulator, log
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def stops_safely(process: Any, emulator: ChargerEmulator, log: Path, sig: int) -> None:
    """Send ``sig``: exit 0 within 5 s, the box at its safe current, the record says so."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    os.kill(process.pid, sig)
    assert await asyncio.wait_for(process.wait(), 8) == 0
    assert loop.time() - started < 5.0
    assert emulator.box.setpoint_a == 6.0
    (shutdown,) = records(log, "shutdown")
    assert shutdown["chargers"] == {"carport": 6.0}
    assert shutdown["signal"] == signal_name(sig)


@pytest.mark.parametrize(
    "sig",
    [signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT, signal.SIGPWR, signal.SIGRTMIN + 2],
    ids=signal_name,
)
async def test_every_terminating_signal_gets_the_safe_shutdown(tmp_path: Path, sig: int) -> None:
    # SIGUSR1 killed the service at once: the box kept 16 A, no shutdown record
    async with balanced_process(tmp_path) as (process, emulator, log):
        await stops_safely(process, emulator, log, sig)


async def test_sighup_reopens_the_log_and_control_goes_on(tmp_path: Path) -> None:
    async with balanced_process(tmp_path) as (process, emulator, log):
        rotated = tmp_path / "decisions.jsonl.1"
        log.rename(rotated)
        process.send_signal(signal.SIGHUP)
        # the next decision goes to a new file at the path; the process runs on
        await wait_for(lambda: bool(records(log, "decision")), 5)
        assert process.returncode is None
        assert records(rotated, "startup") and not records(log, "startup")
        await stops_safely(process, emulator, log, signal.SIGTERM)
        assert process.stderr is not None
        stderr = (await process.stderr.read()).decode()
        assert f"decision log {log}: reopened (SIGHUP)" in stderr


@pytest.mark.parametrize("delay_s", [2.5, 1.5])
async def test_shutdown_waits_for_a_slow_box_within_the_budget(
    tmp_path: Path, delay_s: float
) -> None:
    # the shutdown gave up after the 2 s request timeout: a box answering in 2.5 s never got
    # its safe current and the record said "failed"
    async with balanced_process(tmp_path) as (process, emulator, log):
        emulator.faults.delay_s = delay_s
        await stops_safely(process, emulator, log, signal.SIGTERM)
