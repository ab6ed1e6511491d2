"""The site's ``mqtt:`` section: what ``check`` says (never the password), and each mistake
as one line naming the key."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadbalancer.config import load_site
from loadbalancer.mqtt.client import _tls
from loadbalancer.mqtt.commands import Overrides, budget_bounds, control_with
from loadbalancer.mqtt.store import LatestStore
from tests.http.test_settings import check

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-broker-password"
TARIFF = {"profile": "ellevio", "budget_kw": 5}


def site_file(tmp_path: Path, mqtt: Any, **more: Any) -> Path:
    raw = yaml.safe_load((REPO / "examples" / "site.yaml").read_text())
    raw["log"] = {"decisions": str(tmp_path / "decisions.jsonl")}
    raw["mqtt"] = mqtt
    raw.update(more)
    path = tmp_path / "home.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_check_names_the_password_file_never_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broker.pw").write_text(PASSWORD + "\n")
    mqtt = {
        "url": "mqtts://127.0.0.1",
        "username": "lb",
        "password_file": "broker.pw",
        "commands": ["max_current_a", "pause"],
    }
    code, out, err = check(site_file(tmp_path, mqtt), capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("mqtt: "))
    assert line == (
        f"mqtt: mqtts://127.0.0.1:8883 (TLS, certificate verified; user lb, password from "
        f"{tmp_path / 'broker.pw'}), state under loadbalancer/home/, Home Assistant discovery "
        "under homeassistant/; commands: max_current_a, pause"
    )
    assert PASSWORD not in out + err
    site = load_site(tmp_path / "home.yaml")
    assert site.mqtt is not None and site.mqtt.password == PASSWORD
    assert PASSWORD not in repr(site.mqtt)


def test_tls_is_verified_by_default() -> None:
    from loadbalancer.mqtt.settings import MqttConfig

    context = _tls(MqttConfig("127.0.0.1", 8883, True, "b", "c"))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert _tls(MqttConfig("127.0.0.1", 1883, False, "b", "c")) is None


@pytest.mark.parametrize(
    ("mqtt", "key", "problem"),
    [
        ({"url": "http://127.0.0.1"}, "mqtt.url", "is not mqtt://host[:port] or mqtts://"),
        ({"url": "mqtt://u:p@127.0.0.1"}, "mqtt.url", "only the scheme, host and port go here"),
        ({"url": "mqtt://127.0.0.1:99999"}, "mqtt.url", "Port out of range"),
        ({"url": "mqtt://127.0.0.1", "password": "x"}, "mqtt.password", "mqtt.password_file"),
        (
            {"url": "mqtt://127.0.0.1", "username": "lb", "password_file": "missing.pw"},
            "mqtt.password_file",
            "cannot read it",
        ),
        (
            {"url": "mqtt://127.0.0.1", "password_file": "x"},
            "mqtt.password_file",
            "needs mqtt.username",
        ),
        (
            {"url": "mqtt://127.0.0.1", "commands": ["reboot"]},
            "mqtt.commands[0]",
            "unknown command",
        ),
        ({"url": "mqtt://127.0.0.1", "commands": ["pause", "pause"]}, "mqtt.commands", "twice"),
        (
            {"url": "mqtt://127.0.0.1", "commands": ["budget_kw"]},
            "mqtt.commands[0]",
            "budget_kw needs a capacity tariff",
        ),
        ({"url": "mqtt://127.0.0.1", "base_topic": "a/#"}, "mqtt.base_topic", "no wildcards"),
        ({"url": "mqtt://127.0.0.1", "tls": {"ca_file": "ca.pem"}}, "mqtt.tls", "need an mqtts://"),
        (
            {"url": "mqtts://127.0.0.1", "tls": {"ca_file": "ca.pem"}},
            "mqtt.tls.ca_file",
            "no such file",
        ),
        ({"url": "mqtt://127.0.0.1", "keepalive_s": 1}, "mqtt.keepalive_s", "out of range"),
    ],
)
def test_each_mistake_is_one_line_naming_its_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mqtt: dict[str, Any],
    key: str,
    problem: str,
) -> None:
    path = site_file(tmp_path, mqtt)
    code, out, err = check(path, capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert f"{path}: {key}: " in err and problem in err, err


def test_a_password_in_clear_to_another_host_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broker.pw").write_text(PASSWORD)
    mqtt = {"url": "mqtt://192.0.2.7", "username": "lb", "password_file": "broker.pw"}
    code, out, _ = check(site_file(tmp_path, mqtt), capsys)
    assert code == 0
    assert "warning: mqtt: the password goes to 192.0.2.7 without TLS (in clear)" in out


def test_budget_bounds_are_the_tariffs_and_the_fuses(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path, {"url": "mqtt://127.0.0.1"}, tariff=TARIFF))
    bounds = budget_bounds(site)
    fuse = site.fuse
    assert site.tariff is not None
    assert bounds.low > site.tariff.margin_kw
    assert bounds.high <= fuse.phases * (fuse.rating_a - fuse.margin_a) * 230 / 1000


def test_a_commanded_maximum_never_raises_a_charger_above_the_site_file(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path, {"url": "mqtt://127.0.0.1"}))
    spec = site.control.chargers[0]
    above = control_with(
        site.control, Overrides(max_current_a={spec.name: spec.max_current_a + 10})
    )
    assert above.chargers[0].max_current_a == spec.max_current_a
    below = control_with(site.control, Overrides(max_current_a={spec.name: spec.min_current_a}))
    assert below.chargers[0].max_current_a == spec.min_current_a
    assert control_with(site.control, Overrides()) is site.control


def test_the_store_keeps_one_payload_per_topic_and_no_more_topics_than_its_bound() -> None:
    store = LatestStore(max_topics=3)
    for i in range(1000):
        store.put("a", str(i).encode())
    assert len(store) == 1 and store.pending == 1
    assert store.take() == ("a", b"999")
    store.sent("a", b"999")
    store.put("a", b"999")  # what went out already: nothing to do
    assert store.take() is None and not store.changed.is_set()
    for topic in ("b", "c", "d", "e"):
        store.put(topic, b"1")
    assert len(store) == 3 and store.refused == 2
    topic, _ = store.take() or ("", b"")
    store.failed(topic)  # not out: it goes again
    assert store.pending == 2
    store.resend()
    assert store.pending == 3
