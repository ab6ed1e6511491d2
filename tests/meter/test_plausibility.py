"""Meter data that must never raise a limit (issue 11, items 2, 3 and 9): the sign of a HAN
current against U·I and the totals, non-finite values, the site-aware current check, and the
Kamstrup current scale behind current transformers."""

from __future__ import annotations

import math

import pytest

from loadbalancer.control.fuse import BudgetState, FuseProfile, update_budget
from loadbalancer.errors import UsageError
from loadbalancer.fuse_profiles import load_fuse_profile
from loadbalancer.meter.dlms import DlmsParser
from loadbalancer.meter.hdlc import HdlcFrame, HdlcFramer, build_frame
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.p1 import P1Parser, build_telegram
from loadbalancer.meter.plausibility import site_implausible
from loadbalancer.meter.reading import MeterEvent, Reading, Rejection
from tests.meter.hexfixtures import hex_fixture

Phase = tuple[str | None, str | None, str | None, str | None]  # I, U, P import, P export (text)
IDLE: Phase = ("001.0", "230.0", "00.230", "00.000")


def telegram(
    l1: Phase = IDLE,
    l2: Phase = IDLE,
    l3: Phase = IDLE,
    *,
    total: tuple[str | None, str | None] = (None, None),
    energy: tuple[str, str] = ("001234.567", "000012.345"),
    extra: tuple[str, ...] = (),
) -> bytes:
    """A CRC-valid Swedish-style telegram with the values given as text (None: line absent)."""
    lines = ["0-0:1.0.0(260114180000W)"]
    lines += [f"1-0:1.8.0({energy[0]}*kWh)", f"1-0:2.8.0({energy[1]}*kWh)"]
    if total[0] is not None:
        lines.append(f"1-0:1.7.0({total[0]}*kW)")
    if total[1] is not None:
        lines.append(f"1-0:2.7.0({total[1]}*kW)")
    for (amp, volt, p_imp, p_exp), (c_amp, c_volt, c_imp, c_exp) in zip(
        (l1, l2, l3), ((31, 32, 21, 22), (51, 52, 41, 42), (71, 72, 61, 62)), strict=True
    ):
        for code, value, unit in (
            (c_imp, p_imp, "kW"), (c_exp, p_exp, "kW"), (c_volt, volt, "V"), (c_amp, amp, "A"),
        ):  # fmt: skip
            if value is not None:
                lines.append(f"1-0:{code}.7.0({value}*{unit})")
    lines += list(extra)
    return build_telegram("ELL5\\253833635_A", lines)


def parse(data: bytes) -> MeterEvent:
    (event,) = P1Parser().feed(data, 1.0)
    return event


def reading(data: bytes) -> Reading:
    event = parse(data)
    assert isinstance(event, Reading), event
    return event


def rejection(data: bytes) -> str:
    event = parse(data)
    assert isinstance(event, Rejection), event
    return event.reason


# ---- item 2: the sign of an unsigned current ------------------------------------------------


def test_the_issue_telegram_an_export_of_400_kw_beside_29_8_a_is_rejected() -> None:
    # L1 carries 29.8 A of real import; the telegram claims 400 kW of export on it
    data = telegram(("029.8", "230.0", "00.000", "400.000"), total=("00.460", "400.000"))
    reason = rejection(data)
    assert reason.startswith("implausible: L1 power -400000 W does not fit 29.8 A at 230 V")


def test_an_export_the_totals_contradict_is_rejected() -> None:
    # 6.8 kW of export fits 29.8 A at 230 V, but the meter's totals say the house imports
    data = telegram(("029.8", "230.0", "00.000", "06.800"), total=("07.260", "00.000"))
    assert "the phase powers add up to -6340 W but the totals say 7260 W" in rejection(data)


def test_a_real_export_keeps_its_sign() -> None:
    data = telegram(("020.0", "230.0", "00.000", "04.500"), total=("00.460", "04.500"))
    assert reading(data).current_a.l1 == -20.0


def test_a_small_export_beside_a_large_current_is_booked_as_import() -> None:
    # 200 W of export cannot carry 29.8 A: the direction is unknown, and import is the safe side
    data = telegram(("029.8", "230.0", "00.000", "00.200"), total=("00.460", "00.200"))
    assert reading(data).current_a.l1 == 29.8


