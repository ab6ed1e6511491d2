"""``protocol: auto`` and the parser options: P1 and HDLC from one stream, Dutch and Belgian P1,
telegrams without CRC on request, the encrypted Luxembourg Smarty P1."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbalancer.errors import UsageError
from loadbalancer.meter.dlms import DlmsParser
from loadbalancer.meter.gcm import parse_key
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.p1 import P1Parser
from loadbalancer.meter.parsers import AutoParser, make_meter_parser
from loadbalancer.meter.reading import MeterEvent, MeterParser, Reading, Rejection
from loadbalancer.meter.smarty import SmartyParser
from loadbalancer.meter.sources import parse_source_url, redact_key
from tests.conftest import TELEGRAMS
from tests.meter.hexfixtures import HDLC_VALID, SMARTY_FILE, SMARTY_KEY, hex_fixture
from tests.meter.test_p1_fixtures import P1_FILES, REJECTED

KEY = parse_key(SMARTY_KEY)


def run(parser: MeterParser, data: bytes, cuts: list[int] | None = None) -> list[MeterEvent]:
    events: list[MeterEvent] = []
    bounds = sorted({0, len(data), *(c for c in (cuts or []) if 0 < c < len(data))})
    for a, b in itertools.pairwise(bounds):
        events += parser.feed(data[a:b], float(a))
    return events + parser.close(float(len(data)))


def records(events: list[MeterEvent]) -> list[dict[str, Any]]:
    return [
        e.to_record() if isinstance(e, Reading) else {"rejected": e.reason, "bytes": e.size_bytes}
        for e in events
    ]


def readings(events: list[MeterEvent]) -> list[dict[str, Any]]:
    return [e.to_record() for e in events if isinstance(e, Reading)]


@pytest.mark.parametrize("name", P1_FILES)
def test_auto_reads_every_p1_fixture_as_the_p1_parser_does(name: str) -> None:
    data = (TELEGRAMS / name).read_bytes()
    assert records(run(AutoParser(), data)) == records(run(P1Parser(), data))


@pytest.mark.parametrize("name", HDLC_VALID)
def test_auto_reads_every_hdlc_capture_as_the_dlms_parser_does(name: str) -> None:
    data = hex_fixture(name)
    assert records(run(AutoParser(), data)) == records(run(DlmsParser(), data))


def test_make_meter_parser_per_protocol() -> None:
    assert isinstance(make_meter_parser("auto"), AutoParser)
    assert isinstance(make_meter_parser("p1"), SmartyParser)
    assert isinstance(make_meter_parser("dlms"), DlmsParser)
    with pytest.raises(UsageError, match="protocol 'iec'"):
        make_meter_parser("iec")


def test_p1_parser_ignores_hdlc_and_dlms_parser_ignores_p1() -> None:
    p1 = (TELEGRAMS / "se_sagemcom_t211_02.txt").read_bytes()
    hdlc = hex_fixture("se_aidon_hdlc_02.hex")
    assert len(readings(run(make_meter_parser("p1"), p1 + hdlc))) == 1
    assert len(readings(run(make_meter_parser("dlms"), p1 + hdlc))) == 1
    assert len(readings(run(make_meter_parser("auto"), p1 + hdlc))) == 2


def _counters_rising(parts: list[bytes]) -> list[bytes]:
    """The parts in an order (and subset) where one meter's energy counters never fall: the
    parsers refuse counters that go backwards, and these captures come from many meters."""
    keyed = []
    for part in parts:
        (reading,) = readings(run(AutoParser(), part))
        keyed.append((reading["energy_import_kwh"] or 0.0, reading["energy_export_kwh"], part))
    kept: list[bytes] = []
    last_export = 0.0
    for _imp, exp, part in sorted(keyed, key=lambda k: k[0]):
        if exp is None or exp >= last_export:
            kept.append(part)
            last_export = exp if exp is not None else last_export
    return kept


VALID_P1 = [n for n in P1_FILES if n not in REJECTED]
P1_PARTS = _counters_rising([(TELEGRAMS / n).read_bytes() for n in VALID_P1])
HDLC_PARTS = _counters_rising([hex_fixture(n) for n in HDLC_VALID])
MIXED_PARTS = [
    part
    for pair in itertools.zip_longest(P1_PARTS, HDLC_PARTS, fillvalue=b"")
    for part in pair
    if part
]
MIXED = b"".join(MIXED_PARTS)


def test_mixed_stream_gives_one_reading_per_valid_telegram_and_frame_in_order() -> None:
    expected = [r for part in MIXED_PARTS for r in readings(run(AutoParser(), part))]
    assert len(P1_PARTS) >= 10 and len(HDLC_PARTS) >= 15
    assert len(expected) == len(MIXED_PARTS)
    assert readings(run(AutoParser(), MIXED)) == expected
    assert not [e for e in run(AutoParser(), MIXED) if isinstance(e, Rejection)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=len(MIXED) - 1), max_size=60))
def test_mixed_stream_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert records(run(AutoParser(), MIXED, cuts)) == records(run(AutoParser(), MIXED))


SHORT_PARTS = [
    (TELEGRAMS / "se_sagemcom_t211_02.txt").read_bytes(),
    hex_fixture("se_aidon_hdlc_05.hex"),
    (TELEGRAMS / "nl_dsmr50_01.txt").read_bytes(),
    hex_fixture("no_kaifa_hdlc_01.hex"),
    hex_fixture("se_kamstrup_hdlc_01.hex"),
]
SHORT_MIX = b"".join(SHORT_PARTS)
GOOD_RECORDS = [r for part in SHORT_PARTS for r in readings(run(AutoParser(), part))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(SHORT_MIX) - 1), st.integers(1, 255)), min_size=1, max_size=4
    ),
    st.lists(st.integers(min_value=1, max_value=len(SHORT_MIX) - 1), max_size=10),
)
def test_corruption_never_yields_a_reading_from_a_damaged_telegram_or_frame(
    flips: list[tuple[int, int]], cuts: list[int]
) -> None:
    data = bytearray(SHORT_MIX)
    for at, mask in flips:
        data[at] ^= mask
    # every reading that comes out is one of the originals: nothing decoded from a damaged
    # frame or telegram (whose checksum no longer matches) gets through
    for record in readings(run(AutoParser(), bytes(data), cuts)):
        assert record in GOOD_RECORDS


def test_wrong_parity_capture_in_auto_mode_is_rejected_as_unreadable() -> None:
    events = run(AutoParser(), hex_fixture("se_kamstrup_hdlc_03_wrongparity.hex"))
    assert not readings(events)
    assert any(isinstance(e, Rejection) and "parity" in e.reason for e in events)


# -- Dutch and Belgian P1 ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nl_dsmr22_01.txt", "nl_dsmr30_01.txt"])
def test_dsmr_2_and_3_without_crc_only_when_asked(name: str) -> None:
    data = (TELEGRAMS / name).read_bytes()
    (strict,) = run(make_meter_parser("auto"), data)
    assert isinstance(strict, Rejection) and strict.reason == "no CRC after '!'"
    (lenient,) = run(make_meter_parser("auto", ParserOptions(require_crc=False)), data)
    assert isinstance(lenient, Reading)
    assert lenient.import_w is not None and lenient.energy_import_kwh is not None


def test_dsmr_22_gas_on_two_lines_is_ignored_safely() -> None:
    data = (TELEGRAMS / "nl_dsmr22_01.txt").read_bytes()
    (reading,) = run(make_meter_parser("p1", ParserOptions(require_crc=False)), data)
    assert isinstance(reading, Reading)
    assert reading.to_record()["energy_import_kwh"] == 2.002
    assert reading.import_w == 1010.0


def test_crc_optional_still_rejects_a_wrong_crc() -> None:
    data = (TELEGRAMS / "pl_elgama_redacted_01.txt").read_bytes()
    (event,) = run(make_meter_parser("auto", ParserOptions(require_crc=False)), data)
    assert isinstance(event, Rejection) and event.reason.startswith("bad CRC")


@pytest.mark.parametrize(
    ("name", "limit_a", "demand_w"),
    [("be_fluvius_01.txt", 999.0, 2351.0), ("be_fluvius_02.txt", 999.0, 52.0)],
)
def test_belgian_current_limit_and_quarter_hour_demand_are_kept(
    name: str, limit_a: float, demand_w: float
) -> None:
    (reading,) = run(AutoParser(), (TELEGRAMS / name).read_bytes())
    assert isinstance(reading, Reading)
    assert reading.extra == {"current_limit_a": limit_a, "demand_avg_w": demand_w}
    assert set(reading.to_record()) == {
        "ts", "meter_id", "current_a", "voltage_v", "power_w", "import_w", "export_w",
        "energy_import_kwh", "energy_export_kwh",
    }  # fmt: skip


def test_dutch_timestamps_and_mbus_channels() -> None:
    (reading,) = run(AutoParser(), (TELEGRAMS / "nl_dsmr50_02.txt").read_bytes())
    assert isinstance(reading, Reading)
    record = reading.to_record()
    assert record["ts"] == "2020-04-26T22:33:25+02:00"
    assert record["energy_import_kwh"] == 2375.582  # gas (m3) on 0-1/0-2 is not mixed in


# -- Luxembourg Smarty --------------------------------------------------------------------------


def test_smarty_frame_decrypts_to_the_plain_telegram() -> None:
    plain = run(P1Parser(), (TELEGRAMS / "lu_smarty_01.txt").read_bytes())
    for protocol in ("auto", "p1"):
        events = run(make_meter_parser(protocol, ParserOptions(key=KEY)), hex_fixture(SMARTY_FILE))
        assert records(events) == records(plain)
        assert isinstance(events[0], Reading)


def test_smarty_values() -> None:
    (reading,) = run(AutoParser(ParserOptions(key=KEY)), hex_fixture(SMARTY_FILE))
    assert isinstance(reading, Reading)
    assert reading.header.startswith("/Lux5")
    assert reading.energy_import_kwh is not None


def test_smarty_without_key_or_with_a_wrong_one_says_so() -> None:
    (event,) = run(AutoParser(), hex_fixture(SMARTY_FILE))
    assert isinstance(event, Rejection) and "key is needed" in event.reason
    assert event.header == "encrypted P1 (system title SAG677001BD54)"
    wrong = ParserOptions(key=bytes(16))
    (event,) = run(AutoParser(wrong), hex_fixture(SMARTY_FILE))
    assert isinstance(event, Rejection) and event.reason.startswith("authentication failed")


def test_damaged_smarty_frame_is_rejected_and_the_next_one_read() -> None:
    frame = bytearray(hex_fixture(SMARTY_FILE))
    frame[300] ^= 0x10
    events = run(AutoParser(ParserOptions(key=KEY)), bytes(frame) + hex_fixture(SMARTY_FILE))
    assert isinstance(events[0], Rejection) and events[0].reason.startswith("authentication")
    assert isinstance(events[1], Reading) and len(events) == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 2 * 647 - 1), max_size=20))
def test_smarty_stream_any_chunking(cuts: list[int]) -> None:
    data = hex_fixture(SMARTY_FILE) * 2
    events = run(AutoParser(ParserOptions(key=KEY)), data, cuts)
    assert [type(e) for e in events] == [Reading, Reading]


def test_truncated_smarty_frame() -> None:
    (event,) = run(AutoParser(ParserOptions(key=KEY)), hex_fixture(SMARTY_FILE)[:400])
    assert isinstance(event, Rejection) and event.reason.startswith("truncated")


# -- options in the source URL ------------------------------------------------------------------


def test_parser_options_from_the_url_query() -> None:
    spec = parse_source_url(f"file:///tmp/x?crc=optional&key={SMARTY_KEY}&kamstrup_energy_wh=10")
    options = ParserOptions.from_query(spec.options, "here")
    assert options == ParserOptions(require_crc=False, key=KEY, kamstrup_energy_wh=10)
    auth = ParserOptions.from_query({"auth_key": "00" * 16}, "here").auth_key
    assert auth == bytes(16)
    assert redact_key(f"tcp://h:1?key={SMARTY_KEY}&auth_key=00&crc=optional") == (
        "tcp://h:1?key=***&auth_key=***&crc=optional"
    )
    assert ParserOptions.from_query({}, "here") == ParserOptions()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("crc=maybe", "crc='maybe' must be strict or optional"),
        ("key=abc", "key must be 32 hex digits (AES-128), got 3 characters"),
        ("kamstrup_energy_wh=100", "kamstrup_energy_wh='100' must be 1 (SE) or 10 (NO)"),
    ],
)
def test_bad_parser_options_are_usage_errors(query: str, message: str) -> None:
    spec = parse_source_url(f"tcp://127.0.0.1:2000?{query}")
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ParserOptions.from_query(spec.options, "source")


def test_serial_defaults_follow_the_protocol_and_every_setting_can_be_given() -> None:
    assert parse_source_url("serial:///dev/ttyUSB0").serial["baudrate"] == "115200"
    dlms = parse_source_url("serial:///dev/ttyUSB0", protocol="dlms").serial
    assert (dlms["baudrate"], dlms["bytesize"], dlms["parity"], dlms["stopbits"]) == (
        "2400", "8", "E", "1",
    )  # fmt: skip
    kamstrup = parse_source_url("serial:///dev/ttyUSB0?parity=N&key=" + SMARTY_KEY, protocol="dlms")
    assert kamstrup.serial["parity"] == "N" and kamstrup.options == {"key": SMARTY_KEY}
    with pytest.raises(UsageError, match="unknown option 'speed'"):
        parse_source_url("file:///tmp/x?speed=1")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.sampled_from([b"\x7e\xa0", b"/ABC5", b"!", b"\xdb\x08", b"\r\n"]),
            st.sampled_from(SHORT_PARTS),
        ),
        max_size=8,
    ),
    st.lists(st.integers(min_value=1, max_value=5000), max_size=10),
)
def test_arbitrary_bytes_never_raise_and_give_only_real_readings(
    parts: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(parts)
    events = run(AutoParser(), data, cuts)
    assert records(events) == records(run(AutoParser(), data))
    for record in readings(events):
        assert record in GOOD_RECORDS


def test_p1_after_binary_garbage_is_read_and_the_garbage_judged_once() -> None:
    telegram = (TELEGRAMS / "se_sagemcom_t211_02.txt").read_bytes()
    garbage = hex_fixture("se_kamstrup_hdlc_03_wrongparity.hex")  # holds '/' and '!' bytes
    events = run(AutoParser(), telegram + garbage + telegram)
    kinds = ["reading" if isinstance(e, Reading) else e.reason.split(":")[0] for e in events]
    assert kinds == ["reading", "unreadable", "reading"]


@pytest.mark.parametrize("key", [None, KEY])
def test_any_length_byte_after_a_glo_ciphering_header_is_handled(key: bytes | None) -> None:
    telegram = (TELEGRAMS / "se_sagemcom_t211_02.txt").read_bytes()
    (expected,) = readings(run(AutoParser(), telegram))
    for length_byte in range(256):
        junk = b"\xdb\x08SAGgp\x01\xbdT" + bytes([length_byte]) + bytes(range(40))
        # never raises; a header that announces more bytes may swallow the telegram after it
        events = run(AutoParser(ParserOptions(key=key)), junk + telegram)
        assert readings(events) in ([], [expected])
        assert events
