"""The unit file: Type=notify with watchdog, hardening, exposure <= 2.5 by systemd's own measure."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "loadbalancer.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_required_directives() -> None:
    d = directives()
    assert d["Type"] == ["notify"]
    assert d["WatchdogSec"]
    assert d["User"] == ["loadbalancer"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    assert d["CapabilityBoundingSet"] == [""]
    assert "@system-service" in d["SystemCallFilter"]
    assert d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert any("ttyUSB" in v for v in d["DeviceAllow"])
    assert d["LogsDirectory"] == ["loadbalancer"]
    # ProtectSystem=strict: the tariff's state file can only be written under StateDirectory
    assert d["StateDirectory"] == ["loadbalancer"]
    assert any(" run --config " in v for v in d["ExecStart"])


def test_restarted_after_every_exit_but_a_broken_site_file() -> None:
    # SIGHUP ended it and on-failure did not restart it; a stray SIGUSR1 now exits 0 after the
    # safe shutdown, which on-failure would not restart either
    d = directives()
    assert d["Restart"] == ["always"]
    assert d["RestartPreventExitStatus"] == ["2"]
    assert "ExecReload" not in d  # SIGHUP is not systemd's: it only reopens the log


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_exposure_is_at_most_2_5() -> None:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match is not None, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 2.5
