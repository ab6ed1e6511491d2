"""Without an ``http`` section the service opens no port and imports no HTTP library; with
one, it does both (so the probe can tell)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.http.helpers import THREE, free_port
from tests.service.harness import Box, site_yaml

REPO = Path(__file__).resolve().parents[2]


def probe(tmp_path: Path, http: dict[str, Any] | None) -> dict[str, Any]:
    """The real service for 1 s in a fresh interpreter (a meter and a charger that are not
    there: it runs its fallbacks)."""
    box = Box("carport", "alfen-eve", THREE)
    raw = site_yaml(
        f"tcp://127.0.0.1:{free_port()}", [box], {"carport": free_port()}, tmp_path / "d.jsonl"
    )
    if http is not None:
        raw["http"] = http
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(raw))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.http.probe_off", str(site), "1.0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_no_http_section_no_port_and_no_http_library(tmp_path: Path) -> None:
    found = probe(tmp_path, None)
    assert found["decisions"] > 0
    assert found["modules"] == [] and found["listening"] == []


def test_with_the_section_the_probe_sees_the_port_and_the_libraries(tmp_path: Path) -> None:
    port = free_port()
    found = probe(tmp_path, {"listen": f"127.0.0.1:{port}"})
    assert found["listening"] == [port]
    assert {"h11", "prometheus_client"} <= set(found["modules"])
    # the server is asyncio's own with h11: no aiohttp (11 MB of RSS by itself)
    assert not any(m.split(".")[0] in ("aiohttp", "multidict", "yarl") for m in found["modules"])
