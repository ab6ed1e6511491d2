"""The tests' Python MQTT broker (amqtt, from the test extras) as a process of its own, for a
machine without Mosquitto (or with ``LB_TEST_BROKER=python``):

    python -m tests.mqtt.python_broker CONFIG.json

CONFIG.json is amqtt's broker configuration (tests/mqtt/broker.py's PythonBroker writes it: one
listener on 127.0.0.1, anonymous or a password file, TLS or not). It logs only errors, to
stderr, and runs until it is killed.

One work-around of amqtt 0.12.1: it walks its table of subscriptions with awaits inside the
loop (at each connection, and for each message it passes on), so a client subscribing
meanwhile makes the walk fail ("dictionary changed size during iteration"); the connecting
client's session dies and its SUBACK never comes. The table here hands each walk a copy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SnapshotTable(dict[str, Any]):
    """A dict whose iteration runs over a copy of its keys (or items)."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def items(self) -> Any:
        return list(dict.items(self))


async def serve(config: dict[str, Any]) -> None:
    from amqtt.broker import Broker  # type: ignore[import-untyped]

    broker = Broker(config)
    broker._subscriptions = SnapshotTable()
    await broker.start()
    await asyncio.Event().wait()  # until killed


def main() -> None:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