def test_currents_that_understate_the_totals_are_rejected() -> None:
    # no per-phase powers: 1 A per phase cannot carry 20 kW of import
    idle: Phase = ("001.0", "230.0", None, None)
    data = telegram(idle, idle, idle, total=("20.000", "00.000"))
    assert "the totals import 20000 W but the currents booked as import carry" in rejection(data)


def test_a_whole_ampere_current_is_refined_within_its_last_digit_only() -> None:
    # Iskra AM550: "000*A" beside 177 W of export is 0.75 A of export (a capture does this) ...
    refined = reading(telegram(("000", "237.3", "00.000", "00.177")))
    assert refined.current_a.l1 == -0.75
    # ... but 9 kW cannot hide behind "002*A"
    assert "does not fit 2 A" in rejection(telegram(("002", "230.0", "09.000", "00.000")))


def kaifa_se_frame(registers: list[tuple[bytes, bytes]]) -> bytes:
    body = bytes([0x02, 2 * len(registers) + 2]) + b"\x09\x06\x01\x00\x00\x02\x81\xff"
    body += b"\x09\x07KFM_001"
    for obis, value in registers:
        body += b"\x09\x06" + obis + value
    return build_frame(
        b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00" + body,
        destination=b"\x01",
        source=b"\x00\x01",
        control=0x10,
    )


def obis(c: int, d: int = 7) -> bytes:
    return bytes([1, 0, c, d, 0, 255])


def u32(value: int) -> bytes:
    return b"\x06" + value.to_bytes(4, "big")


def test_hdlc_export_claim_is_cross_checked_like_p1() -> None:
    # Kaifa (mA, W, 0.1 V): 29.8 A at 230 V with 400 kW of export on L1
    registers = [(obis(1), u32(460)), (obis(2), u32(400_000))]
    registers += [(obis(31), u32(29_800)), (obis(32), u32(2300))]
    registers += [(obis(21), u32(0)), (obis(22), u32(400_000))]
    (event,) = DlmsParser().feed(kaifa_se_frame(registers), 1.0)
    assert isinstance(event, Rejection)
    assert event.reason.startswith("implausible: L1 power -400000 W does not fit 29.8 A")


