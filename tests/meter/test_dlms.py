"""DLMS/COSEM push messages: every binary capture decodes to its known values, agrees with amshan,
and the broken ones are rejected for their reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from han.autodecoder import AutoDecoder  # amshan: the reference decoder
from han.hdlc import HdlcFrameReader
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbalancer.meter.dlms import DlmsParser
from loadbalancer.meter.hdlc import HdlcFrame, HdlcFramer, build_frame
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.reading import MeterEvent, Reading, Rejection
from tests.meter.hexfixtures import HDLC_REJECTED, HDLC_VALID, HEX_FILES, hex_fixture


def decode(data: bytes, **options: Any) -> list[MeterEvent]:
    parser = DlmsParser(ParserOptions(**options))
    return parser.feed(data, 1.0) + parser.close(2.0)


def reading_of(name: str, **options: Any) -> Reading:
    events = decode(hex_fixture(name), **options)
    assert len(events) == 1, events
    assert isinstance(events[0], Reading), events[0]
    return events[0]


def amshan(data: bytes) -> dict[str, Any]:
    """amshan's decoding of one frame (its HDLC reader and its AutoDecoder)."""
    (frame,) = HdlcFrameReader(use_octet_stuffing=False).read(data)
    assert frame.is_good_ffc and frame.is_expected_length and frame.payload is not None
    result = AutoDecoder().decode_message_payload(frame.payload)
    assert result is not None
    return dict(result)


def test_fixture_inventory() -> None:
    assert len(HEX_FILES) == 30
    assert len(HDLC_VALID) == 23


@pytest.mark.parametrize("name", HDLC_VALID)
def test_every_valid_capture_gives_one_reading(name: str) -> None:
    reading = reading_of(name)
    assert reading.protocol == "dlms"
    assert reading.import_w is not None


@pytest.mark.parametrize(("name", "reason"), sorted(HDLC_REJECTED.items()))
def test_every_broken_capture_is_rejected_for_its_reason(name: str, reason: str) -> None:
    events = decode(hex_fixture(name))
    assert len(events) == 1, events
    assert isinstance(events[0], Rejection)
    assert events[0].reason.startswith(reason), events[0].reason


# amshan decodes the Kaifa MA304T4 CT-meter list (64-bit energies) as a Kamstrup list and finds
# nothing in it; it is checked by hand below instead.
DIFFERENTIAL = [n for n in HDLC_VALID if n != "se_kaifa_hdlc_06.hex"]


@pytest.mark.parametrize("name", DIFFERENTIAL)
def test_agrees_with_amshan(name: str) -> None:
    data = hex_fixture(name)
    ref = amshan(data)
    # amshan scales Kamstrup energy the Norwegian way (10 Wh per count)
    ours = reading_of(name, kamstrup_energy_wh=10)
    compared = 0
    for phase, key in enumerate(("l1", "l2", "l3")):
        if f"current_{key}" in ref:
            assert ours.current_a[f"L{phase + 1}"] == pytest.approx(ref[f"current_{key}"], abs=0.01)
            compared += 1
        else:
            assert ours.current_a[f"L{phase + 1}"] is None
        if f"voltage_{key}" in ref:
            assert ours.voltage_v[f"L{phase + 1}"] == pytest.approx(ref[f"voltage_{key}"], abs=0.1)
            compared += 1
        else:
            assert ours.voltage_v[f"L{phase + 1}"] is None
        imp, exp = ref.get(f"active_power_import_{key}"), ref.get(f"active_power_export_{key}")
        if imp is not None:
            assert ours.power_w[f"L{phase + 1}"] == pytest.approx(imp - exp)
    assert ours.import_w == ref["active_power_import"]
    assert ours.export_w == ref.get("active_power_export")
    for ours_kwh, key in (
        (ours.energy_import_kwh, "active_power_import_total"),
        (ours.energy_export_kwh, "active_power_export_total"),
    ):
        expected = ref.get(key)
        assert (ours_kwh is None) == (expected is None)
        if expected is not None:
            assert ours_kwh == pytest.approx(expected / 1000.0, abs=1e-6)
    if "meter_id" in ref:
        assert ours.meter_id == ref["meter_id"]
    if "meter_datetime" in ref:
        assert ours.meter_time is not None
        assert ours.meter_time.replace(tzinfo=None) == ref["meter_datetime"].replace(tzinfo=None)
    assert compared or "current_l1" not in ref


def test_swedish_aidon_currents_are_signed_by_the_meter() -> None:
    record = reading_of("se_aidon_hdlc_05.hex").to_record()
    assert record == {
        "ts": "2022-10-16T16:14:10",  # deviation "not specified": no offset is made up
        "meter_id": None,
        "current_a": {"L1": -1.0, "L2": 2.3, "L3": 2.4},
        "voltage_v": {"L1": 234.8, "L2": 236.1, "L3": 237.8},
        "power_w": {"L1": -39.0, "L2": 379.0, "L3": 421.0},
        "import_w": 760.0,
        "export_w": 0.0,
        "energy_import_kwh": 38211.671,
        "energy_export_kwh": 9896.295,
    }


