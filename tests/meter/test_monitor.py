"""``loadbalancer meter`` as a whole process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loadbalancer.meter.p1 import P1Parser
from loadbalancer.meter.reading import Reading
from tests.conftest import TELEGRAMS
from tests.meter.test_p1_stream import evening

REPO = Path(__file__).resolve().parents[2]


def loadbalancer(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadbalancer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )


def test_mixed_capture_prints_exactly_the_valid_readings_in_order(tmp_path: Path) -> None:
    good = evening(8)
    corrupt = bytearray(good[4])
    corrupt[100] ^= 0x01
    stream = b"".join(
        [
            b"\r\n",
            good[0],
            b"\xc3\xe3\xc3\xe3\xf8\xf8\xff",  # pull-up noise
            good[1],
            good[2][:333],  # truncated by the next telegram
            good[2],
            good[3],
            bytes(corrupt),  # bad CRC
            (TELEGRAMS / "se_lg_e360_fragment_01.txt").read_bytes(),  # tail without start
            good[5],
            good[6],
            b"garbage\r\n",
            good[7],
        ]
    )
    capture = tmp_path / "mixed.p1"
    capture.write_bytes(stream)
    proc = loadbalancer("meter", "--source", f"file://{capture}", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    expected = [
        e.to_record() for e in P1Parser().feed(b"".join(good), 0.0) if isinstance(e, Reading)
    ]
    del expected[4]
    assert [json.loads(line) for line in lines] == expected
    first = json.loads(lines[0])
    assert list(first) == [
        "ts",
        "meter_id",
        "current_a",
        "voltage_v",
        "power_w",
        "import_w",
        "export_w",
        "energy_import_kwh",
        "energy_export_kwh",
    ]
    assert first["ts"] == "2026-01-14T18:00:00+01:00"
    assert first["current_a"] == {"L1": 5.0, "L2": -1.5, "L3": 9.9}
    assert first["power_w"]["L2"] < 0 and first["voltage_v"]["L1"] == 230.0
    errors = proc.stderr.splitlines()
    assert len(errors) == 3, errors
    assert "truncated" in errors[0] and "bad CRC" in errors[1] and "fragment" in errors[2]
    assert "Traceback" not in proc.stderr


def test_table_for_people_on_the_bundled_capture() -> None:
    proc = loadbalancer("meter", "--source", "file://examples/captures/se_evening.p1")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["meter", "time", "L1", "A"]
    assert lines[-1].startswith("88 readings, 2 telegrams rejected")
    assert len(proc.stderr.splitlines()) == 2


def test_every_captured_telegram_through_the_command() -> None:
    for path in sorted(TELEGRAMS.glob("*.txt")):
        proc = loadbalancer("meter", "--source", f"file://{path}", "--json")
        assert proc.returncode == 0, (path.name, proc.stderr)
        assert len(proc.stdout.splitlines()) + len(proc.stderr.splitlines()) == 1, path.name


def test_bad_usage_is_one_line_and_exit_2() -> None:
    for args in (
        ["meter"],
        ["meter", "--source", "ftp://x"],
        ["meter", "--source", "file:///nonexistent"],
    ):
        proc = loadbalancer(*args)
        assert proc.returncode == 2, args
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout == ""


def test_serial_path_through_a_pseudo_terminal() -> None:
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loadbalancer",
                "meter",
                "--source",
                f"serial://{name}",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert proc.stdout is not None
        time.sleep(1.0)  # let it open the port
        for telegram in evening(2):
            os.write(master, telegram)
        first = json.loads(proc.stdout.readline())
        second = json.loads(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert first["ts"] == "2026-01-14T18:00:00+01:00"
        assert second["ts"] == "2026-01-14T18:00:10+01:00"
    finally:
        os.close(master)
        os.close(slave)


def test_terminal_escapes_in_meter_data_are_shown_escaped(tmp_path: Path) -> None:
    """A header (or anything else the meter sends) must not drive the terminal."""
    good = evening(2)
    hostile = good[0].replace(b"/", b"/\x1b[2J\x1b]0;pwned\x07\x9b", 1)  # its CRC no longer fits
    assert hostile != good[0]
    capture = tmp_path / "hostile.p1"
    capture.write_bytes(hostile + good[1])
    proc = loadbalancer("meter", "--source", f"file://{capture}")
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout + proc.stderr
    assert "rejected telegram" in proc.stderr
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert "\\x1b[2J" in proc.stderr
