"""No ``NaN`` or ``Infinity`` in any output (issue 11): the decision log and ``--json`` lines
are strict JSON whatever number reaches them."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loadbalancer import jsontext
from loadbalancer.chargers.emulator import ChargerEmulator
from loadbalancer.chargers.profile import load_profile
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.cli import main
from loadbalancer.logwriter import open_decision_log
from loadbalancer.meter.emulator import PhaseLoad, swedish_telegram
from tests.chargers.test_cli import run_cli
from tests.meter.test_p1_stream import T0
from tests.meter.test_plausibility import IDLE, telegram
from tests.review.logs import T0 as T0_LOG
from tests.review.logs import evening, write


def strict(line: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity, as every other JSON reader does."""

    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_the_decision_log_maps_non_finite_numbers_to_null_and_names_them(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = open_decision_log(str(path))
    log.record(
        "decision",
        meter_a={"L1": math.nan, "L2": 3.0, "L3": -math.inf},
        chargers=[{"name": "carport", "measured_a": (math.inf, 6.0, 6.0), "setpoint_a": 16}],
    )
    log.record("charger_online", charger="carport")
    log.close()
    first, second = (strict(line) for line in path.read_text().splitlines())
    assert first["meter_a"] == {"L1": None, "L2": 3.0, "L3": None}
    assert first["chargers"][0]["measured_a"] == [None, 6.0, 6.0]
    assert first["non_finite"] == ["meter_a.L1", "meter_a.L3", "chargers[0].measured_a[0]"]
    assert "non_finite" not in second


def test_meter_json_never_prints_nan_or_infinity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = swedish_telegram(T0, (PhaseLoad(5.0), PhaseLoad(2.0), PhaseLoad(1.0)),
                            energy_import_kwh=2000.0)  # fmt: skip
    lying = [
        telegram(("nan", "230.0", "00.230", "00.000"), energy=("002000.100", "000012.345")),
        telegram(IDLE, ("001.0", "inf", None, None), energy=("002000.200", "000012.345")),
        telegram(energy=("1e999", "000012.345")),
    ]
    capture = tmp_path / "capture.txt"
    capture.write_bytes(good + b"".join(lying))
    assert main(["meter", "--source", f"file://{capture}", "--json"]) == 0
    out, err = capsys.readouterr()
    records = [strict(line) for line in out.splitlines()]
    assert len(records) == 1 and records[0]["current_a"]["L1"] == 5.0
    assert err.count("not a finite number") == 3


def test_the_encoder_refuses_what_it_cannot_map() -> None:
    value = {"a": [1.0, math.nan, (math.inf, {"b": -math.inf})], "c": "NaN"}
    assert strict(jsontext.dumps(value)) == {"a": [1.0, None, [None, {"b": None}]], "c": "NaN"}
    found: list[str] = []
    jsontext.finite(value, found=found)
    assert found == ["a[1]", "a[2][0]", "a[2][1].b"]


@pytest.mark.parametrize("explain", [["--explain", "18:10:05"], []])
def test_log_json_is_strict_even_on_a_log_with_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], explain: list[str]
) -> None:
    records = evening()
    for record in records:
        # what the old writer put in the log when a charger reported inf and the meter NaN
        if record["event"] == "decision" and 590 <= _seconds(record["ts"]) <= 610:
            record["meter_a"]["L1"] = math.nan
            record["house_a"]["L1"] = -math.inf
            record["chargers"][0]["measured_a"] = [math.inf, 6.0, 6.0]
    log = write(tmp_path / "decisions.jsonl", records)
    assert "NaN" in log.read_text() and "Infinity" in log.read_text()
    assert main(["log", str(log), *explain, "--json"]) == 0
    strict(capsys.readouterr().out)


def _seconds(stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - T0_LOG).total_seconds()


async def test_charger_json_is_strict_when_the_box_reports_infinity() -> None:
    # a car model that draws without bound: the box's float32 current registers read +inf
    car = SimulatedCar(phases=3, delay_s=0.0, shortfall_a=-math.inf)
    async with ChargerEmulator(load_profile("alfen-eve"), car=car) as emulator:
        emulator.box.write_setpoint(16.0)
        assert emulator.box.phase_currents_a()[0] == math.inf
        host_port = ["--host", "127.0.0.1", "--port", str(emulator.port)]
        code, out, _err = await run_cli("--profile", "alfen-eve", *host_port, "--json")
    # the box's reading may be refused (a clear error) or shown with unknowns: never as NaN
    assert "Infinity" not in out and "NaN" not in out
    if code == 0:
        assert strict(out)["current_a"] in ([None, None, None], None)
