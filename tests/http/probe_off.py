"""Run the real service in this process for a while, then print as JSON which HTTP libraries
it imported and which TCP ports it listens on: ``python -m tests.http.probe_off SITE SECONDS``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from loadbalancer.cli import build_parser
from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service

HTTP_LIBRARIES = ("h11", "aiohttp", "prometheus_client", "multidict", "yarl")


def listening_ports() -> list[int]:
    """The TCP ports this process listens on (from /proc: its sockets' inodes)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


async def main(site_path: str, seconds: float) -> None:
    build_parser()  # what `loadbalancer run` imports
    site = load_site(site_path)
    service = Service(
        site,
        shadow=True,  # no safe-current writes at the stop to a charger that is not there
        log=open_decision_log(site.decisions_path),
        notifier=Notifier({}),
        status=lambda _m: None,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    await asyncio.sleep(seconds)
    assert service.decisions > 0
    ports = listening_ports()
    stop.set()
    await runner
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HTTP_LIBRARIES)
    print(json.dumps({"modules": loaded, "listening": ports, "decisions": service.decisions}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
