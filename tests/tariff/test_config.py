"""The site file's ``tariff:`` section (issue 15 item 2): read like every other key, warned
about where the budget cannot work, printed by ``check``, and not even imported without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.config import load_site
from loadbalancer.errors import ConfigError
from tests.test_config import REPO, run_cli, site_with, write


def tariff_site(**tariff: Any) -> dict[str, Any]:
    return site_with(tariff={"profile": "ellevio", "budget_kw": 5.0, **tariff})


def test_a_tariff_section_becomes_the_site_s_tariff(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, tariff_site(mode="follow_peak", margin_kw=0.3)))
    assert site.tariff is not None
    assert (site.tariff.profile.name, site.tariff.budget_kw) == ("ellevio", 5.0)
    assert (site.tariff.mode, site.tariff.margin_kw) == ("follow_peak", 0.3)
    assert site.tariff.state_dir == "/var/lib/loadbalancer"
    assert site.warnings == ()


def test_defaults_cap_and_a_small_margin(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, tariff_site()))
    assert site.tariff is not None and site.tariff.mode == "cap" and site.tariff.margin_kw == 0.2


def problem(tmp_path: Path, data: object) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("tariff", "expected"),
    [
        ({"budget_kw": 0}, "tariff.budget_kw: 0 is out of range (0.1..100)"),
        ({"budget_kw": "5 kW"}, "tariff.budget_kw: expected a number, got '5 kW'"),
        ({"mode": "peak"}, "tariff.mode: unknown mode 'peak' (one of: cap, follow_peak)"),
        ({"margin_kw": 5.0}, "tariff.margin_kw: 5 kW leaves nothing of the budget"),
        ({"margin_kw": -1}, "tariff.margin_kw: -1 is out of range (0..5)"),
        ({"colour": "red"}, "tariff.colour: unknown key (known: budget_kw, margin_kw, mode, "),
        ({"profile": "elevio"}, "tariff.profile: 'elevio' is neither a bundled tariff profile"),
    ],
)
def test_a_bad_tariff_names_the_site_file_and_the_key(
    tmp_path: Path, tariff: dict[str, Any], expected: str
) -> None:
    assert problem(tmp_path, tariff_site(**tariff)).startswith(expected)


def test_a_missing_budget_is_named(tmp_path: Path) -> None:
    data = site_with(tariff={"profile": "ellevio"})
    assert problem(tmp_path, data) == "tariff.budget_kw: missing"


def test_a_broken_profile_beside_the_site_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "source: x\nread_on: 2026-11-30\ninterval_min: 20\ncomponents: [{name: a}]\n"
    )
    path = write(tmp_path, tariff_site(profile="mine.yaml"))
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert str(caught.value) == f"{tmp_path / 'mine.yaml'}: interval_min: 20 is neither 60 nor 15"


def test_a_budget_no_charger_can_charge_within_is_a_warning(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, tariff_site(budget_kw=4.0)))
    (warning,) = site.warnings
    assert warning.startswith(
        "tariff.budget_kw: 4 kW less the 0.2 kW margin is below the 4.1 kW a charger needs"
    )


def test_a_budget_above_the_fuse_is_a_warning(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, tariff_site(budget_kw=20.0)))  # 3x20 A, margin 1: 13.1 kW
    (warning,) = site.warnings
    assert warning.startswith("tariff.budget_kw: 20 kW is above the 13.1 kW the fuse lets through")


def test_check_prints_the_tariff_line(tmp_path: Path) -> None:
    path = write(tmp_path, tariff_site(mode="follow_peak"))
    proc = run_cli("check", "--config", str(path))
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("tariff:")]
    assert line == (
        "tariff: ellevio: mean of the 3 highest hour peaks, on different days (all hours); "
        "budget 5 kW, raised to the month's paid peak, margin 0.2 kW; month kept in "
        "/var/lib/loadbalancer"
    )


def test_without_a_tariff_nothing_of_it_is_imported() -> None:
    probe = (
        "import sys\nfrom loadbalancer.config import load_site\n"
        f"site = load_site({str(REPO / 'examples' / 'site.yaml')!r})\n"
        "assert site.tariff is None\n"
        "print(sorted(m for m in sys.modules if m.startswith(('loadbalancer.tariff', 'holidays'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "['loadbalancer.tariff', 'loadbalancer.tariff.settings']"


def test_a_profile_with_working_days_loads_the_holiday_calendar(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom loadbalancer.config import load_site\n"
        f"load_site({str(write(tmp_path, tariff_site(profile='falkenberg')))!r})\n"
        "print('holidays' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "True"
