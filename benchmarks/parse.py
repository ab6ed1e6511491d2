"""Telegram parse throughput, ours against dsmr_parser's SWEDEN specification, in one run.

    .venv/bin/python benchmarks/parse.py [--telegrams 20000]

1. In process: every valid Swedish capture in tests/fixtures/telegrams, parsed many times over,
   by our P1Parser (framing + CRC + decoding) and by dsmr_parser (``TelegramParser(SWEDEN)``,
   parse only, and with its ``TelegramBuffer`` framing as a stream reader needs).
2. Whole process: ``loadbalancer meter --json`` on a capture of N emulated Swedish telegrams
   against an equivalent dsmr_parser script (frame, parse, print the same JSON), best of 3.

Targets: >= 10x in process, >= 4x as a whole process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.parsers import TelegramParser

from loadbalancer.meter.emulator import PhaseLoad, swedish_telegram
from loadbalancer.meter.p1 import P1Parser
from loadbalancer.meter.reading import Reading

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "telegrams"
SWEDISH_VALID = [
    "se_aidon_6534_01.txt", "se_aidon_6534_02.txt", "se_aidon_6534_03.txt",
    "se_kaifa_ma304h4e_01.txt", "se_kamstrup_omnia_01.txt", "se_kamstrup_omnia_02.txt",
    "se_kamstrup_p1_01.txt", "se_lg_e360_01.txt", "se_lg_e360_02.txt", "se_lg_e360_03.txt",
    "se_lg_e360_04.txt", "se_lg_e360_05.txt", "se_sagemcom_t211_01.txt",
    "se_sagemcom_t211_02.txt", "se_sagemcom_t211_03.txt", "se_sagemcom_t211_04.txt",
]  # fmt: skip

DSMR_SCRIPT = """
import json, sys
from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.parsers import TelegramParser
parser = TelegramParser(telegram_specifications.SWEDEN)
buffer = TelegramBuffer()
out = sys.stdout
def f(obj, name):
    v = getattr(obj, name, None)
    return None if v is None else float(v.value)
with open(sys.argv[1], "rb") as fh:
    while chunk := fh.read(65536):
        buffer.append(chunk.decode("latin-1"))
        for text in buffer.get_all():
            t = parser.parse(text)
            cur, pw = {}, {}
            for n in (1, 2, 3):
                imp = f(t, f"INSTANTANEOUS_ACTIVE_POWER_L{n}_POSITIVE") or 0.0
                exp = f(t, f"INSTANTANEOUS_ACTIVE_POWER_L{n}_NEGATIVE") or 0.0
                i = f(t, f"INSTANTANEOUS_CURRENT_L{n}")
                cur[f"L{n}"] = -i if (i is not None and exp > imp) else i
                pw[f"L{n}"] = round((imp - exp) * 1000.0, 6)
            out.write(json.dumps({
                "ts": t.P1_MESSAGE_TIMESTAMP.value.isoformat(), "meter_id": None,
                "current_a": cur,
                "voltage_v": {f"L{n}": f(t, f"INSTANTANEOUS_VOLTAGE_L{n}") for n in (1, 2, 3)},
                "power_w": pw,
                "import_w": f(t, "CURRENT_ELECTRICITY_USAGE") * 1000.0,
                "export_w": f(t, "CURRENT_ELECTRICITY_DELIVERY") * 1000.0,
                "energy_import_kwh": f(t, "ELECTRICITY_IMPORTED_TOTAL"),
                "energy_export_kwh": f(t, "ELECTRICITY_EXPORTED_TOTAL"),
            }) + "\\n")
"""


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def in_process(rounds: int) -> list[tuple[str, float]]:
    telegrams = [(FIXTURES / name).read_bytes() for name in SWEDISH_VALID]
    texts = [t.decode("latin-1") + ("" if t.endswith(b"\r\n") else "\r\n") for t in telegrams]
    count = rounds * len(telegrams)
    dsmr = TelegramParser(telegram_specifications.SWEDEN)

    def ours() -> None:
        for _ in range(rounds):
            for data in telegrams:
                parser = P1Parser()
                events = parser.feed(data, 0.0) + parser.close(0.0)
                assert isinstance(events[0], Reading)

    def theirs_parse() -> None:
        for _ in range(rounds):
            for text in texts:
                dsmr.parse(text)

    def theirs_stream() -> None:
        for _ in range(rounds):
            for text in texts:
                buffer = TelegramBuffer()
                buffer.append(text)
                for framed in buffer.get_all():
                    dsmr.parse(framed)

    return [
        ("loadbalancer P1Parser", count / best_of(3, ours)),
        ("dsmr_parser parse (SWEDEN)", count / best_of(3, theirs_parse)),
        ("dsmr_parser buffer+parse", count / best_of(3, theirs_stream)),
    ]


def make_capture(path: Path, count: int) -> None:
    t0 = datetime(2026, 1, 14, 0, 0, 0)
    energy = 20_000.0
    with path.open("wb") as fh:
        for i in range(count):
            loads = (
                PhaseLoad(3.0 + i % 13),
                PhaseLoad(-1.2 if i % 5 == 0 else 4.4),
                PhaseLoad(8.0 + i % 3),
            )
            energy += 0.004
            fh.write(
                swedish_telegram(t0 + timedelta(seconds=10 * i), loads, energy_import_kwh=energy)
            )


def whole_process(count: int) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "capture.p1"
        make_capture(capture, count)
        script = Path(tmp) / "dsmr_meter.py"
        script.write_text(DSMR_SCRIPT)
        ours_cmd = [
            sys.executable,
            "-m",
            "loadbalancer",
            "meter",
            "--source",
            f"file://{capture}",
            "--json",
        ]
        theirs_cmd = [sys.executable, str(script), str(capture)]
        # same output, checked once: the comparison is between equals
        ours_out = subprocess.run(ours_cmd, capture_output=True, check=True).stdout.splitlines()
        theirs_out = subprocess.run(theirs_cmd, capture_output=True, check=True).stdout
        assert len(ours_out) == len(theirs_out.splitlines()) == count
        assert (
            json.loads(ours_out[0])["current_a"]
            == json.loads(theirs_out.splitlines()[0])["current_a"]
        )

        def run(cmd: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)

        return [
            ("loadbalancer meter --json", count / best_of(3, run(ours_cmd))),
            ("dsmr_parser script", count / best_of(3, run(theirs_cmd))),
        ]


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--telegrams", type=int, default=20_000, help="whole-process capture size")
    cli.add_argument("--rounds", type=int, default=200, help="in-process rounds over captures")
    args = cli.parse_args()
    inproc = in_process(args.rounds)
    whole = whole_process(args.telegrams)
    print(f"{'benchmark':<34} {'telegrams/s':>12} {'vs dsmr_parser':>15}")
    ours = inproc[0][1]
    for name, rate in inproc:
        print(f"{'in process: ' + name:<34} {rate:>12,.0f} {ours / rate:>14.1f}x")
    ours = whole[0][1]
    for name, rate in whole:
        print(f"{'process: ' + name:<34} {rate:>12,.0f} {ours / rate:>14.1f}x")
    print(
        f"(in process: {len(SWEDISH_VALID)} Swedish captures x {args.rounds}; whole process: "
        f"{args.telegrams} telegrams; best of 3; target >= 10x in process, >= 4x process)"
    )


if __name__ == "__main__":
    main()
