"""What publishing to MQTT costs ``loadbalancer run``: the reaction and the memory, with and
without an ``mqtt:`` section.

    .venv/bin/python -m benchmarks.mqtt [--events 100]

The rig of benchmarks/reaction.py (the service as its own process, a TCP meter, one emulated
Modbus charger on loopback, an overload telegram per event, the latency until the reduced
limit reaches the box), run twice: without MQTT, and with the service publishing its state to
a Mosquitto broker on loopback (Debian's package) while a client subscribed to everything, as
Home Assistant is, takes each message (each event's cut and recovery are published before the
next event). The RSS of the process at the end of each run.
In process, without the noise of a shared machine's scheduling: what one control step costs
with and without the MQTT bridge (a step only marks the state due), and what taking the state
costs the MQTT task (the status snapshot and its ~40 topics into the store).
Targets (issue 17): publishing adds <= 0.5 ms to the p99 and <= 5 MB to the RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import yaml

from benchmarks.reaction import Rig, pct, reaction_of, rss_mb
from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service
from tests.mqtt.broker import MOSQUITTO, Mosquitto

#: after each cut, time for its state to go out (50 ms after the decision) before the next
#: event, in both runs: a real meter's telegrams are 1 to 10 s apart
AFTER_CUT_S = 0.15


async def run(events: int, port: int | None) -> tuple[list[float], float]:
    """The reaction (seconds per event) and the RSS (MB) at the end; with MQTT to ``port``."""
    extra = {} if port is None else {"mqtt": {"url": f"mqtt://127.0.0.1:{port}"}}
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp), 1, fast=True, extra=extra)
        await rig.start()
        try:
            first, _ = await reaction_of(rig, events, AFTER_CUT_S)
            assert rig.process is not None
            return first, rss_mb(rig.process.pid)
        finally:
            await rig.stop()


def step_costs_us(tmp: Path, rounds: int = 2000) -> tuple[float, float, float]:
    """Microseconds per control step without and with the bridge, and per state taken."""
    site = {
        "meter": {"source": "tcp://127.0.0.1:9", "protocol": "p1", "telegram_period_s": 1},
        "fuse": "3x20A-gG",
        "chargers": [
            {"name": "carport", "profile": "vestel-evc04", "host": "127.0.0.1", "port": 9,
             "phases": ["L1", "L2", "L3"], "max_current_a": 16}
        ],
        "log": {"decisions": "-"},
    }  # fmt: skip
    out = []
    now = [0.0]

    def clock() -> float:
        return now[0]

    for mqtt in (None, {"url": "mqtt://127.0.0.1:9", "commands": ["max_current_a", "pause"]}):
        path = tmp / f"site-{mqtt is not None}.yaml"
        path.write_text(yaml.safe_dump({**site, **({"mqtt": mqtt} if mqtt else {})}))
        service = Service(
            load_site(path),
            log=open_decision_log(str(tmp / "d.jsonl")),
            notifier=Notifier({}),
            status=lambda _m: None,
            clock=clock,
        )
        started = time.perf_counter()
        for _ in range(rounds):
            now[0] += 1.0  # a telegram period: every step makes the state due
            service.step()
        out.append((time.perf_counter() - started) / rounds * 1e6)
        if service.mqtt is not None:
            started = time.perf_counter()
            for _ in range(rounds):
                now[0] += 1.0
                service.mqtt.on_decision(service.step())
                service.mqtt.refresh()
            out.append((time.perf_counter() - started) / rounds * 1e6 - out[1])
    return out[0], out[1], out[2]


async def count_messages(port: int, counter: list[int]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="benchmark-ha") as client:
        await client.subscribe("#")
        async for _message in client.messages:
            counter[0] += 1


async def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--events", type=int, default=100)
    args = cli.parse_args()
    if MOSQUITTO is None:
        sys.exit("benchmarks/mqtt.py: no MQTT broker: apt-get install mosquitto")
    with tempfile.TemporaryDirectory() as tmp:
        step_off_us, step_on_us, take_us = step_costs_us(Path(tmp))
    without, rss_without = await run(args.events, None)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        await broker.start()
        counter = [0]
        listener = asyncio.create_task(count_messages(broker.port, counter))
        try:
            with_mqtt, rss_with = await run(args.events, broker.port)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await listener
            broker.stop()
    print(f"{'figure':<40} {'without':>9} {'with MQTT':>10} {'added':>8} {'target':>8}")
    for name, q in (("reaction p50 (ms)", 50), ("reaction p99 (ms)", 99)):
        a, b = pct(without, q), pct(with_mqtt, q)
        target = "<=0.5" if q == 99 else ""
        print(f"{name:<40} {a:>9.2f} {b:>10.2f} {b - a:>8.2f} {target:>8}")
    print(
        f"{'RSS at the end (MB)':<40} {rss_without:>9.1f} {rss_with:>10.1f} "
        f"{rss_with - rss_without:>8.1f} {'<=5':>8}"
    )
    print(
        f"{'control step, in process (us)':<40} {step_off_us:>9.1f} {step_on_us:>10.1f} "
        f"{step_on_us - step_off_us:>8.1f}"
    )
    print(f"{'taking the state, in the MQTT task (us)':<40} {'':>9} {take_us:>10.1f}")
    print(f"({args.events} events per run; {counter[0]} messages reached the subscriber)")


if __name__ == "__main__":
    asyncio.run(main())
