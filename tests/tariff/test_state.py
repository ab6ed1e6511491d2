"""The month's peaks on disk (issue 15 item 3): a round trip keeps them, a kill -9 in the
middle of writing leaves a readable file, a corrupt one is refused with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadbalancer.errors import StateFileError
from loadbalancer.tariff.calendar import holiday_check
from loadbalancer.tariff.peaks import IntervalEnergy, MonthPeaks
from loadbalancer.tariff.profile import load_tariff_profile
from loadbalancer.tariff.state import load_month, save_month, state_path
from tests.tariff.helpers import local_s


def a_month() -> MonthPeaks:
    profile = load_tariff_profile("ellevio")
    month = MonthPeaks("2026-01")
    for day, hour, kwh, estimated in [(5, 18, 7.0, False), (6, 23, 9.0, True), (7, 8, 5.5, False)]:
        interval = IntervalEnergy(local_s(2026, 1, day, hour), kwh, estimated)
        month = month.add(profile, interval, holiday_check(None))
    return month


def test_a_month_comes_back_as_it_was_written(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    month = a_month()
    save_month(path, "ellevio", month)
    assert load_month(path, "ellevio") == month
    assert sorted(os.listdir(tmp_path)) == ["tariff-month.json"]  # no temporary file left


def test_no_file_or_another_profile_s_file_is_a_fresh_month(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    assert load_month(path, "ellevio") is None
    save_month(path, "ellevio", a_month())
    assert load_month(path, "goteborg-energi") is None


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage",
        b'{"format": 1, "profile": "ellevio", "month": "2026-01", "intervals": 3',
        b'{"format": 1, "profile": "ellevio", "month": "2026-13", "intervals": 3, '
        b'"estimated": 0, "peaks": []}',
        b'{"format": 1, "profile": "ellevio", "month": "2026-01", "intervals": "3", '
        b'"estimated": 0, "peaks": []}',
        b'{"format": 1, "profile": "ellevio", "month": "2026-01", "intervals": 3, '
        b'"estimated": 0, "peaks": [{"component": "all hours"}]}',
        b'{"format": 2}',
        b"[]",
        b"x" * 300_000,
    ],
)
def test_a_corrupt_state_file_is_refused_with_one_line(tmp_path: Path, content: bytes) -> None:
    path = state_path(tmp_path)
    path.write_bytes(content)
    with pytest.raises(StateFileError) as caught:
        load_month(path, "ellevio")
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and "corrupt" in message


WRITER = """
import sys
from loadbalancer.tariff.state import save_month
from tests.tariff.test_state import a_month
from pathlib import Path
month, path = a_month(), Path(sys.argv[1])
print("ready", flush=True)
while True:
    save_month(path, "ellevio", month)
"""


def test_a_kill_9_while_writing_leaves_a_whole_file(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    save_month(path, "ellevio", MonthPeaks("2026-01"))
    for _ in range(3):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(0.05)  # let it rewrite the file many times
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=5)
        month = load_month(path, "ellevio")
        assert month in (MonthPeaks("2026-01"), a_month())
    assert json.loads(path.read_text())["format"] == 1
