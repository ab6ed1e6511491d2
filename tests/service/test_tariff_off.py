"""Without a ``tariff:`` section the service loads nothing of the tariff and writes none of its
fields (issue 15: options cost nothing when off)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.service import Service, startup_fields
site = load_site(sys.argv[1])
service = Service(site, log=open_decision_log(sys.argv[2]), status=lambda m: None)
service.log.record("startup", **startup_fields(site, False))
service.step()
service.log.close()
print(json.dumps(sorted(
    m for m in sys.modules
    if m.startswith(("loadbalancer.tariff", "holidays")) or m == "loadbalancer.tariff_intake"
)))
"""


def probe(site_file: Path, log: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(site_file), str(log)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    modules: list[str] = json.loads(out.stdout)
    return modules


def test_without_a_tariff_the_service_imports_none_of_it(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    modules = probe(REPO / "examples" / "site.yaml", log)
    # the site reader's settings type only: no profile, calendar, peaks, state or holidays
    assert modules == ["loadbalancer.tariff", "loadbalancer.tariff.settings"]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["startup", "decision"]
    assert all("tariff" not in r for r in records)


def test_with_a_tariff_the_service_loads_it(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
    raw["tariff"] = {"profile": "ellevio", "budget_kw": 5, "state_dir": str(tmp_path)}
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(raw))
    modules = probe(site_file, tmp_path / "decisions.jsonl")
    assert {"loadbalancer.tariff_intake", "loadbalancer.tariff.peaks"} <= set(modules)
