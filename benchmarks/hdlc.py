"""HDLC/DLMS decoding throughput, ours against amshan, on the same frames, in one run.

    .venv/bin/python benchmarks/hdlc.py [--rounds 200]

Every valid HDLC capture in tests/fixtures/telegrams (23 frames from Aidon, Kaifa and Kamstrup
meters, SE and NO), as one binary stream repeated ``--rounds`` times, fed in 4 KiB chunks:

* framing only: our ``HdlcFramer`` against amshan's ``HdlcFrameReader`` (HCS/FCS checked);
* framing and decoding to values: our ``DlmsParser`` (readings with signed currents,
  plausibility checks) against amshan's reader plus its ``AutoDecoder``;
* ``auto``: our ``AutoParser`` on the same stream (P1/HDLC detection on top).

Prints one table: frames per second for each, and our speed-up.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from han.autodecoder import AutoDecoder
from han.hdlc import HdlcFrameReader

from loadbalancer.meter.dlms import DlmsParser
from loadbalancer.meter.hdlc import HdlcFrame, HdlcFramer
from loadbalancer.meter.parsers import AutoParser
from loadbalancer.meter.reading import Reading

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "telegrams"
REJECTED = {
    "at_lg_e450_encrypted_01.hex", "dk_kamstrup_encrypted_01.hex",
    "no_kamstrup_hdlc_badcrc_01.hex", "se_aidon_hdlc_04_truncated.hex",
    "se_kaifa_hdlc_badcrc_01.hex", "se_kamstrup_hdlc_03_wrongparity.hex",
    "lu_smarty_encrypted_01.gcm.hex",
}  # fmt: skip
CHUNK = 4096


def frames() -> list[bytes]:
    return [
        bytes.fromhex("".join(p.read_text().split()))
        for p in sorted(FIXTURES.glob("*.hex"))
        if p.name not in REJECTED
    ]


def chunks(stream: bytes) -> list[bytes]:
    return [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]


def best_of(runs: int, work: Callable[[], int]) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - start)
    return best, count


def ours_framing(pieces: list[bytes]) -> int:
    framer = HdlcFramer()
    return sum(isinstance(e, HdlcFrame) for piece in pieces for e in framer.feed(piece))


def amshan_framing(pieces: list[bytes]) -> int:
    reader = HdlcFrameReader(use_octet_stuffing=False)
    return sum(
        f.is_good_ffc and f.is_expected_length for piece in pieces for f in reader.read(piece)
    )


def ours_decoding(pieces: list[bytes], parser: DlmsParser | AutoParser) -> int:
    """Frames decoded to values: readings, and the frames then refused by the plausibility
    check (these captures come from many meters: some counters go backwards between them)."""
    return sum(
        isinstance(e, Reading) or e.reason.startswith("implausible")
        for piece in pieces
        for e in parser.feed(piece, 0.0)
    )


def amshan_decoding(pieces: list[bytes]) -> int:
    reader = HdlcFrameReader(use_octet_stuffing=False)
    decoder = AutoDecoder()
    count = 0
    for piece in pieces:
        for frame in reader.read(piece):
            if frame.is_good_ffc and frame.is_expected_length and frame.payload is not None:
                count += decoder.decode_message_payload(frame.payload) is not None
    return count


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rounds", type=int, default=200, help="times the 23 frames are repeated")
    args.add_argument("--runs", type=int, default=5, help="best of this many runs")
    opts = args.parse_args()
    one_round = frames()
    pieces = chunks(b"".join(one_round) * opts.rounds)
    total = len(one_round) * opts.rounds
    rows = [
        ("framing (HCS+FCS)", lambda: ours_framing(pieces), lambda: amshan_framing(pieces)),
        (
            "framing + decoding",
            lambda: ours_decoding(pieces, DlmsParser()),
            lambda: amshan_decoding(pieces),
        ),
        (
            "auto (P1/HDLC) + decoding",
            lambda: ours_decoding(pieces, AutoParser()),
            lambda: amshan_decoding(pieces),
        ),
    ]
    print(f"{total} frames ({len(b''.join(one_round)) * opts.rounds} bytes), best of {opts.runs}")
    print(f"{'':28} {'ours frames/s':>14} {'amshan frames/s':>16} {'speed-up':>9}")
    for name, ours, theirs in rows:
        ours_s, ours_n = best_of(opts.runs, ours)
        theirs_s, theirs_n = best_of(opts.runs, theirs)
        assert ours_n == theirs_n == total, (name, ours_n, theirs_n, total)
        print(
            f"{name:28} {total / ours_s:>14,.0f} {total / theirs_s:>16,.0f} "
            f"{theirs_s / ours_s:>8.1f}x"
        )


if __name__ == "__main__":
    main()