def aidon_signed_current_frame(deciamps: int, import_w: int) -> bytes:
    """An Aidon-style list with a signed L1 current (int16, 0.1 A) and the total import."""

    def item(code: bytes, tag: int, raw: bytes, scaler: int, unit: int) -> bytes:
        return (
            b"\x02\x03\x09\x06" + code + bytes([tag]) + raw
            + b"\x02\x02\x0f" + scaler.to_bytes(1, "big", signed=True) + b"\x16" + bytes([unit])
        )  # fmt: skip

    items = [
        item(obis(1), 0x06, import_w.to_bytes(4, "big"), 0, 27),
        item(obis(31), 0x10, deciamps.to_bytes(2, "big", signed=True), -1, 33),
        item(obis(32), 0x12, (2300).to_bytes(2, "big"), -1, 35),
    ]
    body = bytes([0x01, len(items)]) + b"".join(items)
    return build_frame(b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00" + body)


def test_a_signed_export_current_the_totals_contradict_is_rejected() -> None:
    (export,) = DlmsParser().feed(aidon_signed_current_frame(-50, 0), 1.0)
    assert isinstance(export, Reading) and export.current_a.l1 == -5.0
    (lie,) = DlmsParser().feed(aidon_signed_current_frame(-298, 6800), 1.0)
    assert isinstance(lie, Rejection)
    assert "the totals import 6800 W but the currents booked as import carry" in lie.reason


# ---- item 3: non-finite values, the site --------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
@pytest.mark.parametrize(
    ("where", "name"),
    [
        ("current", "L2 current"),
        ("voltage", "L2 voltage"),
        ("import", "L2 import power"),
        ("export", "L2 export power"),
        ("total", "import power"),
        ("energy", "import energy"),
        ("extra", "current_limit_a"),
    ],
)
def test_every_non_finite_value_is_rejected(where: str, name: str, value: str) -> None:
    l2 = list(IDLE)
    total: tuple[str | None, str | None] = ("00.690", "00.000")
    energy = ("001234.567", "000012.345")
    extra: tuple[str, ...] = ()
    if where in ("current", "voltage", "import", "export"):
        l2[("current", "voltage", "import", "export").index(where)] = value
    elif where == "total":
        total = (value, "00.000")
    elif where == "energy":
        energy = (value, "000012.345")
    else:
        extra = (f"1-0:31.4.0({value}*A)",)
    data = telegram(
        IDLE, (l2[0], l2[1], l2[2], l2[3]), IDLE, total=total, energy=energy, extra=extra
    )
    reason = rejection(data)
    assert reason.startswith(f"implausible: {name} is ")
    assert "not a finite number" in reason


def test_a_nan_current_never_resets_the_fuse_budget() -> None:
    fuse = load_fuse_profile("3x20A-gG")
    hot = BudgetState((30.0, 0.0, 0.0), (1.4, 0.1, 0.1), 10.0)
    after = update_budget(hot, fuse, (math.nan, 2.0, 2.0), 11.0, 5.0)
    assert after.used_s[0] >= 30.0
    assert after == hot
    inf = update_budget(hot, fuse, (math.inf, 2.0, 2.0), 11.0, 5.0)
    assert inf == hot
    assert isinstance(fuse, FuseProfile)


def test_currents_are_judged_against_the_site_fuse() -> None:
    assert site_implausible((18.0, -12.0, None), 20.0) is None
    assert site_implausible((59.0, 0.0, 0.0), 20.0) is None
    reason = site_implausible((2.0, 500.0, 2.0), 20.0)
    assert reason == (
        "L2 current 500 A is over 3 x the 20 A fuse: a broken meter or a wrong current scale"
    )
    assert site_implausible((910.0, 910.0, 910.0), 250.0) is not None
    assert site_implausible((math.nan, 1.0, 1.0), 20.0) is not None


# ---- item 9: Kamstrup behind current transformers -----------------------------------------


def ct_frame(name: str, counts: int) -> bytes:
    """A captured Kamstrup frame with its current registers set to ``counts``, as a meter
    behind current transformers sends them (mA), HCS and FCS recomputed."""
    (frame,) = HdlcFramer().feed(hex_fixture(name))
    assert isinstance(frame, HdlcFrame)
    info = bytearray(frame.information)
    for c in (31, 51, 71):
        at = info.find(b"\x09\x06\x01\x01" + bytes([c, 7, 0, 255]))
        assert at >= 0 and info[at + 8] == 0x06  # uint32
        info[at + 9 : at + 13] = counts.to_bytes(4, "big")
    return build_frame(
        bytes(info), destination=frame.destination, source=frame.source, control=frame.control
    )


def test_kamstrup_current_scale_behind_current_transformers() -> None:
    frame = ct_frame("no_kamstrup_hdlc_02.hex", 91_000)
    (direct,) = DlmsParser().feed(frame, 1.0)
    assert isinstance(direct, Reading) and direct.current_a.l1 == 910.0
    # at the default scale the site check refuses it on a 250 A CT site ...
    assert site_implausible(direct.current_a, 250.0) is not None
    (ct,) = DlmsParser(ParserOptions(kamstrup_current_ma=1)).feed(frame, 1.0)
    assert isinstance(ct, Reading)
    assert tuple(ct.current_a) == (91.0, 91.0, 91.0)
    assert site_implausible(ct.current_a, 250.0) is None
    # ... and the option leaves the other values of the capture alone
    assert ct.voltage_v == direct.voltage_v and ct.import_w == direct.import_w


def test_kamstrup_current_option_from_the_source_url() -> None:
    options = ParserOptions.from_query({"kamstrup_current_ma": "1"}, "source")
    assert options.kamstrup_current_ma == 1
    assert ParserOptions.from_query({}, "source").kamstrup_current_ma == 10
    with pytest.raises(UsageError, match=r"kamstrup_current_ma='100' must be 10 \(direct\) or 1"):
        ParserOptions.from_query({"kamstrup_current_ma": "100"}, "source")
