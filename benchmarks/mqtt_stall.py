"""Memory and control of ``loadbalancer run`` over a stalled MQTT broker, on the wall clock.

    .venv/bin/python -m benchmarks.mqtt_stall [--minutes 10] [--broker mosquitto|python]
        [--chargers 1]

Three ``loadbalancer run`` processes side by side for the whole period, each with its own TCP
meter (a telegram every second, the house's L1 moving so that the state changes at each) and
its own emulated Modbus charger(s) (vestel-evc04) on loopback, as benchmarks/reaction.py runs
them: the baseline without an ``mqtt:`` section, and two publishing to a real broker on
loopback each (Mosquitto, or the tests' Python broker): one with the site file's default 30 s
keep-alive, one with the longest (3600 s), where only a publish that cannot go out (the
bridge's 5 s timeout) would find the stall. Once each has connected, its broker process is
stopped with SIGSTOP for the whole period: its sockets stay open and nothing is read, so what
the service writes piles up in the kernel's socket buffers, its keep-alive goes unanswered and
its reconnects hang on a listener that never accepts.
Every 10 s the RSS of each process (VmRSS in /proc/PID/status) and the bytes held in the
kernel toward its broker (/proc/net/tcp: the service's unacknowledged queue and the broker's
unread one); at the end the decision records written per telegram sent (the control loop must
keep deciding) and the outage lines on stderr.
Target (issue 17): no unbounded queue, memory stays flat over a 10-minute stalled broker with
telegrams every second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.reaction import Rig, rss_mb
from tests.mqtt.broker import Broker, broker_kind, make_broker

SAMPLE_EVERY_S = 10.0
#: the start of the period left out of the growth figure (imports, first connections)
WARM_UP_S = 120.0


@dataclass
class Soak:
    name: str
    #: (seconds since the stall began, RSS in MB), every SAMPLE_EVERY_S
    rss: list[tuple[float, float]] = field(default_factory=list)
    #: the most bytes held in the kernel toward the broker at a sample
    stuck_bytes: int = 0
    telegrams: int = 0
    decisions: int = 0
    telegram_decisions: int = 0
    outage_lines: int = 0
    stderr: str = ""

    def growth_mb(self, warm_up_s: float) -> float:
        """The RSS at the end minus the RSS at ``warm_up_s`` into the period."""
        after = [mb for t, mb in self.rss if t >= warm_up_s]
        return after[-1] - after[0] if after else float("nan")


def count_decisions(log: Path) -> tuple[int, int]:
    """Decision records in the log, and those triggered by a telegram."""
    total = by_telegram = 0
    with log.open("rb") as lines:
        for line in lines:
            if b'"decision"' not in line:
                continue
            record = json.loads(line)
            if record.get("event") == "decision":
                total += 1
                by_telegram += record.get("trigger") == "telegram"
    return total, by_telegram


def bytes_toward(port: int) -> int:
    """Bytes on their way to the broker on ``port`` held in the kernel: what the clients'
    sockets have not got acknowledged (tx_queue) and what the broker's have not read
    (rx_queue, accepted or still in the listen backlog)."""
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, remote, queues = fields[1], fields[2], fields[4]
                tx, rx = (int(x, 16) for x in queues.split(":"))
                if int(remote.rsplit(":", 1)[1], 16) == port:
                    total += tx
                elif int(local.rsplit(":", 1)[1], 16) == port:
                    total += rx
    return total


def text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def wait_for_line(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in text_of(path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in {path} within {timeout_s:g} s")
        await asyncio.sleep(0.1)


async def soak(
    tmp: Path,
    name: str,
    period_s: float,
    begun: asyncio.Barrier,
    broker: Broker | None = None,
    keepalive_s: int = 30,
    chargers: int = 1,
) -> Soak:
    """One process for ``period_s``: a telegram a second, the RSS every SAMPLE_EVERY_S; with
    ``broker``, that broker is stopped (SIGSTOP) once the service has connected to it."""
    extra: dict[str, Any] = {}
    if broker is not None:
        url = f"mqtt://127.0.0.1:{broker.port}"
        extra["mqtt"] = {"url": url, "base_topic": "loadbalancer/soak", "keepalive_s": keepalive_s}
    rig = Rig(tmp, chargers, fast=True, extra=extra)
    result = Soak(name)
    await rig.start()
    assert rig.process is not None
    pid = rig.process.pid
    try:
        if broker is not None:
            await wait_for_line(tmp / "stderr.txt", "mqtt: connected to", 30)
            await rig.telegram(2.0)  # its state goes out before the stall
            await asyncio.sleep(1.0)
            broker.pause()
        await begun.wait()  # the periods begin together
        started = time.monotonic()
        next_sample = 0.0
        in_period = 0
        while (elapsed := time.monotonic() - started) < period_s:
            if elapsed >= next_sample:
                result.rss.append((elapsed, rss_mb(pid)))
                if broker is not None:
                    result.stuck_bytes = max(result.stuck_bytes, bytes_toward(broker.port))
                next_sample += SAMPLE_EVERY_S
            # a kettle's worth of steps on L1: a new house current, often a new limit
            await rig.telegram(2.0 + (rig.telegrams.sent % 7))
            in_period += 1
            await asyncio.sleep(max(0.0, started + in_period - time.monotonic()))
        result.rss.append((time.monotonic() - started, rss_mb(pid)))
        if rig.process.returncode is not None:
            raise RuntimeError(f"{name}: the service exited with {rig.process.returncode}")
    finally:
        await rig.stop()
        if broker is not None:
            broker.resume()
    result.telegrams = rig.telegrams.sent  # with the one before the stall
    result.decisions, result.telegram_decisions = count_decisions(tmp / "decisions.jsonl")
    result.stderr = (tmp / "stderr.txt").read_text()
    result.outage_lines = result.stderr.count("retrying with back-off")
    return result


def report(results: list[Soak], period_s: float, kind: str, chargers: int) -> None:
    warm_up_s = min(WARM_UP_S, period_s / 5)
    print(f"{'figure':<46} " + " ".join(f"{r.name:>12}" for r in results))
    rows: list[tuple[str, list[str]]] = [
        ("RSS at the start (MB)", [f"{r.rss[0][1]:.1f}" for r in results]),
        ("RSS at the end (MB)", [f"{r.rss[-1][1]:.1f}" for r in results]),
        ("RSS max (MB)", [f"{max(mb for _, mb in r.rss):.1f}" for r in results]),
        (
            f"RSS growth over the last {(period_s - warm_up_s) / 60:g} min (MB)",
            [f"{r.growth_mb(warm_up_s):+.2f}" for r in results],
        ),
        ("telegrams sent", [str(r.telegrams) for r in results]),
        ("decision records per telegram", [f"{r.decisions / r.telegrams:.3f}" for r in results]),
        (
            "  of them triggered by a telegram",
            [f"{r.telegram_decisions / r.telegrams:.3f}" for r in results],
        ),
        ("outage lines on stderr", [str(r.outage_lines) for r in results]),
        (
            "most bytes held toward the broker (KB)",
            [f"{r.stuck_bytes / 1024:.1f}" if r.name != "without" else "" for r in results],
        ),
    ]
    for label, cells in rows:
        print(f"{label:<46} " + " ".join(f"{c:>12}" for c in cells))
    print("RSS (MB) each minute:")
    for r in results:
        minutes = [f"{mb:.1f}" for t, mb in r.rss if round(t) % 60 < SAMPLE_EVERY_S]
        print(f"  {r.name:<12} " + " ".join(minutes))
    print(
        f"({period_s / 60:g} min, a telegram a second, {chargers} charger(s) per site; "
        f"the broker ({kind}) stopped throughout)"
    )


def mkdir(base: Path, name: str) -> Path:
    path = base / name
    path.mkdir()
    return path


async def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--minutes", type=float, default=10.0)
    cli.add_argument("--chargers", type=int, default=1, help="emulated chargers per site")
    cli.add_argument(
        "--broker",
        choices=("mosquitto", "python"),
        default=None,
        help="default: Mosquitto where installed, else the Python broker",
    )
    args = cli.parse_args()
    period_s = args.minutes * 60
    n = args.chargers
    kind = args.broker or broker_kind()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        brokers = [make_broker(mkdir(base, f"broker{i}"), kind=kind) for i in (0, 1)]
        for broker in brokers:
            await broker.start()
        begun = asyncio.Barrier(3)
        try:
            results = await asyncio.gather(
                soak(mkdir(base, "without"), "without", period_s, begun, None, 30, n),
                soak(mkdir(base, "ka30"), "MQTT ka 30s", period_s, begun, brokers[0], 30, n),
                soak(mkdir(base, "ka3600"), "MQTT ka 1h", period_s, begun, brokers[1], 3600, n),
            )
        finally:
            for broker in brokers:
                broker.stop()
    report(list(results), period_s, kind, n)
    for r in results:
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        print(f"{r.name} stderr ({len(lines)} lines):", *lines[:6], sep="\n  ")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(signal.SIGINT + 128)
