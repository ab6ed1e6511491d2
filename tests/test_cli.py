from __future__ import annotations

import subprocess
import sys

import pytest

from loadbalancer.cli import main


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "meter" in capsys.readouterr().out


def test_unknown_command_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loadbalancer", "frobnicate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
