"""HAN-P1 / DSMR P1 telegrams: bytes in (in any chunks), typed readings out. No I/O, no clock.

Framing (docs/meters.md §Swedish HAN-P1): a telegram runs from ``/`` to ``!`` and is followed by
its CRC-16/ARC (1-4 hex digits, either case), computed over every byte from ``/`` through ``!``
exactly as sent. Lines are decoded by OBIS code only; their order, the unit's spelling and the
number of decimals vary between meters and are not relied on.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone

import crcmod

from loadbalancer.meter.plausibility import CounterWatch, Decoded, PhaseRaw, judge_reading
from loadbalancer.meter.reading import MeterEvent, Rejection

#: CRC-16/ARC: poly 0x8005 reflected, init 0, no xorout (check value "123456789" -> 0xBB3D).
crc16_arc = crcmod.mkCrcFun(0x18005, initCrc=0x0000, rev=True, xorOut=0x0000)

#: A telegram runs from its '/' through its '!' in at most this many bytes; a start with no '!'
#: that close is dropped and the parser resynchronises on the next start. Swedish telegrams are
#: ~710 bytes, the longest capture (Belgian, with gas) 1.4 KB; a Dutch DSMR 5 one with the
#: longest text message (1024 characters, hex-coded) and M-Bus channels still fits.
MAX_TELEGRAM_BYTES = 4096
#: Besides the outermost start, the CRC of a block is tried from at most this many of the
#: innermost nested starts (truncated telegrams in front of a whole one): more nested headers
#: than this in 4 KB are line noise, and each costs a CRC pass.
MAX_INNER_CANDIDATES = 3

# The CRC after '!': up to four hex digits (a match always succeeds, maybe empty).
_CRC_DIGITS = re.compile(rb"[0-9A-Fa-f]{0,4}")
# A header starts "/XXXn": three letters and the baud digit (/ELL5, /LGF5, /ADN9, /ISk5, /Lux5).
P1_HEADER = re.compile(rb"/[A-Za-z]{3}\d")
P1_HEADER_BYTES = 5
# "OBIS(value)" at a line start, [0-9] rather than \d (ASCII only, and faster). A "*255" after
# the code (EasyMeter) is dropped; the value runs to the line's last ")" (the fields we read
# have a single group).
_LINE = re.compile(r"\n([0-9]+-[0-9]+:[0-9]+\.[0-9]+\.[0-9]+)(?:\*[0-9]+)?\(([^\n]*)\)")
# A value's leading number; possessive, so that no input makes it backtrack (the unit is split
# off by hand: a lazy ``(.*?)\s*$`` took 0.7 s on one 15 KB value with blanks in it).
_NUMBER = re.compile(r"[-+]?+[0-9]++(?:\.[0-9]*+)?+")

_W = timezone(timedelta(hours=1))  # "W": normal (winter) time, UTC+1
_S = timezone(timedelta(hours=2))  # "S": summer time, UTC+2

# Unit as sent -> factor to our unit. Keys are lower case plus the usual spellings, so the
# common case is one dict lookup; anything else goes through the careful path (_scaled).
_POWER = {"kw": 1000.0, "w": 1.0, "": 1000.0, "kW": 1000.0, "W": 1.0}
_ENERGY = {"kwh": 1.0, "wh": 0.001, "": 1.0, "kWh": 1.0, "Wh": 0.001}
_VOLT = {"v": 1.0, "": 1.0, "V": 1.0}
_AMP = {"a": 1.0, "": 1.0, "A": 1.0}
# Per phase: active power import, export (21/22.7.0 ...), voltage, current (no sign).
_PHASE_OBIS = (
    ("1-0:21.7.0", "1-0:22.7.0", "1-0:32.7.0", "1-0:31.7.0"),
    ("1-0:41.7.0", "1-0:42.7.0", "1-0:52.7.0", "1-0:51.7.0"),
    ("1-0:61.7.0", "1-0:62.7.0", "1-0:72.7.0", "1-0:71.7.0"),
)
_IMPORT_W, _EXPORT_W = "1-0:1.7.0", "1-0:2.7.0"
_IMPORT_KWH, _EXPORT_KWH = "1-0:1.8.0", "1-0:2.8.0"
# DSMR tariff registers, summed when a meter sends no total.
_IMPORT_TARIFFS = ("1-0:1.8.1", "1-0:1.8.2", "1-0:1.8.3", "1-0:1.8.4")
_EXPORT_TARIFFS = ("1-0:2.8.1", "1-0:2.8.2", "1-0:2.8.3", "1-0:2.8.4")
_TIME = "0-0:1.0.0"  # YYMMDDhhmmss + W/S
_CLOCK, _DATE = "1-0:0.9.1", "1-0:0.9.2"  # Iskra AM550 (SE): hhmmss and yymmdd apart
# Equipment id: DSMR 5, Belgium, Luxembourg (often hex-encoded ASCII).
_ID_OBIS = ("0-0:96.1.1", "0-0:96.1.0", "0-0:42.0.0")
# Belgian e-MUCS extras: the DSO's current limit and the quarter-hour average demand.
_EXTRA = (("current_limit_a", "1-0:31.4.0", _AMP), ("demand_avg_w", "1-0:1.4.0", _POWER))


class P1Parser:
    """Sans-I/O P1 telegram reader.

    Feed it bytes as they arrive with the host time of their arrival; it returns a reading for
    every complete telegram whose CRC matches and whose values are plausible, and a
    :class:`Rejection` for every telegram it drops. Garbage between telegrams (line noise, a
    wrong baud rate's bytes) is skipped and counted in :attr:`skipped_bytes`.
    """

    def __init__(self, *, require_crc: bool = True) -> None:
        self.require_crc = require_crc
        self.skipped_bytes = 0
        self._buf = bytearray()
        self._garbage_run = 0  # non-blank bytes since the last telegram or fragment
        self._scanned = 0  # no '!' in buf[1:_scanned]: where the next search for one starts
        self._overflow_bytes = 0  # dropped for lack of a '!', not yet reported
        self._overflow_header = ""
        self._counters = CounterWatch()

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]:
        """Take the next bytes of the stream; return what they completed, in stream order."""
        self._buf += chunk
        return self._drain(received_s, at_eof=False)

    def close(self, received_s: float) -> list[MeterEvent]:
        """The stream ended: finish a telegram whose CRC ended the stream, drop a partial one."""
        events = self._drain(received_s, at_eof=True)
        self._flush_overflow(received_s, events)
        rest = bytes(self._buf)
        self._buf.clear()
        self._scanned = 0
        start = rest.find(b"/")
        if start >= 0:
            events.append(
                Rejection(
                    received_s,
                    "truncated: the stream ended before '!'",
                    len(rest) - start,
                    _header_of(rest[start:]),
                )
            )
        else:
            self._skip(rest, received_s, events)
        return events

    # -- framing ----------------------------------------------------------------------------
    #
    # Linear on any input, with a small constant: every byte is looked at by a C-level search
    # a bounded number of times (``_scanned`` remembers how far a '!' was looked for), a
    # telegram never spans more than MAX_TELEGRAM_BYTES, and a block gets at most
    # 1 + MAX_INNER_CANDIDATES CRC passes however many headers are nested in it.

    def _drain(self, received_s: float, *, at_eof: bool) -> list[MeterEvent]:
        events: list[MeterEvent] = []
        buf = self._buf
        while buf:
            start = buf.find(b"/")
            if start != 0:
                cut = len(buf) if start < 0 else start
                self._skip(bytes(buf[:cut]), received_s, events)
                del buf[:cut]
                self._scanned = max(0, self._scanned - cut)
                if start < 0:
                    break
            self._garbage_run = 0
            end = buf.find(b"!", max(1, self._scanned))
            if end < 0:
                self._scanned = len(buf)
                # no start older than the last MAX_TELEGRAM_BYTES - 1 bytes can still end
                self._overflow(len(buf) - MAX_TELEGRAM_BYTES + 1, received_s, events)
                break
            if end >= MAX_TELEGRAM_BYTES:
                # the '!' is too far for the start at 0 and for every start before this cut
                self._scanned = end
                self._overflow(end - MAX_TELEGRAM_BYTES + 1, received_s, events)
                continue
            self._scanned = end
            crc = _CRC_DIGITS.match(buf, end + 1)
            digits = crc.end() - end - 1 if crc else 0
            if digits < 4 and end + 1 + digits >= len(buf) and not at_eof:
                break  # the CRC may still be arriving
            block = bytes(buf[: end + 1])
            crc_text = bytes(buf[end + 1 : end + 1 + digits])
            del buf[: end + 1 + digits]
            self._scanned = 0
            self._flush_overflow(received_s, events)
            self._frame(block, crc_text, received_s, events)
        return events

    def _overflow(self, cut: int, received_s: float, events: list[MeterEvent]) -> None:
        """Drop ``cut`` bytes from the front: they hold only starts with no '!' within
        MAX_TELEGRAM_BYTES. A run of such drops is reported as one rejection (per
        MAX_TELEGRAM_BYTES of it), not one per start."""
        if cut <= 0:
            return
        if not self._overflow_bytes:
            self._overflow_header = _header_of(self._buf)
        self._overflow_bytes += cut
        del self._buf[:cut]
        self._scanned = max(0, self._scanned - cut)
        if self._overflow_bytes >= MAX_TELEGRAM_BYTES:
            self._flush_overflow(received_s, events)

    def _flush_overflow(self, received_s: float, events: list[MeterEvent]) -> None:
        if self._overflow_bytes:
            reason = f"no '!' within {MAX_TELEGRAM_BYTES} bytes"
            events.append(
                Rejection(received_s, reason, self._overflow_bytes, self._overflow_header)
            )
            self._overflow_bytes = 0

    def _skip(self, garbage: bytes, received_s: float, events: list[MeterEvent]) -> None:
        """Bytes outside any telegram. Each '!' among them ends a telegram whose start we never
        saw: one rejection per '!', sized by the non-blank bytes since the last telegram, so
        neither the count nor the size depends on how the stream was chunked."""
        at = 0
        while (bang := garbage.find(b"!", at)) >= 0:
            self._flush_overflow(received_s, events)
            size = self._garbage_run + _non_blank(garbage[at : bang + 1])
            reason = "fragment: the end of a telegram whose start was not received"
            events.append(Rejection(received_s, reason, size))
            self._garbage_run = 0
            at = bang + 1
        rest = _non_blank(garbage[at:])
        self._garbage_run += rest
        self.skipped_bytes += rest

    def _frame(
        self, block: bytes, crc_text: bytes, received_s: float, events: list[MeterEvent]
    ) -> None:
        """``block`` runs from a '/' through the '!'; it may hold truncated telegrams in front.
        The CRC is tried from the outermost start and from the innermost ones (a truncated
        telegram is followed by a whole one): one pass per candidate, a bounded number."""
        starts = [0] + [m.start() for m in P1_HEADER.finditer(block, 1)]
        if not crc_text:
            last = starts[-1]
            self._truncated(block, starts[:-1], last, received_s, events)
            if self.require_crc:
                events.append(
                    Rejection(
                        received_s, "no CRC after '!'", len(block) - last, _header_of(block[last:])
                    )
                )
            else:
                events.append(self._decode(block[last:], received_s))
            return
        sent = int(crc_text, 16)
        candidates = starts if len(starts) <= 1 + MAX_INNER_CANDIDATES else [
            0, *starts[-MAX_INNER_CANDIDATES:]
        ]  # fmt: skip
        computed = 0
        for start in candidates:
            computed = crc16_arc(block[start:])
            if computed == sent:
                self._truncated(block, [s for s in starts if s < start], start, received_s, events)
                events.append(self._decode(block[start:], received_s))
                return
        last = starts[-1]
        self._truncated(block, starts[:-1], last, received_s, events)
        events.append(
            Rejection(
                received_s,
                f"bad CRC: sent {crc_text.decode()}, computed {computed:04X}",
                len(block) - last,
                _header_of(block[last:]),
            )
        )

    @staticmethod
    def _truncated(
        block: bytes, starts: list[int], stop: int, received_s: float, events: list[MeterEvent]
    ) -> None:
        bounds = [*starts, stop]
        for a, b in itertools.pairwise(bounds):
            events.append(
                Rejection(
                    received_s,
                    "truncated: the next telegram began before '!'",
                    b - a,
                    _header_of(block[a:b]),
                )
            )

    # -- decoding ---------------------------------------------------------------------------

    def _decode(self, telegram: bytes, received_s: float) -> MeterEvent:
        text = telegram.decode("latin-1")
        header = text[: text.find("\n")].strip() if "\n" in text else text.strip()
        # One C-level pass maps every "OBIS(value)" line; only the codes we need are looked at.
        found: dict[str, str] = dict(_LINE.findall(text))
        decoded = _decoded(found, header, len(telegram))
        return judge_reading(decoded, received_s, self._counters)


def _decoded(found: dict[str, str], header: str, size_bytes: int) -> Decoded:
    """A telegram's lines by OBIS code -> its values, as sent (no check yet)."""
    raw: list[PhaseRaw] = []
    for imp_obis, exp_obis, volt_obis, amp_obis in _PHASE_OBIS:
        amp = _num(found, amp_obis, _AMP)
        volt, p_imp = _num(found, volt_obis, _VOLT), _num(found, imp_obis, _POWER)
        p_exp = _num(found, exp_obis, _POWER)
        resolution_a = _resolution(found[amp_obis]) if amp is not None else 1.0
        raw.append(PhaseRaw(amp, volt, p_imp, p_exp, False, resolution_a))
    e_imp = _num(found, _IMPORT_KWH, _ENERGY)
    if e_imp is None:
        e_imp = _sum_present([_num(found, obis, _ENERGY) for obis in _IMPORT_TARIFFS])
    e_exp = _num(found, _EXPORT_KWH, _ENERGY)
    if e_exp is None:
        e_exp = _sum_present([_num(found, obis, _ENERGY) for obis in _EXPORT_TARIFFS])
    extra: dict[str, float | str] = {}
    for name, obis, kind in _EXTRA:
        value = _num(found, obis, kind)
        if value is not None:
            extra[name] = value
    return Decoded(
        raw,
        _num(found, _IMPORT_W, _POWER),
        _num(found, _EXPORT_W, _POWER),
        e_imp,
        e_exp,
        _meter_id(found),
        _meter_time(found),
        header,
        "p1",
        extra,
        size_bytes,
    )


def _num(found: dict[str, str], obis: str, scales: dict[str, float]) -> float | None:
    """The value of line ``obis`` in our unit, or None (absent, or no number of this unit)."""
    content = found.get(obis)
    if content is None:
        return None
    digits, _, unit = content.partition("*")
    scale = scales.get(unit)  # the usual case: "0001.023*kW"
    if scale is None or not digits:
        return _scaled(content, scales)
    try:
        number = float(digits)
    except ValueError:
        return _scaled(content, scales)
    # round() drops binary noise such as 1.023 * 1000 = 1022.9999999999999
    return number if scale == 1.0 else round(number * scale, 6)


def build_telegram(header: str, lines: list[str], *, line_end: str = "\r\n") -> bytes:
    """A telegram with a valid CRC, as a meter would send it (for emulators and tests)."""
    body = "/" + header + line_end + line_end + "".join(line + line_end for line in lines) + "!"
    data = body.encode("latin-1")
    return data + f"{crc16_arc(data):04X}{line_end}".encode("ascii")


def _scaled(content: str, scales: dict[str, float]) -> float | None:
    """The careful path: any unit case, blanks, no "*" before the unit ("00007225.264kWh")."""
    text = content.strip()
    match = _NUMBER.match(text)
    if match is None:
        return None
    number = float(match.group())
    unit = text[match.end() :].lstrip()
    scale = scales.get(unit.removeprefix("*").strip().lower())
    if scale is None:
        return None  # a unit that does not fit the quantity: the line is malformed, ignore it
    # round() drops binary noise such as 1.023 * 1000 = 1022.9999999999999
    return round(number * scale, 6) if scale != 1.0 else number


def _resolution(content: str) -> float:
    """The last digit of a value as sent: 0.1 for "002.8*A", 1 for "002*A"."""
    number = content.partition("*")[0]
    point = number.find(".")
    if point < 0:
        return 1.0
    decimals = len(number.rstrip(" AaVvWwKkHh")) - point - 1
    return 10.0**-decimals if decimals > 0 else 1.0


def _sum_present(parts: list[float | None]) -> float | None:
    present = [p for p in parts if p is not None]
    return round(sum(present), 3) if present else None


def _meter_time(found: dict[str, str]) -> datetime | None:
    stamp = found.get(_TIME)
    if stamp is None and _DATE in found and _CLOCK in found:
        stamp = found[_DATE].strip() + found[_CLOCK].strip()
    if stamp is None:
        return None
    stamp = stamp.strip()
    if len(stamp) < 12 or not stamp[:12].isdigit():
        return None
    try:
        naive = datetime(
            2000 + int(stamp[0:2]), int(stamp[2:4]), int(stamp[4:6]),
            int(stamp[6:8]), int(stamp[8:10]), int(stamp[10:12]),
        )  # fmt: skip
    except ValueError:
        return None  # e.g. "632525252525W", an empty history slot
    flag = stamp[12:13].upper()
    if flag == "W":
        return naive.replace(tzinfo=_W)
    if flag == "S":
        return naive.replace(tzinfo=_S)
    return naive  # no flag sent: the offset is unknown and not made up


def _meter_id(found: dict[str, str]) -> str | None:
    for obis in _ID_OBIS:
        value = found.get(obis, "").strip()
        if not value:
            continue
        if len(value) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in value):
            decoded = bytes.fromhex(value)
            if all(32 <= b < 127 for b in decoded):
                return decoded.decode("ascii")
        return value
    return None


def _non_blank(data: bytes) -> int:
    return len(data.translate(None, b" \r\n\t"))


def _header_of(data: bytes | bytearray) -> str:
    line = bytes(data[:80]).split(b"\n", 1)[0]
    return line.decode("latin-1").strip()
