"""DLMS/COSEM push messages in HDLC frames (Norwegian-style HAN: Aidon, Kaifa, Kamstrup) -> the
same :class:`Reading` as P1. No I/O, no clock.

What the meters send (docs/meters.md §HDLC / DLMS meters):

* **Aidon** (SE and NO): an array of ``{OBIS, value, {scaler, unit}}``; currents are signed.
* **Kaifa**: in Sweden (MA304H4(P)SE) a flat structure ``OBIS, value, OBIS, value ...``; in
  Norway and on MA304H4D a positional list without OBIS codes (list 1, 2 or 3 by its length).
  No scalers: W, Wh, mA and 0.1 V.
* **Kamstrup**: a flat structure with a ``Kamstrup_V0001`` list id and OBIS codes with B=1.
  No scalers: W, 0.01 A and V; energy in Wh in Sweden but 10 Wh in Norway
  (``kamstrup_energy_wh``, default 1 = Swedish); behind current transformers currents count
  in mA (``kamstrup_current_ma=1``), which the frames cannot show either.

Unsigned currents get their sign from the phase's import/export power when the list has it;
otherwise import is assumed (the safe side).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from loadbalancer.errors import DecodeError
from loadbalancer.meter.cosem import (
    SIGNED_TAGS,
    CosemValue,
    Node,
    is_container,
    read_data,
    read_date_time,
    read_length,
    value_of,
)
from loadbalancer.meter.gcm import GLO_CIPHERING, decrypt_glo_ciphering
from loadbalancer.meter.hdlc import FLAG, HdlcEvent, HdlcFrame, HdlcFramer, HdlcRejection
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.plausibility import CounterWatch, Decoded, PhaseRaw, judge_reading
from loadbalancer.meter.reading import MeterEvent, Rejection

#: LLC header of a frame sent by a server (meter): E6 E7 00.
LLC_HEADER = b"\xe6\xe7\x00"
DATA_NOTIFICATION = 0x0F
#: A segmented message longer than this is dropped (the longest lists are ~600 bytes).
MAX_MESSAGE_BYTES = 16_384

#: Where bytes outside HDLC frames go when the stream may also carry P1 text.
TextSink = Callable[[bytes, float], list[MeterEvent]]

# OBIS codes without their B (channel) and F fields: Kamstrup sends B=1, the others B=0.
Obis = tuple[int, int, int, int]
_LIST_ID: Obis = (1, 0, 2, 129)
_CLOCK: Obis = (0, 1, 0, 0)
_METER_IDS: tuple[Obis, ...] = ((0, 96, 1, 0), (1, 0, 0, 5))
_METER_TYPES: tuple[Obis, ...] = ((0, 96, 1, 7), (1, 96, 1, 1))
_IMPORT_W: Obis = (1, 1, 7, 0)
_EXPORT_W: Obis = (1, 2, 7, 0)
_IMPORT_WH: Obis = (1, 1, 8, 0)
_EXPORT_WH: Obis = (1, 2, 8, 0)
# Per phase: active power import, export, voltage, current.
_PHASES: tuple[tuple[Obis, Obis, Obis, Obis], ...] = (
    ((1, 21, 7, 0), (1, 22, 7, 0), (1, 32, 7, 0), (1, 31, 7, 0)),
    ((1, 41, 7, 0), (1, 42, 7, 0), (1, 52, 7, 0), (1, 51, 7, 0)),
    ((1, 61, 7, 0), (1, 62, 7, 0), (1, 72, 7, 0), (1, 71, 7, 0)),
)
_CURRENTS = frozenset(p[3] for p in _PHASES)
_VOLTAGES = frozenset(p[2] for p in _PHASES)
_ENERGIES = frozenset({_IMPORT_WH, _EXPORT_WH, (1, 3, 8, 0), (1, 4, 8, 0)})

# Kaifa's positional lists, by length (3-phase and 1-phase): list 1, list 2, list 3.
_KAIFA_HEAD: tuple[Obis | None, ...] = (_LIST_ID, (0, 96, 1, 0), (0, 96, 1, 7))
_KAIFA_POWERS: tuple[Obis, ...] = (_IMPORT_W, _EXPORT_W, (1, 3, 7, 0), (1, 4, 7, 0))
_KAIFA_HOURLY: tuple[Obis, ...] = (_CLOCK, _IMPORT_WH, _EXPORT_WH, (1, 3, 8, 0), (1, 4, 8, 0))
_KAIFA_3PHASE = (
    *_KAIFA_HEAD,
    *_KAIFA_POWERS,
    (1, 31, 7, 0), (1, 51, 7, 0), (1, 71, 7, 0),
    (1, 32, 7, 0), (1, 52, 7, 0), (1, 72, 7, 0),
)  # fmt: skip
_KAIFA_1PHASE = (*_KAIFA_HEAD, *_KAIFA_POWERS, (1, 31, 7, 0), (1, 32, 7, 0))
_KAIFA_POSITIONAL: dict[int, tuple[Obis | None, ...]] = {
    1: (_IMPORT_W,),
    len(_KAIFA_3PHASE): _KAIFA_3PHASE,
    len(_KAIFA_3PHASE) + len(_KAIFA_HOURLY): (*_KAIFA_3PHASE, *_KAIFA_HOURLY),
    len(_KAIFA_1PHASE): _KAIFA_1PHASE,
    len(_KAIFA_1PHASE) + len(_KAIFA_HOURLY): (*_KAIFA_1PHASE, *_KAIFA_HOURLY),
}


@dataclass(frozen=True, slots=True)
class Register:
    """One pushed value: raw number or string, its A-XDR tag, its scaler if the meter sent one."""

    value: CosemValue
    tag: int
    scaler: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A decoded data-notification: its date-time and its values by OBIS code."""

    sent_at: datetime | None
    list_id: str
    registers: dict[Obis, Register]
    positional: bool = False


