"""``loadbalancer simulate``: argument handling and output around :func:`simulate`."""

from __future__ import annotations

import sys
from pathlib import Path

from loadbalancer import jsontext
from loadbalancer.errors import UsageError
from loadbalancer.sim.run import default_site_path, simulate


def run_simulate(
    *, config: str | None, scenario: str, speed: float | None, as_json: bool, log: str
) -> int:
    if speed is not None and not 1 <= speed <= 5000:
        raise UsageError(f"--speed {speed:g}: must be between 1 and 5000")
    site_path = Path(config) if config else default_site_path()
    report = simulate(
        site_path,
        scenario,
        speed=speed,
        log_path=Path(log),
        status=lambda message: None,
    )
    if as_json:
        print(report.table(), file=sys.stderr)
        print(jsontext.dumps(report.to_json()))
    else:
        print(report.table())
    return 0
