"""What the HTTP status (issue 16) costs ``loadbalancer run`` under load.

    .venv/bin/python benchmarks/http_load.py [--events 100] [--window-s 20]

Load: 10 clients polling ``/status`` at 10 Hz (each on one kept-alive connection, their polls
spread over the 100 ms as independent clients' are, not all at once) and 5 holding
``/events``, in a process of their own (so that they do not share the benchmark's loop with the
meter and the chargers), with asyncio streams (a light client: its own time is little of what
it measures).

1. Reaction (as in ``benchmarks/reaction.py``: telegram to the reduced limit at the emulated
   box, 1 charger), without the ``http`` key and with it under the load: p50 and p99.
2. ``/status`` latency under that load, as the clients see it: p50 and p99.
3. RSS of ``run`` with 1 charger after a window of 1 s telegrams: without ``http``, and with it
   under the load.

Targets: the reaction's p99 rises by no more than 1 ms; ``/status`` p99 <= 5 ms; the server
adds no more than 6 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.reaction import Rig, pct, reaction, rss_mb
from tests.service.harness import free_port

POLLERS = 10
POLL_HZ = 10.0
STREAMS = 5


def http_site(port: int) -> dict[str, Any]:
    return {"http": {"listen": f"127.0.0.1:{port}"}}


# ---- the load, in its own process ---------------------------------------------------------


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, bytes]:
    """One GET on a kept-alive connection (a client as light as it gets: its own time does not
    hide the server's): the status code and the body."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert length is not None, head
    return int(head.split(b" ", 2)[1]), await reader.readexactly(int(length[1]))


async def load(port: int) -> None:
    """Poll and stream until stdin closes; then print the ``/status`` latencies (JSON)."""
    latencies: list[float] = []
    events = [0]
    while True:  # the service is starting
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.1)
    writer.close()

    async def poll(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(index / POLL_HZ / POLLERS)  # independent clients: not in step
        while True:
            start = time.perf_counter()
            code, _body = await get(reader, writer, "/status")
            latencies.append(time.perf_counter() - start)
            assert code == 200, code
            await asyncio.sleep(max(0.0, 1 / POLL_HZ - (time.perf_counter() - start)))

    async def stream() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while line := await reader.readline():
            events[0] += line.startswith(b"data: ")

    tasks = [asyncio.create_task(poll(i)) for i in range(POLLERS)]
    tasks += [asyncio.create_task(stream()) for _ in range(STREAMS)]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"latencies": latencies, "events": events[0]}))


class Load:
    """The load process: started before the service (it waits for it), ended on close."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Load:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.http_load", "--load", str(self.port),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        self.result = json.loads((await self.process.communicate())[0])


# ---- the figures --------------------------------------------------------------------------


async def rss_after(window_s: float, extra: dict[str, Any] | None) -> float:
    """RSS of ``run`` (1 charger, 1 s telegrams) after ``window_s``."""
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp), 1, fast=True, extra=extra)
        await rig.start()
        assert rig.process is not None
        try:
            started = time.monotonic()
            while time.monotonic() - started < window_s:
                await rig.telegram(3.0)
                await asyncio.sleep(1.0)
            return rss_mb(rig.process.pid)
        finally:
            await rig.stop()


async def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--events", type=int, default=100)
    cli.add_argument("--window-s", type=float, default=20.0)
    cli.add_argument("--load", type=int, help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.load is not None:
        await load(args.load)
        return
    without, _ = await reaction(1, args.events)
    port = free_port()
    async with Load(port) as loaded:
        with_http, _ = await reaction(1, args.events, http_site(port))
    status = loaded.result["latencies"]
    rss_without = await rss_after(args.window_s, None)
    port = free_port()
    async with Load(port):
        rss_with = await rss_after(args.window_s, http_site(port))
    print(f"{'figure':<52} {'p50':>8} {'p99':>8} {'target':>14}")
    rows = [
        ("reaction, 1 charger, no http (ms)", without, ""),
        ("reaction, 1 charger, http under load (ms)", with_http, "p99 +<=1 ms"),
        (f"/status under load ({len(status)} requests, ms)", status, "p99<=5"),
    ]
    for name, values, target in rows:
        print(f"{name:<52} {pct(values, 50):>8.2f} {pct(values, 99):>8.2f} {target:>14}")
    print(f"{'reaction p99 rise with http (ms)':<52} {'':>8} "
          f"{pct(with_http, 99) - pct(without, 99):>8.2f} {'<=1':>14}")  # fmt: skip
    print(f"{'RSS of run: no http / http under load (MB)':<52} {rss_without:>8.1f} "
          f"{rss_with:>8.1f} {'+<=6':>14}")  # fmt: skip
    print(
        f"({args.events} events per reaction row; load {POLLERS} x /status at {POLL_HZ:g} Hz + "
        f"{STREAMS} /events streams ({loaded.result['events']} events received); RSS after "
        f"{args.window_s:g} s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
