"""Each concept of the meter side is written once (issue 14 item 7): one assembly of a reading
for every parser, the phase names and the nominal voltage from :mod:`loadbalancer.electric`."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import loadbalancer.meter
from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.meter.dlms import DlmsParser
from loadbalancer.meter.emulator import PhaseLoad, aidon_frame, swedish_telegram
from loadbalancer.meter.p1 import P1Parser
from loadbalancer.meter.reading import MeterParser, Reading, Rejection

METER_DIR = Path(loadbalancer.meter.__file__).parent
MODULES = sorted(METER_DIR.glob("*.py"))
T0 = datetime(2026, 1, 14, 18, 0, 0)


def _tree(module: Path) -> ast.Module:
    return ast.parse(module.read_text(encoding="utf-8"))


def calls_of(tree: ast.AST, name: str) -> int:
    """How often ``name(...)`` (or ``x.name(...)``) is called in ``tree``."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            count += called == name
    return count


def test_a_reading_is_assembled_in_one_place_for_every_parser() -> None:
    builders = {m.name for m in MODULES if calls_of(_tree(m), "Reading")}
    assert builders == {"plausibility.py"}


def test_the_check_counts_calls() -> None:
    assert calls_of(ast.parse("Reading(1)\nx.Reading(2)\nReading\n"), "Reading") == 2


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_phase_names_and_230_v_are_not_written_again(module: Path) -> None:
    constants = [n.value for n in ast.walk(_tree(module)) if isinstance(n, ast.Constant)]
    assert not {"L1", "L2", "L3"} & {c for c in constants if isinstance(c, str)}
    assert NOMINAL_VOLTAGE_V not in [c for c in constants if isinstance(c, float)]


def _both(
    loads: list[tuple[PhaseLoad, PhaseLoad, PhaseLoad]], energies: list[float]
) -> list[list[object]]:
    """The same values as a P1 telegram stream and as an Aidon HDLC stream: what each parser
    makes of them (the reason of a rejection, the currents of a reading)."""
    out: list[list[object]] = []
    for parser, encode in ((P1Parser(), swedish_telegram), (DlmsParser(), aidon_frame)):
        seen: list[object] = []
        reader: MeterParser = parser
        for i, (load, kwh) in enumerate(zip(loads, energies, strict=True)):
            data = encode(T0 + timedelta(seconds=10 * i), load, energy_import_kwh=kwh)
            for event in reader.feed(data, float(i)):
                if isinstance(event, Rejection):
                    seen.append(event.reason)
                else:
                    assert isinstance(event, Reading)
                    seen.append(tuple(event.current_a))
        out.append(seen)
    return out


def test_p1_and_dlms_readings_go_through_the_same_gate() -> None:
    quiet = (PhaseLoad(5.0), PhaseLoad(-3.0), PhaseLoad(8.0))
    overvolt = (PhaseLoad(5.0, voltage_v=600.0), PhaseLoad(1.0), PhaseLoad(1.0))
    p1, dlms = _both([quiet, overvolt, quiet, quiet], [100.0, 100.1, 90.0, 100.2])
    assert p1 == dlms
    assert p1 == [
        (5.0, -3.0, 8.0),
        "implausible: L1 voltage 600 V is outside 0-500 V",
        "implausible: import energy counter went backwards: 100.000 -> 90.000 kWh",
        (5.0, -3.0, 8.0),
    ]
