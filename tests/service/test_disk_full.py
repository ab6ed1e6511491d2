"""A full disk under the decision log (a real 64 KB tmpfs): control goes on, the charger keeps
being balanced, the log says so once and resumes when space returns."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.sdnotify import Notifier
from tests.service.harness import Box, Site, running_site
from tests.service.test_process import drain

THREE = ["L1", "L2", "L3"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs (root only: mount needs CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 KB tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system up to the last byte; the filler file, to free it later."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (16384, 4096, 512, 64, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"x" * size)
    finally:
        os.close(fd)
    with pytest.raises(OSError, match="No space left on device") as full:
        (disk / "probe").write_bytes(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def log_ok(site: Site) -> bool:
    return site.service.log.healthy  # read afresh each time (mypy would narrow the property)


def lines(site: Site) -> list[dict[str, Any]]:
    """The records (a line torn by the full disk is skipped)."""
    out = []
    for line in site.log_path.read_bytes().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


async def balance(site: Site, house: tuple[float, float, float], target: float) -> None:
    """Telegrams every 0.3 s until the carport's set-point is ``target``."""

    async def loop() -> None:
        while site.setpoint("carport") != target:
            await site.telegram(house)
            await asyncio.sleep(0.3)

    await asyncio.wait_for(loop(), 10)


async def test_a_disk_filling_up_under_the_log_does_not_stop_control(
    small_disk: Path, tmp_path: Path
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    async with running_site(small_disk, [Box("carport", "vestel-evc04", THREE)]) as site:
        site.service.notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
        await balance(site, (2.0, 2.0, 2.0), 16.0)
        filler = fill(small_disk)
        # decisions go on until the log's last page is full: then the first write fails
        while log_ok(site):
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.1)
        assert [m for m in site.messages if "cannot write" in m] == [
            f"decision log {site.log_path}: cannot write (No space left on device); control "
            "goes on, records are dropped and counted, the file is tried again"
        ]
        status = next(m for m in drain(notify) if "cannot write" in m)
        assert status.startswith("STATUS=decision log")
        # the oven on L1 and then on L2: the charger still follows the fuse, every time
        await balance(site, (12.0, 2.0, 2.0), 7.0)
        await balance(site, (2.0, 30.0, 2.0), 0.0)  # no room on L2: a pause
        assert not log_ok(site) and site.service.log.dropped > 0
        filler.unlink()  # space returns: the next record after the back-off is written
        while not log_ok(site):
            await site.telegram((2.0, 30.0, 2.0))
            await asyncio.sleep(0.2)
        await site.telegram((2.0, 30.0, 2.0))
        await asyncio.sleep(0.3)
        records = lines(site)
        (resumed,) = [r for r in records if r["event"] == "log_resumed"]
        assert resumed["dropped_records"] >= 3
        assert resumed["error"] == "No space left on device"
        after = records[records.index(resumed) + 1 :]
        assert after and after[-1]["event"] == "decision"
        assert [m for m in site.messages if "writing again" in m]
        assert any("writing again" in m for m in drain(notify))
    notify.close()
    (shutdown,) = [r for r in lines(site) if r["event"] == "shutdown"]
    assert shutdown["log_dropped_records"] == resumed["dropped_records"]


async def test_a_full_disk_at_start_up_does_not_stop_the_start(small_disk: Path) -> None:
    # every restart died writing its startup record: now the start goes on without it
    box = Box("carport", "vestel-evc04", THREE)
    async with running_site(small_disk, [box], start=False) as site:
        filler = fill(small_disk)
        stop = asyncio.Event()
        runner = asyncio.create_task(site.service.run(stop))
        try:
            await site.meter.wait_for_client()
            await balance(site, (12.0, 2.0, 2.0), 7.0)
            assert not log_ok(site)
            assert [r["event"] for r in lines(site)] == []  # nothing fitted, not even startup
            filler.unlink()
            while not log_ok(site):
                await site.telegram((12.0, 2.0, 2.0))
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            assert await asyncio.wait_for(runner, 10) == 0
    events = [r["event"] for r in lines(site)]
    assert events[0] == "log_resumed" and events[-1] == "shutdown"
