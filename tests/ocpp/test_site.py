"""The site file's OCPP keys and the OCPP profiles: parsed, validated, refused with one line;
and a site without an OCPP charger never imports the OCPP libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadbalancer.config import load_site
from loadbalancer.errors import ConfigError, UsageError
from loadbalancer.ocpp.profile import load_ocpp_profile
from loadbalancer.ocpp.site import OcppChargerConfig
from loadbalancer.resources import bundled_profile_names

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "0123456789abcdef0123"
BUNDLED = ["alfen-ocpp", "charge-amps", "ctek", "easee", "generic-ocpp", "wallbox", "zaptec"]


def site_data(**ocpp: Any) -> dict[str, Any]:
    return {
        "meter": {"source": "tcp://127.0.0.1:2000", "protocol": "p1"},
        "fuse": "3x20A-gG",
        "chargers": [
            {
                "name": "carport",
                "protocol": "ocpp",
                "charge_point_id": "CP001",
                "profile": "easee",
                "phases": ["L1", "L2", "L3"],
                "max_current_a": 16,
                "priority": 2,
            }
        ],
        "ocpp": {"listen": "0.0.0.0:8887", "auth": "basic", "password_file": "pw", **ocpp},
    }


def load(tmp_path: Path, data: dict[str, Any]) -> Any:
    pw = tmp_path / "pw"
    if not pw.exists():
        pw.write_text(PASSWORD + "\n")
        pw.chmod(0o600)
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(data))
    return load_site(tmp_path / "site.yaml")


def problem(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, data)
    return str(error.value)


def test_an_ocpp_charger_and_its_central_system(tmp_path: Path) -> None:
    site = load(tmp_path, site_data())
    (charger,) = site.chargers
    assert isinstance(charger, OcppChargerConfig)
    assert (charger.charge_point_id, charger.profile.name, charger.spec.priority) == (
        "CP001",
        "easee",
        2,
    )
    assert site.ocpp.password == PASSWORD.encode() and site.ocpp.security_profile == 1
    summary = site.summary()
    assert "charger carport: easee at OCPP CP001 connector 1" in summary
    assert "ocpp: central system at ws://0.0.0.0:8887/<charge point id>, Basic auth" in summary
    # the password crosses the LAN in clear; the box keeps its last limit if we die
    assert "warning: ocpp: Basic auth over plain ws on 0.0.0.0" in summary
    assert "failsafe unverified" in summary and "keeps the last limit" in summary


def test_tls_is_security_profile_2(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    site = load(tmp_path, site_data(tls={"cert_file": "cert.pem", "key_file": "key.pem"}))
    assert site.ocpp.security_profile == 2
    assert "wss://0.0.0.0:8887" in site.summary()
    assert "plain ws" not in site.summary()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ocpp": {"listen": "0.0.0.0:8887", "auth": "none"}}, "ocpp.auth: none on 0.0.0.0"),
        ({"ocpp": None}, "ocpp: expected a mapping"),
        ({"ocpp": {"listen": "0.0.0.0", "auth": "none"}}, "ocpp.listen: '0.0.0.0': expected"),
        ({"ocpp": {"listen": "box:1", "auth": "none"}}, "'box' is not an IP address"),
        ({"ocpp": {"listen": "0.0.0.0:1", "auth": "basic"}}, "ocpp.password_file: missing"),
        ({"chargers.0.charge_point_id": "CP 1/x"}, "chargers[0].charge_point_id: 'CP 1/x'"),
        ({"chargers.0.profile": "easy"}, "did you mean 'easee'?"),
        ({"chargers.0.max_current_a": 40}, "above the main fuse's rating"),
        ({"chargers.0.host": "10.0.0.1"}, "chargers[0].host: unknown key"),
    ],
)
def test_bad_ocpp_keys_are_one_line_errors(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    data = site_data()
    for key, value in change.items():
        if key.startswith("chargers.0."):
            data["chargers"][0][key.removeprefix("chargers.0.")] = value
        else:
            data[key] = value
    message = problem(tmp_path, data)
    assert expected in message and "\n" not in message


def test_loopback_without_auth_is_allowed(tmp_path: Path) -> None:
    site = load(tmp_path, {**site_data(), "ocpp": {"listen": "127.0.0.1:8887", "auth": "none"}})
    assert site.ocpp.security_profile == 0 and not [w for w in site.warnings if "ocpp:" in w]


def test_an_ocpp_charger_needs_the_section_and_ids_are_unique(tmp_path: Path) -> None:
    data = site_data()
    del data["ocpp"]
    assert "ocpp: missing: an OCPP charger needs" in problem(tmp_path, data)
    data = site_data()
    data["chargers"].append({**data["chargers"][0], "name": "garage", "charge_point_id": "cp001"})
    assert "chargers[1].host: OCPP cp001 connector 1 is also chargers[0]" in problem(tmp_path, data)


def test_the_password_file_is_checked(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("short\n")
    assert "the password has 5 bytes" in problem(tmp_path, site_data())
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "pw").chmod(0o644)
    assert any("can be read by every user" in w for w in load(tmp_path, site_data()).warnings)


def test_every_bundled_profile_loads_and_names_its_sources() -> None:
    assert bundled_profile_names("ocpp") == BUNDLED
    for name in BUNDLED:
        profile = load_ocpp_profile(name)
        assert profile.sources and profile.unverified
        assert profile.writes.daily_budget >= 5 and profile.failsafe.note
    easee = load_ocpp_profile("easee")
    assert (easee.writes.daily_budget, easee.meter.interval_s) == (25, 30.0)
    assert load_ocpp_profile("wallbox").charging.kind == "Relative"
    assert load_ocpp_profile("charge-amps").failsafe.key == "InstallationOfflineCurrent"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"charging": {"rate_unit": "kW"}}, "charging.rate_unit: unknown unit 'kW'"),
        ({"charging": {"purpose": "TxProfile"}}, "charging.purpose: unknown purpose"),
        ({"meter_values": {"measurands": ["Current.Offered"]}}, "Current.Import is needed"),
        ({"failsafe": {"mechanism": "vendor_setting"}}, "failsafe.key: a vendor_setting needs"),
        ({"failsafe": {"value": "{current_a.real}"}}, "failsafe.value: may name only"),
        ({"writes": {"daily_budget": 1}}, "writes.daily_budget: 1 is out of range"),
        ({"sources": []}, "sources: name at least one source"),
    ],
)
def test_bad_profiles_name_file_and_key(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    data = yaml.safe_load((REPO / "profiles" / "ocpp" / "generic-ocpp.yaml").read_text())
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as error:
        load_ocpp_profile(str(path))
    assert str(error.value).startswith(f"{path}: ") and expected in str(error.value)


_IMPORTED = (
    "import sys; from pathlib import Path; from loadbalancer.config import load_site; "
    "from loadbalancer.service import Service; from loadbalancer.logwriter import "
    "open_decision_log; site = load_site(Path(sys.argv[1])); "
    "Service(site, log=open_decision_log('-')); "
    "print(sorted(m for m in ('ocpp', 'websockets') if m in sys.modules))"
)


def test_the_ocpp_libraries_are_imported_only_for_an_ocpp_charger(tmp_path: Path) -> None:
    def imported(site: Path) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORTED, str(site)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return proc.stdout.strip()

    assert imported(REPO / "examples" / "site.yaml") == "[]"
    load(tmp_path, site_data())
    assert imported(tmp_path / "site.yaml") == "['ocpp', 'websockets']"


def test_without_the_extra_check_warns_and_run_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from loadbalancer.logwriter import open_decision_log
    from loadbalancer.service import Service

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ocpp" else real(name, *a)
    )
    site = load(tmp_path, site_data())
    assert any("the ocpp extra is not installed" in w for w in site.warnings)
    with pytest.raises(UsageError, match="pip install 'loadbalancer\\[ocpp\\]'"):
        Service(site, log=open_decision_log("-"))
