"""``loadbalancer log`` on hostile logs: exit 0, or exit 2 with a one-line error, never a
traceback, in bounded memory; a step of the wall clock is not charged to the last limit."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.cli import main
from tests.review.logs import decision, evening, startup, write

#: values a field is replaced by: wrong types, huge and non-finite numbers, nesting, odd times
VALUES: list[Any] = [
    None, True, "", "x", -1, 0, 1e308, -1e308, 10**400, [], {}, [[[]]], {"L1": {}},
    "9999-12-31T23:59:59.999+01:00", "0001-01-01T00:00:00.000+01:00", [1, "a", None],
    {"L1": "x"}, {"L1": None},
]  # fmt: skip
#: text spliced into a line: years out of range, non-finite numbers, deep nesting, NUL
SPLICES = [
    '"0000-', '"10000-', '"0001-', '"9999-', '"-001-', "Infinity", "NaN", "-Infinity", "1e999",
    "[" * 50_000, "\x00", "9" * 5000,
]  # fmt: skip


def _mutate(rng: random.Random, node: Any, depth: int = 0) -> None:
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if not keys:
        return
    key = rng.choice(keys)
    child = node[key]
    if depth > 3 or not isinstance(child, dict | list) or rng.random() < 0.5:
        node[key] = rng.choice(VALUES)
    else:
        _mutate(rng, child, depth + 1)


def mutated_log(seed: int) -> str:
    """The evening log with about one record in ten changed and one line in twenty spliced."""
    rng = random.Random(seed)
    lines = []
    for record in json.loads(json.dumps(evening())):
        if rng.random() < 0.1:
            _mutate(rng, record)
        line = json.dumps(record)
        if rng.random() < 0.05:
            cut = rng.randrange(len(line))
            splice = rng.choice(SPLICES)
            if splice.startswith('"') and '"2026-' in line:
                line = line.replace('"2026-', splice, 1)
            elif rng.random() < 0.3:
                line = line[:cut]  # torn
            else:
                line = line[:cut] + splice + line[cut:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def one_line_or_success(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 0, or exit 2 with one error line (after the one line about skipped lines, if any);
    any exception fails the test with its traceback."""
    code = main(args)
    err = capsys.readouterr().err.splitlines()
    assert code in (0, 2), (args, code, err)
    assert len(err) <= 2 and all(line.startswith("loadbalancer log: ") for line in err), err
    if code == 2:
        assert err and "skipped" not in err[-1]


@pytest.mark.parametrize("seed", range(40))
def test_mutated_logs_give_a_summary_or_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    path = tmp_path / "decisions.jsonl"
    path.write_text(mutated_log(seed))
    commands = [
        [],
        ["--json"],
        ["--explain", "18:10:05"],
        ["--since", "18:05", "--charger", "carport"],
    ]
    for extra in commands:
        one_line_or_success(["log", str(path), *extra], capsys)


@pytest.mark.parametrize("seed", [0, 13, 41, 107])  # a year-1 time, inf, 10**400 among them
def test_mutated_logs_plot_or_say_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seed: int
) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "decisions.jsonl"
    path.write_text(mutated_log(seed))
    one_line_or_success(["log", str(path), "--plot", str(tmp_path / "plot.png")], capsys)


@pytest.mark.parametrize(
    "ts",
    ["0000-01-14T18:00:00.000+01:00", "10000-01-14T18:00:00+01:00",
     "0001-01-01T00:00:00.000+01:00", "9999-12-31T23:59:59.999-01:00"],
)  # fmt: skip
def test_a_time_outside_the_years_datetime_shows_is_an_unreadable_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ts: str
) -> None:
    records = evening()
    records[5]["ts"] = ts  # ValueError, OverflowError before
    path = write(tmp_path / "decisions.jsonl", records)
    assert main(["log", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unreadable_lines"] == 1


def test_deep_nesting_and_huge_or_infinite_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = evening()
    records[3]["meter_a"] = {"L1": 10**400, "L2": 2.0, "L3": 2.0}  # OverflowError before
    records[4]["chargers"][0]["measured_a"] = [10**400, 1.0, 1.0]
    records[6]["chargers"][0]["setpoint_a"] = 10**400
    path = write(tmp_path / "decisions.jsonl", records, tail="[" * 100_000)  # RecursionError
    text = path.read_text().replace('"L2": 2.0', '"L2": Infinity', 3)  # inf in --plot
    path.write_text(text)
    assert main(["log", str(path)]) == 0
    assert main(["log", str(path), "--explain", "18:00:35"]) == 0
    assert "skipped 1 unreadable line" in capsys.readouterr().err
    if importlib.util.find_spec("matplotlib") is not None:
        assert main(["log", str(path), "--plot", str(tmp_path / "plot.png")]) == 0
        assert (tmp_path / "plot.png").stat().st_size > 0


def gzip_bomb(path: Path, unpacked_mib: int, *, size_field: int | None = None) -> Path:
    """A gzip file of ``unpacked_mib`` MiB of zeros (a few hundred KB packed); ``size_field``
    forges the trailer's size (it wraps at 4 GiB: a bomb can say anything there)."""
    zero = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(zero) + packer.flush(zlib.Z_FULL_FLUSH)  # the same for every MiB
    crc = 0
    for _ in range(unpacked_mib):
        crc = zlib.crc32(zero, crc)
    size = (unpacked_mib << 20) & 0xFFFFFFFF if size_field is None else size_field
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # magic, deflate, no name
        for _ in range(unpacked_mib):
            out.write(block)
        out.write(packer.flush())
        out.write(struct.pack("<II", crc, size))
    return path


@pytest.mark.parametrize("size_field", [None, 40 << 20], ids=["true size", "forged size"])
def test_a_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path, size_field: int | None) -> None:
    bomb = gzip_bomb(tmp_path / "decisions.jsonl.1.gz", 512, size_field=size_field)
    assert bomb.stat().st_size < 1 << 20
    if size_field is None:  # a sound gzip file: it is the data that is hostile
        with gzip.open(bomb) as check:
            assert len(check.read(1 << 20)) == 1 << 20
    done = subprocess.run(
        [sys.executable, "-m", "loadbalancer", "log", str(bomb)],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_memory_cap,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == f"loadbalancer log: {bomb}: no readable records"
    assert "Traceback" not in done.stderr


#: the address space the review may use on a bomb: the 512 MiB line must never be held
#: (MemoryError before, the whole stream was unpacked in memory)
MEMORY_CAP_BYTES = 400 << 20


def _memory_cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def test_a_step_of_the_wall_clock_is_not_charged_to_the_last_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a Pi without a real-time clock: the time is set from the network a year after boot time
    year_s = 365 * 86400.0
    records = [startup(0.0)]
    for i in range(6):
        step_s = year_s if i >= 3 else 0.0
        record = decision(i * 10.0 + step_s, 16.0, "at_max", previous_a=16.0)
        record["mono_s"] = 100.0 + i * 10.0
        records.append(record)
    path = write(tmp_path / "decisions.jsonl", records)
    assert main(["log", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # 50 s of decisions (the wall clock says a year and 50 s)
    assert out["chargers"]["carport"]["time_at_limit_s"] == {"16": 50.0}
    # an old log without mono_s: the step is clamped to a day, not a year
    for record in records:
        record.pop("mono_s", None)
    write(path, records)
    assert main(["log", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chargers"]["carport"]["time_at_limit_s"] == {"16": 86400.0 + 40.0}
