"""The site's ``http:`` section: loopback needs nothing, anything else a bearer token, and
``check`` says which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loadbalancer.cli import main
from loadbalancer.config import load_site

REPO = Path(__file__).resolve().parents[2]
TOKEN = "0123456789abcdef-token"


def site_file(tmp_path: Path, http: Any) -> Path:
    raw = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
    raw["log"] = {"decisions": str(tmp_path / "decisions.jsonl")}
    raw["http"] = http
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_loopback_needs_no_token_and_check_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check(site_file(tmp_path, {"listen": "127.0.0.1:8080"}), capsys)
    assert code == 0
    assert "http: status page, health and metrics on http://127.0.0.1:8080/ (loopback only" in out


def test_another_address_without_a_token_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = site_file(tmp_path, {"listen": "0.0.0.0:8080"})
    code, out, err = check(path, capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert f"{path}: http.listen: 0.0.0.0 is not a loopback address" in err
    assert "http.token" in err


def test_another_address_with_a_token_is_valid_and_check_warns_it_is_reachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    code, out, _ = check(
        site_file(tmp_path, {"listen": "[::]:9000", "token_file": "token"}), capsys
    )
    assert code == 0
    assert "http://[::]:9000/ (NOT loopback: reachable from the network, every request" in out
    assert TOKEN not in out  # the token itself is never printed
    site = load_site(tmp_path / "site.yaml")
    assert site.http is not None and site.http.token == TOKEN and site.http.port == 9000


@pytest.mark.parametrize(
    ("http", "problem"),
    [
        ({"listen": "8080"}, "http.listen: '8080' is not host:port"),
        ({"listen": "my-host:8080"}, "http.listen: 'my-host' is not an IP address"),
        ({"listen": "127.0.0.1:70000"}, "http.listen: port 70000 is out of range"),
        ({"listen": "127.0.0.1:80", "token": "short"}, "http.token: the token must be at least"),
        ({"listen": "127.0.0.1:80", "token": TOKEN, "token_file": "x"}, "http: give token or"),
        ({"listen": "127.0.0.1:80", "token_file": "absent"}, "http.token_file: "),
        ({"listen": "127.0.0.1:80", "port": 1}, "http.port: unknown key"),
        ({}, "http.listen: missing"),
        ("127.0.0.1:8080", "http: expected a mapping"),
    ],
)
def test_bad_http_settings_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], http: Any, problem: str
) -> None:
    code, _, err = check(site_file(tmp_path, http), capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert problem in err, err
