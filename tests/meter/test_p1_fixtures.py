"""Every captured telegram in tests/fixtures/telegrams (copied byte-exact from the public
captures listed in SOURCES.md there)."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser

from loadbalancer.meter.p1 import P1Parser
from loadbalancer.meter.reading import MeterEvent, Reading, Rejection
from tests.conftest import TELEGRAMS

P1_FILES = sorted(p.name for p in TELEGRAMS.glob("*.txt"))

#: fixtures that must be rejected, with the reason each must give
REJECTED = {
    "at_sagemcom_t210_02_noend.txt": "truncated",
    "de_easymeter_q3d_01.txt": "no CRC",
    "dk_kamstrup_omnia_malformed_01.txt": "bad CRC: sent 8AEF, computed 7AEB",
    "lu_smarty_02_masked.txt": "bad CRC: sent D65F, computed 3C6A",
    "nl_dsmr22_01.txt": "no CRC",
    "nl_dsmr30_01.txt": "no CRC",
    "pl_elgama_redacted_01.txt": "bad CRC: sent 2503, computed 5E5D",
    "se_iskra_am550_truncated_01.txt": "truncated",
    "se_lg_e360_06_nostar.txt": "bad CRC: sent A267, computed A4B0",
    "se_lg_e360_fragment_01.txt": "fragment",
    "si_iskra_am550_nocrc_01.txt": "no CRC",
}
VALID = [name for name in P1_FILES if name not in REJECTED]
SWEDISH_VALID = [name for name in VALID if name.startswith("se_")]


def parse_file(name: str) -> list[MeterEvent]:
    parser = P1Parser()
    data = (TELEGRAMS / name).read_bytes()
    return parser.feed(data, 1.0) + parser.close(2.0)


def only_reading(name: str) -> Reading:
    events = parse_file(name)
    assert len(events) == 1, events
    assert isinstance(events[0], Reading), events[0]
    return events[0]


def test_fixture_inventory_is_complete() -> None:
    assert len(P1_FILES) == 47
    assert set(REJECTED) <= set(P1_FILES)
    assert len(SWEDISH_VALID) == 16


@pytest.mark.parametrize("name", VALID)
def test_valid_fixture_gives_one_reading(name: str) -> None:
    reading = only_reading(name)
    assert reading.header.startswith("/")
    assert reading.received_s == 1.0 or name == "se_lg_e360_01.txt"  # CRC ends the file


@pytest.mark.parametrize(("name", "reason"), sorted(REJECTED.items()))
def test_invalid_fixture_is_rejected_for_its_reason(name: str, reason: str) -> None:
    events = parse_file(name)
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, Rejection)
    assert event.reason.startswith(reason) or reason in event.reason, event.reason


def test_sagemcom_canonical_telegram_values() -> None:
    # The hanporten.se example (CRC 7945).
    record = only_reading("se_sagemcom_t211_02.txt").to_record()
    assert record == {
        "ts": "2021-02-17T18:40:19+01:00",
        "meter_id": None,
        "current_a": {"L1": 4.2, "L2": 1.6, "L3": 1.7},
        "voltage_v": {"L1": 240.3, "L2": 240.1, "L3": 241.3},
        "power_w": {"L1": 1023.0, "L2": 350.0, "L3": 353.0},
        "import_w": 1727.0,
        "export_w": 0.0,
        "energy_import_kwh": 6678.394,
        "energy_export_kwh": 0.0,
    }


@pytest.mark.parametrize(
    ("name", "currents", "powers"),
    [
        # L2 exports 0.101 kW while 51.7.0 says 0.8 A: the current must turn negative.
        ("se_lg_e360_04.txt", (0.2, -0.8, 1.2), (43.0, -101.0, 293.0)),
        # L1 exports 0.085 kW in August with a "W" flag.
        ("se_sagemcom_t211_03.txt", (-0.5, 3.0, 0.8), (-85.0, 584.0, 33.0)),
        # Two phases export.
        ("se_lg_e360_01.txt", (-0.6, -0.6, 0.3), (-12.0, -71.0, 63.0)),
        # Whole-ampere currents refined by |P|/U (L3 exports 0.177 kW at 000*A).
        ("nl_iskra_am550_02.txt", (2.0, 1.0, -0.75), (193.0, 127.0, -177.0)),
    ],
)
def test_signed_currents_follow_per_phase_export(
    name: str, currents: tuple[float, float, float], powers: tuple[float, float, float]
) -> None:
    reading = only_reading(name)
    assert tuple(reading.current_a) == pytest.approx(currents)
    assert tuple(reading.power_w) == pytest.approx(powers)


def test_meter_time_keeps_the_flag_as_sent() -> None:
    # Kamstrup sends "S" in summer, Sagemcom keeps "W" in August: both are kept as sent.
    summer = only_reading("se_kamstrup_omnia_01.txt").meter_time
    assert summer is not None and summer.utcoffset() == timedelta(hours=2)
    august = only_reading("se_sagemcom_t211_03.txt").meter_time
    assert august is not None and august.utcoffset() == timedelta(hours=1)
    assert august.tzinfo == timezone(timedelta(hours=1))
    # No flag at all: no offset is invented.
    no_flag = only_reading("be_iskra_ie5_02.txt").meter_time
    assert no_flag is not None and no_flag.tzinfo is None


def test_odd_but_valid_telegrams() -> None:
    # CRC without zero padding ("!B9F").
    assert only_reading("nl_warmtelink_unpadded_crc_01.txt").meter_id == "ADC3100000158491"
    # Leading CRLF before "/".
    assert only_reading("se_kamstrup_p1_01.txt").current_a.l1 == 8.3
    # Malformed OBIS lines are skipped, not the telegram.
    assert only_reading("nl_dsmr40_01.txt").import_w == 1193.0
    # DSMR tariff registers add up when there is no 1.8.0 total; hex equipment id decoded.
    dsmr5 = only_reading("nl_dsmr50_01.txt")
    assert dsmr5.meter_id == "K8EG004046395507"
    assert dsmr5.energy_import_kwh == pytest.approx(4.426 + 2.399)
    # Belgian extras are kept, the two-decimal currents kept as sent.
    fluvius = only_reading("be_fluvius_01.txt")
    assert fluvius.extra["current_limit_a"] == 999.0
    assert "demand_avg_w" in fluvius.extra
    # Austrian T210 in Wh: scaled to kWh.
    assert only_reading("at_sagemcom_t210_01.txt").energy_import_kwh == pytest.approx(6545.766)


def _dsmr_values(name: str) -> dict[str, object]:
    text = (TELEGRAMS / name).read_bytes().decode("latin-1")
    if not text.endswith("\r\n"):
        text += "\r\n"  # dsmr_parser needs the CRLF after the CRC
    t = TelegramParser(telegram_specifications.SWEDEN).parse(text)
    local = t.P1_MESSAGE_TIMESTAMP.value.astimezone(ZoneInfo("Europe/Amsterdam"))
    return {
        "time": local.replace(tzinfo=None),
        "current": tuple(float(getattr(t, f"INSTANTANEOUS_CURRENT_L{n}").value) for n in (1, 2, 3)),
        "voltage": tuple(float(getattr(t, f"INSTANTANEOUS_VOLTAGE_L{n}").value) for n in (1, 2, 3)),
        "power": tuple(
            1000.0
            * float(
                getattr(t, f"INSTANTANEOUS_ACTIVE_POWER_L{n}_POSITIVE").value
                - getattr(t, f"INSTANTANEOUS_ACTIVE_POWER_L{n}_NEGATIVE").value
            )
            for n in (1, 2, 3)
        ),
        "import_w": 1000.0 * float(t.CURRENT_ELECTRICITY_USAGE.value),
        "export_w": 1000.0 * float(t.CURRENT_ELECTRICITY_DELIVERY.value),
        "energy_import": float(t.ELECTRICITY_IMPORTED_TOTAL.value),
        "energy_export": float(t.ELECTRICITY_EXPORTED_TOTAL.value),
    }


@pytest.mark.parametrize("name", SWEDISH_VALID)
def test_matches_dsmr_parser_on_swedish_telegrams(name: str) -> None:
    ours = only_reading(name)
    theirs = _dsmr_values(name)
    assert ours.meter_time is not None
    # dsmr_parser reads the wall clock as Amsterdam time; the wall clock itself must agree.
    assert ours.meter_time.replace(tzinfo=None) == theirs["time"]
    assert tuple(abs(c or 0.0) for c in ours.current_a) == pytest.approx(theirs["current"])
    assert tuple(ours.voltage_v) == pytest.approx(theirs["voltage"])
    assert tuple(ours.power_w) == pytest.approx(theirs["power"])
    assert ours.import_w == pytest.approx(theirs["import_w"])
    assert ours.export_w == pytest.approx(theirs["export_w"])
    assert ours.energy_import_kwh == pytest.approx(theirs["energy_import"])
    assert ours.energy_export_kwh == pytest.approx(theirs["energy_export"])
    # and the sign dsmr_parser cannot give: negative exactly where the phase exports
    for current, power in zip(ours.current_a, ours.power_w, strict=True):
        assert current is not None and power is not None
        assert (current < 0) == (power < 0) or current == 0.0


def test_fixture_files_are_byte_exact_copies() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "telegrams"
    if not shared.is_dir():
        pytest.skip("shared/telegrams is not beside this checkout")
    for name in P1_FILES:
        assert (TELEGRAMS / name).read_bytes() == (shared / name).read_bytes(), name
