"""Run the real service in this process for a while, then print as JSON which MQTT modules it
imported: ``python -m tests.mqtt.probe_imports SITE SECONDS``."""

from __future__ import annotations

import asyncio
import json
import sys

from loadbalancer.cli import build_parser
from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service

#: the library, what it is built on, and this package's client (the one module importing it)
MQTT_MODULES = ("aiomqtt", "paho")


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
    stop.set()
    await runner
    loaded = sorted(
        m for m in sys.modules if m.split(".")[0] in MQTT_MODULES or m == "loadbalancer.mqtt.client"
    )
    print(json.dumps({"modules": loaded, "decisions": service.decisions}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
