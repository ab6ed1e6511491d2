"""Without an ``http`` section the service opens no port and imports no HTTP library; with
one, it does both (so the probe can tell)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.service.harness import free_port
from tests.service.probe_run import probe as probe_run

HTTP_LIBRARIES = ("h11", "aiohttp", "prometheus_client", "multidict", "yarl")


def probe(tmp_path: Path, http: dict[str, Any] | None) -> dict[str, Any]:
    return probe_run(tmp_path, "http", http, HTTP_LIBRARIES)


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
