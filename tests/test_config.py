"""The site file and every validation of it, through ``check`` and ``run``."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadbalancer.config import ModbusChargerConfig, load_site
from loadbalancer.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

EXAMPLE_SITE: dict[str, Any] = {
    "meter": {
        "source": "serial:///dev/ttyUSB0",
        "protocol": "auto",
        "telegram_period_s": 10,
        "stale_after_s": 25,
    },
    "fuse": "3x20A-gG",
    "chargers": [
        {
            "name": "carport",
            "profile": "alfen-eve",
            "host": "192.168.1.60",
            "port": 502,
            "unit_id": 1,
            "phases": ["L1", "L2", "L3"],
            "max_current_a": 16,
            "priority": 1,
        }
    ],
    "control": {
        "safe_current_a": 6,
        "ramp_up_delay_s": 60,
        "resume_delay_s": 300,
        "poll_interval_s": 2,
    },
    "log": {"decisions": "/var/log/loadbalancer/decisions.jsonl"},
}


def write(tmp_path: Path, data: object, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def site_with(**changes: Any) -> dict[str, Any]:
    """EXAMPLE_SITE with dotted-path changes: ``site_with(**{"meter.stale_after_s": 5})``."""
    data = copy.deepcopy(EXAMPLE_SITE)
    for dotted, value in changes.items():
        node: Any = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if value is _DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return data


_DELETE = object()


def problem(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_site(write(tmp_path, data))
    return str(caught.value)


def test_the_spec_site_file_is_valid(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, EXAMPLE_SITE))
    assert site.fuse.name == "3x20A-gG" and site.fuse.rating_a == 20
    (carport,) = site.chargers
    assert carport.profile.name == "alfen-eve" and carport.spec.phases == ("L1", "L2", "L3")
    assert site.control.ramp_up_delay_s == 60 and site.control.safe_current_a == 6
    assert site.warnings == ()
    assert "carport: alfen-eve at 192.168.1.60:502 unit 1" in site.summary()


def test_defaults_come_from_the_profile(tmp_path: Path) -> None:
    data = site_with(**{"chargers.0.port": _DELETE, "chargers.0.unit_id": _DELETE})
    (carport,) = load_site(write(tmp_path, data)).chargers
    assert isinstance(carport, ModbusChargerConfig)
    assert (carport.port, carport.unit_id) == (502, 1)
    # what the box itself can be set to: the plausibility gate's bound for its reads
    assert carport.spec.box_max_current_a == carport.profile.setpoint.max_a == 32.0


def test_fast_timers_as_in_the_issue(tmp_path: Path) -> None:
    data = site_with(
        **{
            "meter.telegram_period_s": 1,
            "meter.stale_after_s": 4,
            "control.ramp_up_delay_s": 5,
            "control.resume_delay_s": 10,
            "control.poll_interval_s": 0.5,
        }
    )
    site = load_site(write(tmp_path, data))
    assert site.poll_interval_s == 0.5 and site.control.stale_after_s == 4


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"meter.source": _DELETE}, "site.yaml: meter.source: missing"),
        ({"chargers.0.colour": "red"}, "site.yaml: chargers[0].colour: unknown key"),
        ({"control.ramp_up_delays": 5}, "control.ramp_up_delays: unknown key"),
        ({"control.poll_interval_s": 0}, "control.poll_interval_s: 0 is out of range"),
        ({"control.ramp_up_delay_s": "soon"}, "control.ramp_up_delay_s: expected a number"),
        ({"chargers.0.port": 70000}, "chargers[0].port: 70000 is out of range"),
        ({"meter.protocol": "modbus"}, "meter.protocol: unknown protocol 'modbus'"),
        ({"meter.source": "http://meter"}, "meter.source: source 'http://meter'"),
        ({"fuse": "3x99A-gG"}, "site.yaml: fuse: '3x99A-gG' is neither a bundled fuse profile"),
        (
            {"chargers.0.profile": "tesla-wall"},
            "chargers[0].profile: 'tesla-wall' is neither a bundled charger profile",
        ),
        ({"chargers.0.max_current_a": 25}, "above the main fuse's rating (20 A)"),
        ({"chargers.0.phases": ["L1", "L4"]}, "chargers[0].phases[1]: 'L4' is not a phase"),
        ({"chargers.0.phases": ["L1", "L1"]}, "chargers[0].phases: a grid phase appears twice"),
        ({"meter.stale_after_s": 15}, "meter.stale_after_s: 15 s is shorter than two telegram"),
        ({"control.safe_current_a": 3}, "control.safe_current_a: 3 A is below the 6 A"),
        ({"chargers": []}, "chargers: at least one charger is needed"),
    ],
)
def test_invalid_sites_name_file_key_and_problem(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    message = problem(tmp_path, site_with(**changes))
    assert expected in message
    assert message.startswith(str(tmp_path / "site.yaml")) or message.startswith("3x99A")
    assert "\n" not in message


def test_max_current_above_the_profile_hardware_maximum(tmp_path: Path) -> None:
    data = site_with(**{"fuse": "3x35A-gG", "chargers.0.max_current_a": 34})
    assert "above what the alfen-eve profile takes" in problem(tmp_path, data)


def test_one_phase_fuse_takes_only_l1(tmp_path: Path) -> None:
    data = site_with(**{"fuse": "1x16A-gG", "chargers.0.max_current_a": 10})
    assert "'L2' is not a phase of the 1-phase fuse (L1)" in problem(tmp_path, data)


def test_safe_currents_per_phase_must_fit_the_fuse(tmp_path: Path) -> None:
    charger = EXAMPLE_SITE["chargers"][0]
    chargers = [
        {**charger, "name": f"box{i}", "host": f"192.168.1.{60 + i}", "max_current_a": 10}
        for i in range(3)
    ]
    data = site_with(**{"fuse": "3x16A-gG", "chargers": chargers})
    message = problem(tmp_path, data)
    assert "control.safe_current_a: 6 A for each charger makes 18 A on L1" in message


def test_two_chargers_at_the_same_endpoint(tmp_path: Path) -> None:
    charger = EXAMPLE_SITE["chargers"][0]
    data = site_with(chargers=[charger, {**charger, "name": "garage"}])
    assert "192.168.1.60:502 unit 1 is also chargers[0] (carport)" in problem(tmp_path, data)


def test_duplicate_names(tmp_path: Path) -> None:
    charger = EXAMPLE_SITE["chargers"][0]
    data = site_with(chargers=[charger, {**charger, "host": "192.168.1.61"}])
    assert "chargers[1].name: 'carport' is also chargers[0]" in problem(tmp_path, data)


def test_warnings_for_margin_zero_and_an_unverifiable_failsafe(tmp_path: Path) -> None:
    inline = {"rating_a": 20, "phases": 3, "characteristic": "gG", "margin_a": 0}
    data = site_with(**{"fuse": inline, "chargers.0.profile": "phoenix-charx"})
    site = load_site(write(tmp_path, data))
    assert any("margin_a is 0" in w for w in site.warnings)
    assert any("no failsafe" in w for w in site.warnings)


def test_fuse_and_charger_profile_by_path(tmp_path: Path) -> None:
    (tmp_path / "myfuse.yaml").write_text("rating_a: 25\nphases: 3\ncharacteristic: C\n")
    generic = (REPO / "profiles" / "chargers" / "generic.yaml").read_text()
    (tmp_path / "mybox.yaml").write_text(generic)
    data = site_with(**{"fuse": "myfuse.yaml", "chargers.0.profile": "mybox.yaml"})
    site = load_site(write(tmp_path, data))
    assert site.fuse.rating_a == 25
    assert isinstance(site.chargers[0], ModbusChargerConfig)
    assert site.chargers[0].profile.file.endswith("mybox.yaml")


def test_inline_fuse_errors_name_the_site_file(tmp_path: Path) -> None:
    data = site_with(fuse={"rating_a": 20, "phases": 2, "characteristic": "gG"})
    message = problem(tmp_path, data)
    assert message.startswith(str(tmp_path / "site.yaml")) and "fuse.phases" in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = problem(tmp_path, "meter:\n  source: [tcp://x:1\nfuse: 3x20A-gG\n")
    assert "not valid YAML: line" in message


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadbalancer", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_check_prints_a_summary_and_exits_0() -> None:
    proc = run_cli("check", "--config", str(REPO / "examples" / "site.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "fuse: 3x20A-gG" in proc.stdout and "charger carport" in proc.stdout


def test_check_and_run_refuse_an_invalid_site_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, site_with(**{"chargers.0.max_current_a": 25}))
    for command in ("check", "run"):
        proc = run_cli(command, "--config", str(path))
        assert proc.returncode == 2, (command, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
        assert f"{path}: chargers[0].max_current_a:" in proc.stderr


def test_missing_site_file() -> None:
    proc = run_cli("check", "--config", "/nonexistent/site.yaml")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_min_current_off_the_chargers_step_names_the_key(tmp_path: Path) -> None:
    data = site_with(
        **{"chargers.0.profile": "vestel-evc04", "chargers.0.min_current_a": 6.5}
    )  # vestel-evc04 takes whole amperes: the core's ChargerSpec raised a ValueError
    message = problem(tmp_path, data)
    assert message.endswith(
        "site.yaml: chargers[0].min_current_a: 6.5 A is not a multiple of the vestel-evc04 "
        "profile's step (1 A)"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("meter.stale_after_s", float("nan")),
        ("meter.telegram_period_s", float("nan")),
        ("control.safe_current_a", float("nan")),
        ("chargers.0.max_current_a", float("nan")),
        ("chargers.0.min_current_a", float("nan")),
        ("control.ramp_up_delay_s", float("inf")),
        ("control.failsafe_timeout_s", float("inf")),
        ("control.response_time_s", float("-inf")),
        ("control.min_share_hold_s", float("nan")),
    ],
)
def test_every_number_must_be_finite(tmp_path: Path, key: str, value: float) -> None:
    path = key.replace(".0.", "[0].")
    assert f"{path}: expected a finite number" in problem(tmp_path, site_with(**{key: value}))


@pytest.mark.parametrize("name", ["car\x1b[2Jport", "car\u202eport", "car\x07"])
def test_control_characters_in_a_charger_name_are_refused(tmp_path: Path, name: str) -> None:
    message = problem(tmp_path, site_with(**{"chargers.0.name": name}))
    assert "chargers[0].name: " in message and "holds a control character" in message
    assert "\x1b" not in message and "\u202e" not in message


def test_a_percent_encoded_key_never_reaches_the_summary(tmp_path: Path) -> None:
    key = "00112233445566778899AABBCCDDEEFF"
    site = load_site(
        write(tmp_path, site_with(**{"meter.source": f"tcp://127.0.0.1:2000?%6Bey={key}"}))
    )
    assert site.meter.options.key == bytes.fromhex(key)
    assert key not in site.summary() and "key=***" in site.summary()


def test_a_wrong_profile_path_never_quotes_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n")
    for key in ("fuse", "chargers.0.profile"):
        message = problem(tmp_path, site_with(**{key: str(secret)}))
        assert "saltsalt" not in message and "root:" not in message


# ---- log.decisions: check and run make sure the decision log can be written ---------------


def run_site(tmp_path: Path, command: str, decisions: str) -> subprocess.CompletedProcess[str]:
    path = write(tmp_path, site_with(**{"log.decisions": decisions}))
    return run_cli(command, "--config", str(path))


def test_check_refuses_a_decision_log_that_is_not_one(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    proc = run_site(tmp_path, "check", str(passwd))
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        f"log.decisions: {passwd}: holds something else than a decision log (JSON lines): "
        "not touched"
    )
    assert passwd.read_text() == "root:x:0:0:root:/root:/bin/bash\n"


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_read_only_or_odd_decision_log_place_is_one_line_exit_2(
    tmp_path: Path, command: str
) -> None:
    # /sys refuses new files even to root; a folder is no log; a file is no folder
    (tmp_path / "file").write_text("")
    for place in ("/sys/loadbalancer-decisions.jsonl", str(tmp_path), f"{tmp_path}/file/x"):
        proc = run_site(tmp_path, command, place)
        assert proc.returncode == 2, (place, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
        assert f"log.decisions: {place}: " in proc.stderr


def test_a_missing_log_folder_warns_in_check_and_stops_run(tmp_path: Path) -> None:
    place = str(tmp_path / "not-yet" / "decisions.jsonl")
    proc = run_site(tmp_path, "check", place)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: log.decisions: {tmp_path / 'not-yet'} does not exist yet" in proc.stdout
    proc = run_site(tmp_path, "run", place)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        f"log.decisions: cannot create {place}: directory {tmp_path / 'not-yet'} does not exist"
    )


def test_check_leaves_a_writable_log_place_as_it_found_it(tmp_path: Path) -> None:
    fresh = tmp_path / "decisions.jsonl"
    proc = run_site(tmp_path, "check", str(fresh))
    assert proc.returncode == 0, proc.stderr
    assert not fresh.exists()  # created to try, removed again
    fresh.write_text('{"ts": "2026-01-14T17:00:00.000+01:00", "event": "startup"}\n')
    proc = run_site(tmp_path, "check", str(fresh))
    assert proc.returncode == 0, proc.stderr
    assert fresh.read_text().count("\n") == 1


def test_the_core_refuses_numbers_that_are_not_finite_itself() -> None:
    """control/config.py stands on its own: NaN passes every comparison, so it is refused
    by name before the checks that compare."""
    from loadbalancer.control.config import ChargerSpec, ControlConfig
    from loadbalancer.fuse_profiles import load_fuse_profile

    fuse = load_fuse_profile("3x20A-gG")
    good = ChargerSpec(name="carport", phases=("L1", "L2", "L3"), max_current_a=16)
    with pytest.raises(ValueError, match="finite"):
        ChargerSpec(
            name="carport", phases=("L1",), max_current_a=16, failsafe_current_a=float("nan")
        )
    for field in ("stale_after_s", "safe_current_a", "hold_horizon_s", "demand_headroom_a"):
        with pytest.raises(ValueError, match="finite"):
            ControlConfig(fuse=fuse, chargers=(good,), **{field: float("nan")})
    assert ControlConfig(fuse=fuse, chargers=(good,)).stale_after_s == 25.0
