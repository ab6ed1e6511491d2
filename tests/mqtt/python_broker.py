"""The tests' Python MQTT broker (amqtt, from the test extras) as a process of its own, for a
machine without Mosquitto (or with ``LB_TEST_BROKER=python``):

    python -m tests.mqtt.python_broker CONFIG.json

CONFIG.json is amqtt's broker configuration (tests/mqtt/broker.py's PythonBroker writes it: one
listener on 127.0.0.1, anonymous or a password file, TLS or not). It logs only errors, to
stderr, and runs until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any


async def serve(config: dict[str, Any]) -> None:
    from amqtt.broker import Broker  # type: ignore[import-untyped]

    broker = Broker(config)
    await broker.start()
    await asyncio.Event().wait()  # until killed


def main() -> None:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
