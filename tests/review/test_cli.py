"""``loadbalancer log`` as a command: exit codes, one-line errors, the plot extra."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadbalancer.cli import main
from tests.review.logs import evening, write


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write(tmp_path / "decisions.jsonl", evening(), tail='{"ts": "2026-01-14T1')


def test_summary_and_one_stderr_line_for_the_torn_line(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", str(log)]) == 0
    out, err = capsys.readouterr()
    assert "charger carport" in out and "cuts (overload_cut): 1" in out
    assert err.count("\n") == 1
    assert (
        f"skipped 1 unreadable line (not a JSON record with ts and event), the first at {log}:"
        in (err)
    )


def test_json_with_filters(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", str(log), "--json", "--since", "18:10", "--until", "18:15"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["from"] == "2026-01-14T18:10:00.000+01:00"
    assert out["to"] == "2026-01-14T18:15:00.000+01:00"
    assert out["chargers"]["carport"]["time_at_limit_s"] == {"16": 230.0, "7": 70.0}
    assert out["unreadable_lines"] == 1


def test_explain_as_json(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", str(log), "--explain", "18:10:05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chargers"]["carport"]["phase"] == "L1"
    assert any("Overloaded phase L1" in line for line in out["text"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "teatime"], "--since 'teatime': not a time"),
        (["--explain", "25:00"], "--explain 25:00: not a time of day"),
        (["--charger", "garage"], "--charger garage: no such charger"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    log: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["log", str(log), *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2  # the torn-line note, then the error
    assert err[-1].startswith("loadbalancer log: ") and message in err[-1]


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", str(tmp_path / "nope.jsonl")]) == 2
    assert capsys.readouterr().err == f"loadbalancer log: {tmp_path / 'nope.jsonl'}: no such file\n"


def test_a_file_without_records_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # not a decision log: bad input, like a window with nothing in it (exit 2)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["log", str(empty)]) == 2
    assert "no readable records" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_install_it(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["log", str(log), "--plot", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "loadbalancer log: plotting needs matplotlib: pip install 'loadbalancer[plot]'"
    )
    assert not (tmp_path / "x.png").exists()


def test_plot_of_a_hand_written_log_with_an_outage(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "evening.png"
    assert main(["log", str(log), "--plot", str(out), "--charger", "carport"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_as_a_process_no_traceback_for_a_bad_time(log: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadbalancer", "log", str(log), "--until", "noon"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("loadbalancer log: --until 'noon'")


def test_the_readme_examples_are_what_the_command_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### `loadbalancer log FILE...") :]
    # the plain ``` blocks (an opening fence follows a blank line, a closing one does not)
    summary, explanation = re.findall(r"\n\n```\n(.*?)\n```", section, re.DOTALL)[:2]
    log = write(tmp_path / "decisions.jsonl", evening())
    assert main(["log", str(log)]) == 0
    assert capsys.readouterr().out.strip() == summary
    assert main(["log", str(log), "--explain", "18:10:05"]) == 0
    assert capsys.readouterr().out.strip() == explanation
