"""HAN-P1 / DSMR P1 telegrams: bytes in (in any chunks), typed readings out. No I/O, no clock.

Framing follows ``reference/han-p1.md`` §5: a telegram runs from ``/`` to ``!`` and is followed by
its CRC-16/ARC (1-4 hex digits, either case), computed over every byte from ``/`` through ``!``
exactly as sent. Lines are decoded by OBIS code only; their order, the unit's spelling and the
number of decimals vary between meters and are not relied on.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import crcmod

from loadbalancer.meter.reading import MeterEvent, PhaseValues, Reading, Rejection

#: CRC-16/ARC: poly 0x8005 reflected, init 0, no xorout (check value "123456789" -> 0xBB3D).
crc16_arc = crcmod.mkCrcFun(0x18005, initCrc=0x0000, rev=True, xorOut=0x0000)

#: A telegram longer than this without its '!' is dropped (Swedish ones are ~710 bytes, Dutch
#: ones with M-Bus channels and text messages stay under 4 KiB).
MAX_TELEGRAM_BYTES = 16_384

#: Plausibility limits (values no real house produces).
MAX_PHASE_CURRENT_A = 1000.0
MAX_VOLTAGE_V = 500.0
MAX_PHASE_POWER_W = 500_000.0
#: After this many consecutive telegrams agreeing that a counter is lower than before, the
#: meter was replaced or reset: accept the new counter instead of staying blind forever.
COUNTER_RESET_CONFIRMATIONS = 3

_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
# A header starts "/XXXn": three letters and the baud digit (/ELL5, /LGF5, /ADN9, /ISk5, /Lux5).
_HEADER_START = re.compile(rb"/[A-Za-z]{3}\d")
_NUMBER = re.compile(r"\s*([-+]?\d+(?:\.\d*)?)\s*\*?\s*(.*?)\s*$")

_W = timezone(timedelta(hours=1))  # "W": normal (winter) time, UTC+1
_S = timezone(timedelta(hours=2))  # "S": summer time, UTC+2

# OBIS code -> (field, kind). Kinds set the expected unit and the scaling to our units.
_POWER, _ENERGY, _VOLT, _AMP, _TIME, _ID, _DATE, _CLOCK = range(8)
_FIELDS: dict[str, tuple[str, int]] = {
    "0-0:1.0.0": ("time", _TIME),
    "1-0:0.9.1": ("clock", _CLOCK),  # Iskra AM550 (SE): hhmmss
    "1-0:0.9.2": ("date", _DATE),  # Iskra AM550 (SE): yymmdd
    "0-0:96.1.1": ("id_96_1_1", _ID),
    "0-0:96.1.0": ("id_96_1_0", _ID),
    "0-0:42.0.0": ("id_42_0_0", _ID),
    "1-0:1.8.0": ("e_imp", _ENERGY),
    "1-0:2.8.0": ("e_exp", _ENERGY),
    "1-0:1.8.1": ("e_imp_t1", _ENERGY),
    "1-0:1.8.2": ("e_imp_t2", _ENERGY),
    "1-0:1.8.3": ("e_imp_t3", _ENERGY),
    "1-0:1.8.4": ("e_imp_t4", _ENERGY),
    "1-0:2.8.1": ("e_exp_t1", _ENERGY),
    "1-0:2.8.2": ("e_exp_t2", _ENERGY),
    "1-0:2.8.3": ("e_exp_t3", _ENERGY),
    "1-0:2.8.4": ("e_exp_t4", _ENERGY),
    "1-0:1.7.0": ("p_imp", _POWER),
    "1-0:2.7.0": ("p_exp", _POWER),
    "1-0:21.7.0": ("p_imp1", _POWER),
    "1-0:41.7.0": ("p_imp2", _POWER),
    "1-0:61.7.0": ("p_imp3", _POWER),
    "1-0:22.7.0": ("p_exp1", _POWER),
    "1-0:42.7.0": ("p_exp2", _POWER),
    "1-0:62.7.0": ("p_exp3", _POWER),
    "1-0:32.7.0": ("u1", _VOLT),
    "1-0:52.7.0": ("u2", _VOLT),
    "1-0:72.7.0": ("u3", _VOLT),
    "1-0:31.7.0": ("i1", _AMP),
    "1-0:51.7.0": ("i2", _AMP),
    "1-0:71.7.0": ("i3", _AMP),
    # Belgian e-MUCS: the DSO's current limit and the quarter-hour average demand.
    "1-0:31.4.0": ("current_limit_a", _AMP),
    "1-0:1.4.0": ("demand_avg_w", _POWER),
}
_ENERGY_SCALE = {"kwh": 1.0, "wh": 0.001, "": 1.0}
_POWER_SCALE = {"kw": 1000.0, "w": 1.0, "": 1000.0}
_PLAIN_UNIT = {_VOLT: ("v", ""), _AMP: ("a", "")}


@dataclass(slots=True)
class _Value:
    number: float
    has_decimals: bool


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
        self._energy: tuple[float | None, float | None] = (None, None)
        self._backwards_streak = 0

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]:
        """Take the next bytes of the stream; return what they completed, in stream order."""
        self._buf += chunk
        return self._drain(received_s, at_eof=False)

    def close(self, received_s: float) -> list[MeterEvent]:
        """The stream ended: finish a telegram whose CRC ended the stream, drop a partial one."""
        events = self._drain(received_s, at_eof=True)
        rest = bytes(self._buf)
        self._buf.clear()
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

    def _drain(self, received_s: float, *, at_eof: bool) -> list[MeterEvent]:
        events: list[MeterEvent] = []
        buf = self._buf
        while buf:
            start = buf.find(b"/")
            if start != 0:
                cut = len(buf) if start < 0 else start
                self._skip(bytes(buf[:cut]), received_s, events)
                del buf[:cut]
                if start < 0:
                    break
            self._garbage_run = 0
            end = buf.find(b"!", 1)
            if end < 0 or end > MAX_TELEGRAM_BYTES:
                if len(buf) > MAX_TELEGRAM_BYTES:
                    events.append(
                        Rejection(
                            received_s,
                            f"no '!' within {MAX_TELEGRAM_BYTES} bytes",
                            len(buf),
                            _header_of(buf),
                        )
                    )
                    del buf[:1]  # resynchronise on the next '/'
                    continue
                break
            digits = 0
            while (
                digits < 4 and end + 1 + digits < len(buf) and buf[end + 1 + digits] in _HEX_DIGITS
            ):
                digits += 1
            if digits < 4 and end + 1 + digits >= len(buf) and not at_eof:
                break  # the CRC may still be arriving
            block = bytes(buf[: end + 1])
            crc_text = bytes(buf[end + 1 : end + 1 + digits])
            del buf[: end + 1 + digits]
            self._frame(block, crc_text, received_s, events)
        return events

    def _skip(self, garbage: bytes, received_s: float, events: list[MeterEvent]) -> None:
        """Bytes outside any telegram. Each '!' among them ends a telegram whose start we never
        saw: one rejection per '!', sized by the non-blank bytes since the last telegram, so
        neither the count nor the size depends on how the stream was chunked."""
        at = 0
        while (bang := garbage.find(b"!", at)) >= 0:
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
        """``block`` runs from a '/' through the '!'; it may hold truncated telegrams in front."""
        starts = [0] + [m.start() for m in _HEADER_START.finditer(block, 1)]
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
        for i, start in enumerate(starts):
            if crc16_arc(block[start:]) == sent:
                self._truncated(block, starts[:i], start, received_s, events)
                events.append(self._decode(block[start:], received_s))
                return
        last = starts[-1]
        self._truncated(block, starts[:-1], last, received_s, events)
        computed = crc16_arc(block[last:])
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
        lines = text.split("\n")
        header = lines[0].strip()
        values: dict[str, _Value] = {}
        raw: dict[str, str] = {}
        for line in lines[1:]:
            open_at = line.find("(")
            if open_at <= 0:
                continue
            obis = line[:open_at].strip()
            star = obis.find("*")  # EasyMeter writes "1-0:1.8.0*255"
            if star > 0:
                obis = obis[:star]
            spec = _FIELDS.get(obis)
            if spec is None:
                continue
            name, kind = spec
            # The value is the last parenthesised group (e.g. "1-0:1.6.0(ts)(value)").
            close_at = line.rfind(")")
            last_open = line.rfind("(", 0, close_at)
            if close_at < 0 or last_open < 0:
                continue
            content = line[last_open + 1 : close_at]
            if kind in (_TIME, _ID, _DATE, _CLOCK):
                raw[name] = content
                continue
            value = _scaled(content, kind)
            if value is not None:
                values[name] = value
        return self._reading(header, values, raw, received_s, len(telegram))

    def _reading(
        self,
        header: str,
        values: dict[str, _Value],
        raw: dict[str, str],
        received_s: float,
        size: int,
    ) -> MeterEvent:
        def num(name: str) -> float | None:
            v = values.get(name)
            return v.number if v is not None else None

        currents: list[float | None] = []
        powers: list[float | None] = []
        voltages = [num("u1"), num("u2"), num("u3")]
        for n in (1, 2, 3):
            p_imp, p_exp = num(f"p_imp{n}"), num(f"p_exp{n}")
            net = None
            if p_imp is not None or p_exp is not None:
                net = round((p_imp or 0.0) - (p_exp or 0.0), 6)
            powers.append(net)
            amp = values.get(f"i{n}")
            if amp is None:
                currents.append(None)
                continue
            magnitude = abs(amp.number)
            volt = voltages[n - 1]
            if not amp.has_decimals and net is not None and volt is not None and volt > 50.0:
                # Whole-ampere meters (Iskra AM550, Dutch Kaifa): |P|/U refines the value and is
                # never allowed to lower it (reference/han-p1.md §5.4).
                magnitude = max(magnitude, round(abs(net) / volt, 2))
            # HAN currents carry no sign: export on the phase (and more of it than import) makes
            # it negative; with no export figure the sign is unknown and import is assumed.
            exporting = p_exp is not None and p_exp > 0.0 and (p_imp is None or p_exp > p_imp)
            currents.append(-magnitude if exporting and magnitude else magnitude)

        e_imp = num("e_imp")
        if e_imp is None:
            e_imp = _sum_present([num(f"e_imp_t{t}") for t in (1, 2, 3, 4)])
        e_exp = num("e_exp")
        if e_exp is None:
            e_exp = _sum_present([num(f"e_exp_t{t}") for t in (1, 2, 3, 4)])

        problem = _implausible(currents, voltages, powers)
        if problem is None:
            problem = self._counters_backwards(e_imp, e_exp)
        if problem is not None:
            return Rejection(received_s, f"implausible: {problem}", size, header)

        extra: dict[str, float | str] = {}
        for name in ("current_limit_a", "demand_avg_w"):
            value = num(name)
            if value is not None:
                extra[name] = value
        return Reading(
            received_s=received_s,
            meter_time=_meter_time(raw),
            meter_id=_meter_id(raw),
            current_a=PhaseValues(*currents),
            voltage_v=PhaseValues(*voltages),
            power_w=PhaseValues(*powers),
            import_w=num("p_imp"),
            export_w=num("p_exp"),
            energy_import_kwh=e_imp,
            energy_export_kwh=e_exp,
            header=header,
            protocol="p1",
            extra=extra,
        )

    def _counters_backwards(self, e_imp: float | None, e_exp: float | None) -> str | None:
        last_imp, last_exp = self._energy
        problems = [
            f"{what} energy counter went backwards: {old:.3f} -> {new:.3f} kWh"
            for what, old, new in (("import", last_imp, e_imp), ("export", last_exp, e_exp))
            if old is not None and new is not None and new < old
        ]
        if problems:
            self._backwards_streak += 1
            if self._backwards_streak < COUNTER_RESET_CONFIRMATIONS:
                return "; ".join(problems)
        self._backwards_streak = 0
        self._energy = (
            e_imp if e_imp is not None else last_imp,
            e_exp if e_exp is not None else last_exp,
        )
        return None


def build_telegram(header: str, lines: list[str], *, line_end: str = "\r\n") -> bytes:
    """A telegram with a valid CRC, as a meter would send it (for emulators and tests)."""
    body = "/" + header + line_end + line_end + "".join(line + line_end for line in lines) + "!"
    data = body.encode("latin-1")
    return data + f"{crc16_arc(data):04X}{line_end}".encode("ascii")


def _scaled(content: str, kind: int) -> _Value | None:
    match = _NUMBER.match(content)
    if match is None:
        return None
    digits, unit = match.group(1), match.group(2).lower()
    number = float(digits)
    if kind == _ENERGY:
        scale = _ENERGY_SCALE.get(unit)
    elif kind == _POWER:
        scale = _POWER_SCALE.get(unit)
    else:
        scale = 1.0 if unit in _PLAIN_UNIT[kind] else None
    if scale is None:
        return None  # a unit that does not fit the quantity: the line is malformed, ignore it
    # round() drops binary noise such as 1.023 * 1000 = 1022.9999999999999
    return _Value(round(number * scale, 6) if scale != 1.0 else number, "." in digits)


def _sum_present(parts: list[float | None]) -> float | None:
    present = [p for p in parts if p is not None]
    return round(sum(present), 3) if present else None


def _implausible(
    currents: list[float | None], voltages: list[float | None], powers: list[float | None]
) -> str | None:
    for phase, (amp, volt, watt) in enumerate(zip(currents, voltages, powers, strict=True), 1):
        if amp is not None and abs(amp) > MAX_PHASE_CURRENT_A:
            return f"L{phase} current {abs(amp):g} A is over {MAX_PHASE_CURRENT_A:g} A"
        if volt is not None and not 0.0 <= volt <= MAX_VOLTAGE_V:
            return f"L{phase} voltage {volt:g} V is outside 0-{MAX_VOLTAGE_V:g} V"
        if watt is not None and abs(watt) > MAX_PHASE_POWER_W:
            return f"L{phase} power {watt:g} W is over {MAX_PHASE_POWER_W:g} W"
    return None


def _meter_time(raw: dict[str, str]) -> datetime | None:
    stamp = raw.get("time")
    if stamp is None and "date" in raw and "clock" in raw:
        stamp = raw["date"].strip() + raw["clock"].strip()
    if stamp is None:
        return None
    stamp = stamp.strip()
    flag = stamp[12:13].upper()
    try:
        naive = datetime.strptime(stamp[:12], "%y%m%d%H%M%S")
    except ValueError:
        return None
    if flag == "W":
        return naive.replace(tzinfo=_W)
    if flag == "S":
        return naive.replace(tzinfo=_S)
    return naive  # no flag sent: the offset is unknown and not made up


def _meter_id(raw: dict[str, str]) -> str | None:
    for key in ("id_96_1_1", "id_96_1_0", "id_42_0_0"):
        value = raw.get(key, "").strip()
        if not value:
            continue
        if len(value) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in value):
            decoded = bytes.fromhex(value)
            if all(32 <= b < 127 for b in decoded):
                return decoded.decode("ascii")
        return value
    return None


def _non_blank(data: bytes) -> int:
    return len(data) - sum(data.count(c) for c in (b" ", b"\r", b"\n", b"\t"))


def _header_of(data: bytes | bytearray) -> str:
    line = bytes(data[:80]).split(b"\n", 1)[0]
    return line.decode("latin-1").strip()