def test_swedish_kaifa_obis_list_with_its_time_zone() -> None:
    reading = reading_of("se_kaifa_hdlc_01.hex")
    assert reading.meter_time == datetime(
        2022, 10, 15, 15, 8, 15, tzinfo=timezone(timedelta(hours=1))
    )
    assert reading.meter_id == "7340157030548300"
    assert reading.extra == {"meter_type": "MA304H4"}
    assert tuple(reading.current_a) == (0.616, 0.529, 0.558)
    assert tuple(reading.voltage_v) == (235.4, 236.9, 235.2)
    assert reading.energy_import_kwh == 9732.707
    assert reading.header == "HDLC KFM_001"


def test_kaifa_positional_lists_one_two_and_three() -> None:
    list1 = reading_of("no_kaifa_hdlc_02.hex")
    assert list1.import_w == 1415.0 and list1.export_w is None
    assert tuple(list1.current_a) == (None, None, None)
    list2 = reading_of("no_kaifa_hdlc_01.hex")
    assert tuple(list2.current_a) == (1.683, 1.751, 3.104)
    assert tuple(list2.voltage_v) == (240.8, 240.4, 235.9)
    assert list2.energy_import_kwh is None
    list3 = reading_of("no_kaifa_hdlc_03.hex")
    assert list3.energy_import_kwh == 10494.991
    one_phase = reading_of("se_kaifa_hdlc_05.hex")
    assert tuple(one_phase.current_a) == (0.066, None, None)
    assert tuple(one_phase.voltage_v) == (244.2, None, None)


def test_kaifa_ct_meter_with_64_bit_energy_registers() -> None:
    reading = reading_of("se_kaifa_hdlc_06.hex")
    assert reading.extra == {"meter_type": "MA304T4"}
    assert reading.voltage_v.l1 == 243.5
    assert reading.energy_import_kwh == 0.0


def test_kamstrup_energy_is_wh_in_sweden_and_10_wh_in_norway() -> None:
    swedish = reading_of("se_kamstrup_hdlc_02.hex")
    assert swedish.energy_import_kwh == 32014.158
    norwegian = reading_of("no_kamstrup_hdlc_02.hex", kamstrup_energy_wh=10)
    assert norwegian.energy_import_kwh == 155232.51
    assert tuple(swedish.current_a) == (2.87, 5.99, 1.06)
    assert tuple(swedish.voltage_v) == (241.0, 240.0, 243.0)


def test_norwegian_aidon_it_net_list_has_no_l2_current() -> None:
    reading = reading_of("no_aidon_hdlc_01.hex")
    assert reading.current_a.l2 is None
    assert reading.current_a.l1 == 0.0
    assert reading.meter_id == "7359992902081206"


