"""The control core stays pure: nothing under loadbalancer/control/ does I/O or reads a clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

import loadbalancer.control
from loadbalancer.control import ChargerRead, Inputs, MeterInput, decide, initial_state
from tests.control.builders import config_of, ev

CONTROL_DIR = Path(loadbalancer.control.__file__).parent
#: modules that do I/O, read a clock or log (docs/ARCHITECTURE.md §Walls)
FORBIDDEN = {
    "asyncio", "time", "datetime", "structlog", "logging", "pymodbus", "serial", "yaml",
    "socket", "os", "pathlib", "io", "random", "subprocess", "threading",
}  # fmt: skip


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(CONTROL_DIR.glob("*.py")), ids=lambda p: p.name)
def test_control_modules_import_nothing_that_does_io(module: Path) -> None:
    assert imported_roots(module.read_text(encoding="utf-8")) & FORBIDDEN == set()


def test_the_check_sees_a_forbidden_import() -> None:
    assert imported_roots("import time\nfrom asyncio import sleep\n") == {"time", "asyncio"}


def test_importing_the_core_loads_no_io_library() -> None:
    probe = (
        "import sys, loadbalancer.control;"
        "print(' '.join(m for m in ('asyncio', 'structlog', 'pymodbus', 'yaml', 'serial')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_decide_is_pure_same_inputs_same_outputs_inputs_untouched() -> None:
    config = config_of(ev("a"), ev("b", ("L2",)))
    reads = {
        "a": ChargerRead((10.0, 10.0, 10.0), "C", True, 5.0),
        "b": ChargerRead((7.0,), "C", True, 5.0),
    }
    inputs = Inputs(MeterInput((14.0, 21.0, 13.0), 5.0), reads)
    snapshot = dict(reads)
    state = initial_state(config)
    first = decide(state, inputs, config, 5.0)
    second = decide(state, inputs, config, 5.0)
    assert first == second
    assert inputs.chargers == snapshot
    assert state == initial_state(config)
    with pytest.raises(FrozenInstanceError):
        first[1].chargers[0].setpoint_a = 99.0  # type: ignore[misc]


def test_the_decision_record_has_the_spec_fields() -> None:
    config = config_of(ev("a"))
    reads = {"a": ChargerRead((10.0, 9.5, 10.0), "C", True, 5.0)}
    _, decision = decide(
        initial_state(config), Inputs(MeterInput((14.0, 21.0, 13.0), 3.0), reads), config, 5.0
    )
    record = decision.to_record()
    assert {"meter_a", "meter_age_s", "house_a", "allowed_a", "chargers"} <= record.keys()
    assert "ts" not in record
    assert "event" not in record
    assert record["meter_age_s"] == 2.0
    assert record["house_a"] == {"L1": 4.0, "L2": 11.5, "L3": 3.0}
    assert record["allowed_a"] == {"L1": 15.0, "L2": 7.5, "L3": 16.0}
    (charger,) = record["chargers"]
    assert {"name", "measured_a", "previous_a", "setpoint_a", "reason"} <= charger.keys()
    assert charger["measured_a"] == [10.0, 9.5, 10.0]
    assert charger["reason"] == "start"
    assert charger["previous_a"] is None


PACKAGE_DIR = CONTROL_DIR.parent
#: the only modules that may import pymodbus: the client transport and the emulator's server
PYMODBUS_MODULES = {"chargers/modbus.py", "chargers/emulator.py"}
#: the command line is the top: only ``python -m loadbalancer`` may import it
CLI_IMPORTERS = {"__main__.py"}


def imported_modules(source: str) -> set[str]:
    """Every absolute module a source imports, with the names imported from it
    (``from loadbalancer import cli`` counts as ``loadbalancer.cli``)."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def package_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def test_only_the_modbus_transport_and_the_emulator_import_pymodbus() -> None:
    importers = {
        module.relative_to(PACKAGE_DIR).as_posix()
        for module in package_modules()
        if "pymodbus" in imported_roots(module.read_text(encoding="utf-8"))
    }
    assert importers == PYMODBUS_MODULES


def test_nothing_imports_the_command_line() -> None:
    importers = {
        module.relative_to(PACKAGE_DIR).as_posix()
        for module in package_modules()
        if "loadbalancer.cli" in imported_modules(module.read_text(encoding="utf-8"))
    }
    assert importers <= CLI_IMPORTERS


def test_the_walls_see_what_they_forbid() -> None:
    assert "pymodbus" in imported_roots("from pymodbus.client import AsyncModbusTcpClient\n")
    assert "loadbalancer.cli" in imported_modules("from loadbalancer import cli\n")
    assert "loadbalancer.cli" in imported_modules("from loadbalancer.cli import main\n")
    assert "loadbalancer.cli" in imported_modules("import loadbalancer.cli\n")
