"""What an optional part costs when it is off: the real service in a fresh interpreter for a
while, then which of some modules it imported and which TCP ports it listens on.

``python -m tests.service.probe_run SITE SECONDS NAME...`` prints that as JSON (a module counts
when its top-level package or its own name is one of the NAMEs); :func:`probe` runs it on a
site with one optional section.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadbalancer.cli import build_parser
from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service

REPO = Path(__file__).resolve().parents[2]


def probe(
    tmp_path: Path, section: str, value: dict[str, Any] | None, names: Sequence[str]
) -> dict[str, Any]:
    """The real service for 1 s in a fresh interpreter, on a site with a meter and a charger
    that are not there (it runs its fallbacks) and ``section: value`` (none for None)."""
    # here, not at the top: the interpreter that runs main() imports only what run does
    from tests.service.harness import Box, free_port, write_site

    box = Box("carport", "alfen-eve", ["L1", "L2", "L3"])
    sections = {} if value is None else {section: value}
    site, _ = write_site(
        tmp_path,
        f"tcp://127.0.0.1:{free_port()}",
        [box],
        {"carport": free_port()},
        sections=sections,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.service.probe_run", str(site), "1.0", *names],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


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


async def main(site_path: str, seconds: float, names: Sequence[str]) -> None:
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
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in names or m in names)
    print(json.dumps({"modules": loaded, "listening": ports, "decisions": service.decisions}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))