class DlmsDecoder:
    """HDLC frames -> readings: joins segmented frames, decrypts (with a key), decodes.

    Also judges the bytes between frames (:meth:`noise`): a run of them closed by a flag is a
    frame that could not be read, which is what a wrong baud rate or parity produces.
    """

    def __init__(self, options: ParserOptions | None = None) -> None:
        options = options or ParserOptions()
        self.key = options.key
        self.auth_key = options.auth_key
        self.kamstrup_energy_wh = options.kamstrup_energy_wh
        self.kamstrup_current_ma = options.kamstrup_current_ma
        self.skipped_bytes = 0
        self._segments: list[bytes] = []
        self._segments_size = 0
        self._segments_information = 0
        self._noise_run = 0
        self._counters = CounterWatch()

    def events(
        self, items: list[HdlcEvent], received_s: float, text: TextSink | None = None
    ) -> list[MeterEvent]:
        """What the framer found -> readings and rejections; noise goes to ``text`` (the P1
        reader, when the stream may hold both), else it is judged here."""
        events: list[MeterEvent] = []
        for item in items:
            if isinstance(item, HdlcFrame):
                events += self.frame(item, received_s)
            elif isinstance(item, HdlcRejection):
                events += self.rejected(item, received_s)
            elif text is not None:
                events += text(item.data, received_s)
            else:
                events += self.noise(item.data, received_s)
        return events

    def frame(self, frame: HdlcFrame, received_s: float) -> list[MeterEvent]:
        self._noise_run = 0
        if frame.segmented:
            self._segments.append(frame.information)
            self._segments_size += frame.size_bytes
            self._segments_information += len(frame.information)  # no sum over all: linear
            if self._segments_information > MAX_MESSAGE_BYTES:
                size = self._segments_size
                self._segments.clear()
                self._segments_size = self._segments_information = 0
                return [Rejection(received_s, "bad length: segmented message too long", size)]
            return []
        message = b"".join([*self._segments, frame.information])
        size = self._segments_size + frame.size_bytes
        self._segments.clear()
        self._segments_size = self._segments_information = 0
        return [self.message(message, received_s, size)]

    def rejected(self, rejection: HdlcRejection, received_s: float) -> list[MeterEvent]:
        events: list[MeterEvent] = [
            Rejection(received_s, rejection.reason, rejection.size_bytes, "HDLC")
        ]
        self._noise_run = 0
        if self._segments:
            events.append(
                Rejection(
                    received_s,
                    "truncated: a segmented message lost a segment",
                    self._segments_size,
                )
            )
            self._segments.clear()
            self._segments_size = self._segments_information = 0
        return events

    def noise(self, data: bytes, received_s: float) -> list[MeterEvent]:
        """Bytes outside every frame; one rejection per run of them that a flag closes."""
        events: list[MeterEvent] = []
        at = 0
        while (flag := data.find(FLAG, at)) >= 0:
            self._noise_run += flag - at
            if self._noise_run:
                events.append(
                    Rejection(
                        received_s,
                        f"unreadable: {self._noise_run} bytes between flags are no HDLC frame "
                        "(a partial frame, or a wrong baud rate or parity)",
                        self._noise_run,
                    )
                )
            self._noise_run = 0
            at = flag + 1
        self._noise_run += len(data) - at
        self.skipped_bytes += len(data) - data.count(FLAG)
        return events

    def message(self, information: bytes, received_s: float, size: int) -> MeterEvent:
        """One whole information field (segments joined) -> a reading or a rejection."""
        try:
            apdu = information[3:] if information.startswith(LLC_HEADER) else information
            if apdu[:1] == bytes([GLO_CIPHERING]):
                if self.key is None:
                    raise DecodeError(
                        "encrypted (general-glo-ciphering): the meter's key is needed "
                        "(meter.key in the site file, key= in the source URL)"
                    )
                apdu = decrypt_glo_ciphering(apdu, self.key, self.auth_key)
            notification = read_notification(apdu)
            return self._reading(notification, received_s, size)
        except DecodeError as exc:
            reason = str(exc)
            if not reason.startswith(("encrypted", "authentication", "undecodable")):
                reason = f"undecodable: {reason}"
            return Rejection(received_s, reason, size, "HDLC")

    def _reading(self, note: Notification, received_s: float, size: int) -> MeterEvent:
        scales = _vendor_scales(note, self.kamstrup_energy_wh, self.kamstrup_current_ma)
        return judge_reading(_decoded(note, scales, size), received_s, self._counters)


