"""The decision-log schema (``loadbalancer.records``): every field written is one it declares,
every reader names only fields it declares, and the log of ``make demo`` keeps its fields."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

import loadbalancer
from loadbalancer import records
from loadbalancer.logwriter import open_decision_log
from loadbalancer.record_views import view_of
from loadbalancer.records import (
    EVENTS,
    RECORD_TYPES,
    ChargerEntry,
    DecisionRecord,
    decode,
    fields_of,
    validated,
)
from loadbalancer.resources import example_file

PACKAGE = Path(loadbalancer.__file__).parent

#: the fields of each record of ``make demo``'s log (``loadbalancer simulate``, the default site
#: and scenario) as main wrote them before the schema was typed (issue 14); ``x.y[]`` are the
#: fields of the entries of list ``y`` of event ``x``, ``x.y`` those of object ``y``
DEMO_FIELDS = {
    # issue 20: cuts before the fresh reads (a run may have none)
    "early_cut": {"awaiting", "chargers", "event", "mono_s", "ts"},
    "charger_offline": {"charger", "error", "event", "mono_s", "ts"},
    "charger_online": {"charger", "event", "measured_a", "mono_s", "status", "ts"},
    "decision": {
        "allowed_a",
        "budget_used_s",
        "chargers",
        "event",
        "house_a",
        "meter_a",
        "meter_age_s",
        "mono_s",
        "trigger",
        "ts",
    },
    # issue 19 added phase_count (1 or 3)
    "decision.chargers[]": {
        "measured_a",
        "name",
        "phases",
        "previous_a",
        "reason",
        "setpoint_a",
        "phase_count",
    },
    "failsafe_unverified": {
        "charger",
        "current_a",
        "event",
        "mono_s",
        "reason",
        "timeout_s",
        "ts",
    },
    "meter_recovered": {"event", "meter_time", "mono_s", "ts"},
    "meter_stale": {"event", "meter_age_s", "mono_s", "rejected_telegrams", "ts"},
    "shutdown": {
        "chargers",
        "event",
        "log_dropped_records",
        "mono_s",
        "reason",
        "rejected_telegrams",
        "safe_current_a",
        "signal",
        "ts",
        "valid_telegrams",
    },
    "startup": {
        "chargers",
        "control",
        "event",
        "fuse",
        "fuse_margin_a",
        "fuse_phases",
        "fuse_rating_a",
        "meter",
        "mono_s",
        "shadow",
        "site",
        "ts",
        "version",
    },
    "startup.chargers[]": {
        "endpoint",
        "max_current_a",
        "min_current_a",
        "name",
        "phases",
        "priority",
        "profile",
    },
    "startup.control": {
        "ramp_up_delay_s",
        "resume_delay_s",
        "resume_margin_a",
        "safe_current_a",
        "stale_after_s",
        # issue 20: what simulate --replay needs to run the logged site again
        "failsafe_timeout_s",
        "poll_interval_s",
        "resume_delay_max_s",
        "telegram_period_s",
    },
    "write_failed": {"charger", "error", "event", "mono_s", "setpoint_a", "ts"},
    # a keep-alive that timed out on a busy machine (the demo runs at 600x)
    "keep_alive_failed": {"charger", "error", "event", "mono_s", "ts"},
}
#: records every run of the demo writes (the others come with faults or a slow machine)
ALWAYS = {"startup", "decision", "charger_online", "failsafe_unverified", "shutdown"}


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The log of ``make demo``'s simulate, on its first 15 simulated minutes (a few seconds)."""
    where = tmp_path_factory.mktemp("demo")
    scenario = yaml.safe_load(example_file("scenarios/winter-evening.yaml").read_text())
    scenario["duration_s"] = 900
    scenario["house"]["events"] = [e for e in scenario["house"]["events"] if e["at_s"] < 900]
    (where / "short.yaml").write_text(yaml.safe_dump(scenario))
    log = where / "decisions.jsonl"
    command = ["simulate", "--scenario", "short.yaml", "--log", str(log)]
    proc = subprocess.run(
        [sys.executable, "-m", "loadbalancer", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=where,
    )
    assert proc.returncode == 0, proc.stderr
    return log.read_bytes().splitlines()


def field_sets(lines: list[bytes]) -> dict[str, set[str]]:
    """Every field name written, by event (and by nested entry, as in :data:`DEMO_FIELDS`)."""
    found: defaultdict[str, set[str]] = defaultdict(set)
    for line in lines:
        record: dict[str, Any] = msgspec.json.decode(line)
        event = record["event"]
        found[event] |= set(record)
        for key, value in record.items():
            if isinstance(value, dict) and f"{event}.{key}" in DEMO_FIELDS:
                found[f"{event}.{key}"] |= set(value)
            if isinstance(value, list):
                for entry in value:
                    if isinstance(entry, dict):
                        found[f"{event}.{key}[]"] |= set(entry)
    return dict(found)


def test_the_demo_log_has_the_fields_it_had_before(demo_log: list[bytes]) -> None:
    found = field_sets(demo_log)
    assert set(found) >= ALWAYS | {"decision.chargers[]", "startup.chargers[]"}
    for event, fields in found.items():
        assert fields == DEMO_FIELDS.get(event), event


def test_every_record_the_demo_writes_is_one_the_schema_decodes(demo_log: list[bytes]) -> None:
    """Strict: a field the schema does not declare, or of another type, fails the decode."""
    decoded = [decode(line) for line in demo_log]
    assert {type(record) for record in decoded} >= {RECORD_TYPES[event] for event in ALWAYS}
    decisions = [r for r in decoded if isinstance(r, DecisionRecord)]
    assert decisions and all(r.chargers and r.ts and r.mono_s is not None for r in decisions)


def test_a_field_the_schema_does_not_know_fails_the_decode() -> None:
    record = validated(
        "decision",
        trigger="telegram",
        meter_a={"L1": 12.0},
        meter_age_s=0.5,
        house_a={"L1": 6.0},
        allowed_a={"L1": 13.0},
        budget_used_s={"L1": 0.0},
        chargers=[
            {
                "name": "carport",
                "measured_a": [6.0],
                "previous_a": 6.0,
                "setpoint_a": 10.0,
                "reason": "ramp_up",
                "phases": ["L1"],
            }
        ],
    )
    line = msgspec.json.encode(record)
    assert decode(line) == record
    with pytest.raises(msgspec.ValidationError, match="unknown field `headroom_a`"):
        decode(line[:-1] + b', "headroom_a": 3.0}')
    with pytest.raises(msgspec.ValidationError, match="surplus_a"):
        validated("write_failed", charger="carport", setpoint_a=6.0, error="x", surplus_a=1.0)


def test_every_event_name_has_its_record_type() -> None:
    assert set(RECORD_TYPES) == set(EVENTS)


def _written_fields() -> list[tuple[str, str, str]]:
    """``(place, event, field)`` of every keyword of a ``….record("event", …)`` or
    ``validated("event", …)`` call in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if name not in ("record", "validated", "_write") or not (
                isinstance(first, ast.Constant) and isinstance(first.value, str)
            ):
                continue
            place = f"{path.relative_to(PACKAGE)}:{node.lineno}"
            found += [(place, first.value, k.arg) for k in node.keywords if k.arg is not None]
            found.append((place, first.value, "event"))
    return found


def test_every_field_the_service_writes_is_in_the_schema() -> None:
    """Statically, for every call site (also those no test run reaches)."""
    written = _written_fields()
    assert len({place for place, _, _ in written}) > 20  # the service's call sites are found
    unknown = [
        f"{place}: {event}.{field}"
        for place, event, field in written
        if event not in RECORD_TYPES or field not in {"event", *fields_of(RECORD_TYPES[event])}
    ]
    assert unknown == []


def test_a_reading_view_may_only_name_fields_of_the_schema() -> None:
    @view_of(ChargerEntry)
    class Reads(msgspec.Struct):
        name: str
        setpoint_a: Any = None

    assert Reads.__struct_fields__ == ("name", "setpoint_a")
    with pytest.raises(TypeError, match="set_point_a: not fields of ChargerEntry"):

        @view_of(ChargerEntry)
        class Renamed(msgspec.Struct):
            set_point_a: Any = None


def test_a_typed_record_is_written_with_the_fields_of_its_type(tmp_path: Path) -> None:
    log = open_decision_log(str(tmp_path / "log.jsonl"), mono_clock=lambda: 5.0)
    log.write(validated("meter_recovered", meter_time=None))
    log.close()
    line = (tmp_path / "log.jsonl").read_bytes()
    assert list(msgspec.json.decode(line)) == ["ts", "event", "mono_s", "meter_time"]
    assert decode(line).mono_s == 5.0


def _schema_fields() -> set[str]:
    """Every field name of every record type and of the objects nested in them."""
    types: list[type[msgspec.Struct]] = [*RECORD_TYPES.values(), ChargerEntry]
    types += [records.StartupCharger, records.StartupControl]
    types += [records.DecisionTariff, records.StartupTariff]
    return {"event"}.union(*(fields_of(t) for t in types))


def test_every_field_the_review_reads_is_in_the_schema() -> None:
    """The review reads records defensively (any field may be missing or hostile), by name:
    each name it reads (``record.get("x")``, ``record["x"]``) must be one the schema declares,
    so a field renamed in the schema cannot leave a reader silently finding nothing."""
    read: list[str] = []
    for path in sorted((PACKAGE / "review").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            key: ast.expr | None = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "get" and node.args:
                    key = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                read.append(f"{path.name}:{key.lineno}: {key.value}")
    assert len(read) > 30  # the review's readers are found
    known = _schema_fields() | {"rating"}  # a group of the fuse name's pattern, not a field
    assert [place for place in read if place.rsplit(": ", 1)[1] not in known] == []