def information_of(name: str) -> bytes:
    (frame,) = HdlcFramer().feed(hex_fixture(name))
    assert isinstance(frame, HdlcFrame)
    return frame.information


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_segmented_message_gives_the_same_reading(parts: int) -> None:
    info = information_of("se_aidon_hdlc_01.hex")
    size = -(-len(info) // parts)
    pieces = [info[i : i + size] for i in range(0, len(info), size)]
    stream = b"".join(
        build_frame(piece, segmented=i < len(pieces) - 1) for i, piece in enumerate(pieces)
    )
    (reading,) = decode(stream)
    assert isinstance(reading, Reading)
    assert reading.to_record() == reading_of("se_aidon_hdlc_01.hex").to_record()


def test_a_segmented_message_that_loses_a_segment_is_dropped() -> None:
    info = information_of("se_aidon_hdlc_01.hex")
    first = build_frame(info[:200], segmented=True)
    broken = bytearray(build_frame(info[200:400], segmented=True))
    broken[-5] ^= 0x01
    stream = first + bytes(broken) + hex_fixture("no_kaifa_hdlc_01.hex")
    events = decode(stream)
    reasons = [e.reason.split(":")[0] for e in events if isinstance(e, Rejection)]
    assert reasons == ["bad FCS", "truncated"]
    assert isinstance(events[-1], Reading) and events[-1].current_a.l1 == 1.683


def axdr_obis(code: str) -> bytes:
    return b"\x09\x06" + bytes(int(x) for x in code.replace("-", ".").replace(":", ".").split("."))


def uint32(value: int) -> bytes:
    return b"\x06" + value.to_bytes(4, "big")


def kaifa_se_frame(registers: list[tuple[str, int]]) -> bytes:
    body = bytes([0x02, 2 * len(registers) + 2]) + axdr_obis("1-0:0.2.129.255")
    body += b"\x09\x07KFM_001"
    for code, value in registers:
        body += axdr_obis(code) + uint32(value)
    apdu = b"\x0f\x40\x00\x00\x00\x00" + body
    return build_frame(
        b"\xe6\xe7\x00" + apdu, destination=b"\x01", source=b"\x00\x01", control=0x10
    )


def test_unsigned_current_takes_its_sign_from_the_phase_export_power() -> None:
    frame = kaifa_se_frame(
        [
            ("1-0:31.7.0.255", 5000),
            ("1-0:21.7.0.255", 0),
            ("1-0:22.7.0.255", 1150),  # L1 exports
            ("1-0:51.7.0.255", 2000),
            ("1-0:41.7.0.255", 460),
            ("1-0:42.7.0.255", 0),
            ("1-0:71.7.0.255", 1000),  # L3: no power figures, import assumed
        ]
    )
    (reading,) = decode(frame)
    assert isinstance(reading, Reading)
    assert tuple(reading.current_a) == (-5.0, 2.0, 1.0)
    assert tuple(reading.power_w) == (-1150.0, 460.0, None)


def test_implausible_values_are_rejected() -> None:
    (event,) = decode(kaifa_se_frame([("1-0:31.7.0.255", 2_000_000)]))
    assert isinstance(event, Rejection)
    assert event.reason == "implausible: L1 current 2000 A is over 1000 A"


def test_unknown_list_without_scalers_is_undecodable() -> None:
    apdu = b"\x0f\x40\x00\x00\x00\x00\x02\x02" + axdr_obis("1-0:31.7.0.255") + uint32(5)
    (event,) = decode(build_frame(b"\xe6\xe7\x00" + apdu))
    assert isinstance(event, Rejection)
    assert event.reason == "undecodable: an unknown list sends 1-0:31.7.0 without a scaler"


@pytest.mark.parametrize(
    ("information", "reason"),
    [
        (b"\xe6\xe7\x00\xc4\x01", "undecodable: APDU 0xC4 is not a data-notification"),
        (b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00\x02\x05\x06", "undecodable: 5 elements"),
        (b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00\x02\x01\x06\x00", "undecodable: the data ends"),
        (b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00\x02\x01\x13\x00", "undecodable: unknown data"),
        (
            b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00\x02\x03\x11\x01\x11\x02\x11\x03",
            "undecodable: a list of 3",
        ),
    ],
)
def test_undecodable_messages_say_why(information: bytes, reason: str) -> None:
    (event,) = decode(build_frame(information))
    assert isinstance(event, Rejection)
    assert event.reason.startswith(reason), event.reason


def test_deeply_nested_garbage_is_refused_not_recursed() -> None:
    apdu = b"\x0f\x40\x00\x00\x00\x00" + b"\x02\x01" * 50 + b"\x11\x01"
    (event,) = decode(build_frame(b"\xe6\xe7\x00" + apdu))
    assert isinstance(event, Rejection)
    assert "nested deeper" in event.reason


def glo_encrypted(apdu: bytes, key: bytes, auth_key: bytes) -> bytes:
    """``apdu`` as a meter encrypts it: general-glo-ciphering, AES-128-GCM, 12-byte tag."""
    title, counter, control = b"KAME\x01\x02\x03\x04", b"\x00\x00\x12\x34", b"\x30"
    encryptor = Cipher(algorithms.AES(key), modes.GCM(title + counter)).encryptor()
    encryptor.authenticate_additional_data(control + auth_key)
    ciphertext = encryptor.update(apdu) + encryptor.finalize()
    body = control + counter + ciphertext + encryptor.tag[:12]
    return b"\xdb\x08" + title + b"\x82" + len(body).to_bytes(2, "big") + body


def test_encrypted_hdlc_frame_decrypts_with_its_keys() -> None:
    key, auth_key = bytes(range(16)), bytes(range(16, 32))
    apdu = information_of("se_aidon_hdlc_05.hex")[3:]
    frame = build_frame(b"\xe6\xe7\x00" + glo_encrypted(apdu, key, auth_key))
    expected = reading_of("se_aidon_hdlc_05.hex").to_record()
    (reading,) = decode(frame, key=key, auth_key=auth_key)
    assert isinstance(reading, Reading) and reading.to_record() == expected
    (wrong_ak,) = decode(frame, key=key)
    assert isinstance(wrong_ak, Rejection)
    assert wrong_ak.reason == "authentication failed: wrong key, or the frame was corrupted"
    (no_key,) = decode(frame)
    assert isinstance(no_key, Rejection) and no_key.reason.startswith("encrypted")


def test_joining_a_stream_in_the_middle_of_a_frame() -> None:
    frame = hex_fixture("se_aidon_hdlc_02.hex")
    events = decode(frame[250:] + frame + frame)
    assert isinstance(events[0], Rejection)
    assert events[0].reason.startswith("unreadable: 330 bytes between flags")
    assert [type(e) for e in events[1:]] == [Reading, Reading]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(HDLC_VALID),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_damaged_messages_in_good_frames_never_raise(
    name: str, edits: list[tuple[int, int]]
) -> None:
    # the frame checks pass (the frame is rebuilt), so only the decoder stands between a
    # damaged message and a reading: it must decode it or reject it, never crash
    info = bytearray(information_of(name))
    for at, value in edits:
        info[3 + at % (len(info) - 3)] = value
    for event in decode(build_frame(bytes(info))):
        assert isinstance(event, Reading | Rejection)