def _decoded(note: Notification, scales: dict[str, int], size: int) -> Decoded:
    """A notification's registers -> its values in our units, as sent (no check yet)."""
    regs = note.registers
    raw: list[PhaseRaw] = []
    for imp_obis, exp_obis, volt_obis, amp_obis in _PHASES:
        reg = regs.get(amp_obis)
        raw.append(
            PhaseRaw(
                _number(note, scales, amp_obis),
                _number(note, scales, volt_obis),
                _number(note, scales, imp_obis),
                _number(note, scales, exp_obis),
                signed=reg is not None and reg.tag in SIGNED_TAGS,
                resolution_a=_resolution(reg, scales),
            )
        )
    e_imp, e_exp = _number(note, scales, _IMPORT_WH), _number(note, scales, _EXPORT_WH)
    clock = regs.get(_CLOCK)
    meter_time = read_date_time(clock.value) if clock and isinstance(clock.value, bytes) else None
    return Decoded(
        raw,
        _number(note, scales, _IMPORT_W),
        _number(note, scales, _EXPORT_W),
        None if e_imp is None else round(e_imp / 1000.0, 6),
        None if e_exp is None else round(e_exp / 1000.0, 6),
        _text(regs, _METER_IDS),
        meter_time or note.sent_at,
        f"HDLC {note.list_id}" if note.list_id else "HDLC",
        "dlms",
        {"meter_type": t} if (t := _text(regs, _METER_TYPES)) else {},
        size,
    )


def _number(note: Notification, scales: dict[str, int], obis: Obis) -> float | None:
    """Register ``obis`` scaled to our unit (W, Wh, V, A), or None where it is not a number;
    DecodeError where the list sends no scaler for it or the value is not finite."""
    reg = note.registers.get(obis)
    if reg is None or isinstance(reg.value, bool) or not isinstance(reg.value, int | float):
        return None
    scaler = reg.scaler if reg.scaler is not None else scales.get(_kind(obis))
    if scaler is None:
        raise DecodeError(
            f"undecodable: {note.list_id or 'an unknown list'} sends "
            f"{_obis_name(obis)} without a scaler"
        )
    value = reg.value / 10**-scaler if scaler < 0 else reg.value * 10**scaler
    if not math.isfinite(value):
        raise DecodeError(f"undecodable: {_obis_name(obis)} is not a finite number")
    return round(float(value), 6)


class DlmsParser:
    """Sans-I/O reader of an HDLC byte stream: ``feed(chunk, received_s)`` -> readings and
    rejections, like :class:`~loadbalancer.meter.p1.P1Parser`."""

    def __init__(self, options: ParserOptions | None = None) -> None:
        self._framer = HdlcFramer()
        self._decoder = DlmsDecoder(options)

    @property
    def skipped_bytes(self) -> int:
        return self._decoder.skipped_bytes

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]:
        return self._events(self._framer.feed(chunk), received_s)

    def close(self, received_s: float) -> list[MeterEvent]:
        return self._events(self._framer.close(), received_s)

    def _events(self, items: list[HdlcEvent], received_s: float) -> list[MeterEvent]:
        return self._decoder.events(items, received_s)


