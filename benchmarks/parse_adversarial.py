"""Parser cost per byte on adversarial inputs beside ordinary telegrams, for p1, dlms and auto.

    .venv/bin/python benchmarks/parse_adversarial.py [--kib 256] [--runs 3]

Each input is fed in 4 KiB chunks (what the TCP source reads) to a fresh parser of each
protocol, then closed; the best of ``--runs`` is printed as microseconds per input byte.
Ordinary inputs are the real captures of tests/fixtures/telegrams, repeated; adversarial ones
are what a bad cable, a wrong baud rate or a hostile bridge sends: runs of ``/``, of ``/ABC5``
headers, nested headers closed by a '!' and a CRC, a 15 KB number with blanks in it, runs of
``0x7E``, of ``7E A0``, HDLC headers with a valid HCS that each claim 2 KB, valid segmented
HDLC frames of one byte each (a message that never ends), runs of the Smarty frame start
``DB 08``, and random bytes.
A linear parser keeps every adversarial figure within a small factor of the ordinary ones,
whatever ``--kib`` is.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

from loadbalancer.meter.hdlc import build_frame, crc16_x25
from loadbalancer.meter.p1 import build_telegram
from loadbalancer.meter.parsers import make_meter_parser

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "telegrams"
CHUNK = 4096
PROTOCOLS = ("p1", "dlms", "auto")


def _repeat(unit: bytes, size: int) -> bytes:
    return (unit * (size // max(len(unit), 1) + 1))[:size]


def _p1_captures() -> bytes:
    names = sorted(FIXTURES.glob("se_*.txt")) + sorted(FIXTURES.glob("nl_dsmr50_*.txt"))
    return b"".join(p.read_bytes() for p in names)


def _hdlc_captures() -> bytes:
    out = []
    for path in sorted(FIXTURES.glob("*hdlc*.hex")):
        if not any(bad in path.name for bad in ("badcrc", "truncated", "wrongparity")):
            out.append(bytes.fromhex("".join(path.read_text().split())))
    return b"".join(out)


def _hcs_valid_header() -> bytes:
    """``7E A7 FF 41 08 83 13 HCS``: a header whose HCS checks and whose length is 2047."""
    header = b"\xa7\xff\x41\x08\x83\x13"
    return b"\x7e" + header + crc16_x25(header).to_bytes(2, "little")


def inputs(size: int) -> dict[str, bytes]:
    rng = random.Random(12)
    big_number = build_telegram("ELL5", ["1-0:31.7.0(1x" + " " * 15_000 + "y)"])
    nested = b"/ABC5" * 800 + b"!FFFF\r\n"
    return {
        "P1 captures (ordinary)": _repeat(_p1_captures(), size),
        "HDLC captures (ordinary)": _repeat(_hdlc_captures(), size),
        "'/' run": b"/" * size,
        "'/ABC5' headers, no '!'": _repeat(b"/ABC5", size),
        "800 nested headers + '!' + CRC": _repeat(nested, size),
        "15 KB number with blanks": _repeat(big_number, size),
        "0x7E run": b"\x7e" * size,
        "'7E A0' run": _repeat(b"\x7e\xa0", size),
        "HCS-valid headers claiming 2 KB": _repeat(_hcs_valid_header(), size),
        "valid 1-byte HDLC segments": _repeat(build_frame(b"\x00", segmented=True), size),
        "'DB 08' run (Smarty starts)": b"\xdb\x08" * (size // 2),
        "random bytes": rng.randbytes(size),
    }


def cost_us_per_byte(protocol: str, data: bytes, runs: int) -> float:
    def once() -> None:
        parser = make_meter_parser(protocol)
        for at in range(0, len(data), CHUNK):
            parser.feed(data[at : at + CHUNK], 0.0)
        parser.close(0.0)

    return best_of(runs, once) * 1e6 / len(data)


def best_of(runs: int, work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kib", type=int, default=256, help="size of each input (KiB)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.kib * 1024
    print(f"µs per input byte, {args.kib} KiB per input, {CHUNK}-byte chunks, best of {args.runs}")
    print(f"{'input':34} " + " ".join(f"{p:>8}" for p in PROTOCOLS))
    for name, data in inputs(size).items():
        figures = [cost_us_per_byte(p, data, args.runs) for p in PROTOCOLS]
        print(f"{name:34} " + " ".join(f"{f:8.3f}" for f in figures), flush=True)


if __name__ == "__main__":
    main()
