"""A meter bridge on 127.0.0.1 that turns into a flood on command, as a process of its own (so
that it sends at full speed without sharing the service's event loop or the test's GIL).

    python -m tests.service.flood_sender KIND [--max-flood-s S]

Prints its port, accepts one reader, and sends a valid Swedish telegram every 0.3 s. A line
``flood`` on stdin switches to sending KIND as fast as the reader takes it (``random`` bytes,
``slash`` runs of '/', ``flag`` runs of 0x7E, ``mixed``: random bytes with a valid telegram
after every 16 KB); ``normal`` switches back; end of stdin ends it. A flood never lasts
longer than ``--max-flood-s``.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
from datetime import datetime, timedelta

from loadbalancer.meter.emulator import PhaseLoad, swedish_telegram

KINDS = ("random", "slash", "flag", "mixed")
BLOCK = 16_384


class Telegrams:
    def __init__(self) -> None:
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        loads = (PhaseLoad(2.0), PhaseLoad(2.0), PhaseLoad(2.0))
        when = datetime(2026, 1, 14, 18, 0, 0) + timedelta(seconds=self.count)
        return swedish_telegram(when, loads, energy_import_kwh=1000 + self.count * 0.001)


RNG = random.Random(7)


def blocks(kind: str, telegrams: Telegrams) -> bytes:
    if kind == "slash":
        return b"/" * BLOCK
    if kind == "flag":
        return b"\x7e" * BLOCK
    data = RNG.randbytes(BLOCK)
    return data + telegrams.next() if kind == "mixed" else data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--max-flood-s", type=float, default=20.0)
    args = parser.parse_args()
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    mode = {"flood": False, "done": False}

    def commands() -> None:
        for line in sys.stdin:
            mode["flood"] = line.strip() == "flood"
        mode["done"] = True

    threading.Thread(target=commands, daemon=True).start()
    conn, _ = server.accept()
    telegrams = Telegrams()
    flood_since: float | None = None
    try:
        while not mode["done"]:
            if mode["flood"]:
                flood_since = flood_since or time.monotonic()
                if time.monotonic() - flood_since < args.max_flood_s:
                    conn.sendall(blocks(args.kind, telegrams))
                    continue
            else:
                flood_since = None
            conn.sendall(telegrams.next())
            time.sleep(0.3)
    except OSError:
        pass  # the reader went away
    finally:
        conn.close()
        server.close()


if __name__ == "__main__":
    main()