def read_notification(apdu: bytes) -> Notification:
    """A data-notification APDU -> its values by OBIS code (or by position, for Kaifa)."""
    if not apdu or apdu[0] != DATA_NOTIFICATION:
        tag = f"0x{apdu[0]:02X}" if apdu else "nothing"
        raise DecodeError(f"undecodable: APDU {tag} is not a data-notification")
    at = 5  # tag + long-invoke-id-and-priority
    if at >= len(apdu):
        raise DecodeError("the APDU ends after its invoke id")
    # The date-time is an A-XDR octet string (00 = absent, 0C + 12 bytes); Kaifa sends it as
    # a tagged Data value (09 0C + 12 bytes).
    if apdu[at] == 0x09 and at + 1 < len(apdu) and apdu[at + 1] == 12:
        at += 1
    size, at = read_length(apdu, at)
    sent_at = read_date_time(apdu[at : at + size])
    at += size
    body, end = read_data(apdu, at)
    if end != len(apdu):
        raise DecodeError(f"{len(apdu) - end} bytes left after the notification body")
    nodes: tuple[Node, ...] = body[1] if is_container(body) else (body,)  # type: ignore[assignment]
    registers: dict[Obis, Register] = {}
    _collect(body, registers)
    first = value_of(nodes[0]) if nodes else None
    if registers:
        return Notification(sent_at, _list_id(first, registers), registers)
    layout = _KAIFA_POSITIONAL.get(len(nodes))
    if layout is None:
        raise DecodeError(f"undecodable: a list of {len(nodes)} values without OBIS codes")
    for obis, node in zip(layout, nodes, strict=True):
        if obis is not None:
            registers[obis] = Register(value_of(node), node[0])
    list_id = _list_id(first, registers) or "KFM_001"  # Kaifa's list 1 has no id
    return Notification(sent_at, list_id, registers, positional=True)


def _collect(node: Node, out: dict[Obis, Register]) -> None:
    """Walk the body and record every ``OBIS, value[, {scaler, unit}]`` sequence found among
    the elements of an array or structure (Aidon nests them, Kaifa and Kamstrup don't)."""
    if not is_container(node):
        return
    elements: tuple[Node, ...] = node[1]  # type: ignore[assignment]
    i = 0
    while i < len(elements):
        tag, value = elements[i]
        if tag == 0x09 and isinstance(value, bytes) and len(value) == 6 and i + 1 < len(elements):
            reg_tag, reg_value = elements[i + 1]
            scaler = None
            if i + 2 < len(elements) and (found := _scaler(elements[i + 2])) is not None:
                scaler = found
                i += 1
            a, _b, c, d, e, _f = value
            if not isinstance(reg_value, tuple):
                out.setdefault((a, c, d, e), Register(reg_value, reg_tag, scaler))
            i += 2
            continue
        _collect(elements[i], out)
        i += 1


def _scaler(node: Node) -> int | None:
    """The scaler of a ``{scaler, unit}`` structure (two integers), else None."""
    tag, payload = node
    if tag != 0x02 or not isinstance(payload, tuple) or len(payload) != 2:
        return None
    scaler_node, unit_node = payload
    assert isinstance(scaler_node, tuple) and isinstance(unit_node, tuple)
    scaler = scaler_node[1]
    if scaler_node[0] != 0x0F or unit_node[0] != 0x16 or not isinstance(scaler, int):
        return None
    return scaler


def _list_id(first: CosemValue, registers: dict[Obis, Register]) -> str:
    """The list's name: its 1-0:0.2.129 register, or a string as its first element."""
    reg = registers.get(_LIST_ID)
    candidates = [reg.value] if reg is not None else []
    candidates.append(first)
    for value in candidates:
        if isinstance(value, bytes) and value.isascii():
            value = value.decode("ascii")
        if isinstance(value, str) and value:
            return value
    return ""


def _vendor_scales(
    note: Notification, kamstrup_energy_wh: int, kamstrup_current_ma: int = 10
) -> dict[str, int]:
    """Scalers for a list that sends none, by the maker its list id names."""
    list_id = note.list_id.upper()
    if list_id.startswith("KFM") or note.positional:
        return {"A": -3, "V": -1, "W": 0, "Wh": 0}
    if list_id.startswith("KAMSTRUP"):
        amps = -3 if kamstrup_current_ma == 1 else -2  # behind current transformers: mA
        return {"A": amps, "V": 0, "W": 0, "Wh": 1 if kamstrup_energy_wh == 10 else 0}
    return {}


def _resolution(reg: Register | None, scales: dict[str, int]) -> float:
    """The last digit of a current register: 10 to its scaler (0.001 A for Kaifa's mA)."""
    scaler = None if reg is None else reg.scaler
    if scaler is None:
        scaler = scales.get("A", -2)
    return float(10.0**scaler)


def _kind(obis: Obis) -> str:
    if obis in _CURRENTS:
        return "A"
    if obis in _VOLTAGES:
        return "V"
    if obis in _ENERGIES:
        return "Wh"
    return "W"


def _obis_name(obis: Obis) -> str:
    a, c, d, e = obis
    return f"{a}-0:{c}.{d}.{e}"


def _text(regs: dict[Obis, Register], codes: tuple[Obis, ...]) -> str | None:
    for obis in codes:
        reg = regs.get(obis)
        if reg is None:
            continue
        value = reg.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
