"""One entry point for every meter format: ``make_meter_parser(protocol, options)``.

``p1`` reads P1 text (Swedish HAN-P1, Dutch DSMR, Belgian e-MUCS, and Luxembourg Smarty frames
when a key is given); ``dlms`` reads DLMS/COSEM push messages in HDLC frames (Aidon, Kaifa,
Kamstrup); ``auto`` reads both from the same stream: HDLC frames are cut out by their length
(``7E A?``), every byte outside them goes to the P1 reader (``/`` + letters). P1 text never holds
``7E A?`` (both bytes are not text), so the two cannot be confused.
"""

from __future__ import annotations

from loadbalancer.errors import UsageError
from loadbalancer.meter.dlms import DlmsDecoder, DlmsParser
from loadbalancer.meter.hdlc import FLAG, HdlcEvent, HdlcFramer
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.p1 import P1_HEADER, P1_HEADER_BYTES, P1Parser
from loadbalancer.meter.reading import MeterEvent, MeterParser
from loadbalancer.meter.smarty import SmartyParser

PROTOCOLS = ("auto", "p1", "dlms")


class AutoParser:
    """P1 text and HDLC frames from one stream, told apart byte by byte (module docstring)."""

    def __init__(self, options: ParserOptions | None = None) -> None:
        options = options or ParserOptions()
        self._framer = HdlcFramer()
        self._dlms = DlmsDecoder(options)
        plain = _PlainText(P1Parser(require_crc=options.require_crc), self._dlms)
        self._text = SmartyParser(plain, options.key, options.auth_key)

    @property
    def skipped_bytes(self) -> int:
        return self._text.skipped_bytes

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]:
        return self._route(self._framer.feed(chunk), received_s)

    def close(self, received_s: float) -> list[MeterEvent]:
        events = self._route(self._framer.close(), received_s)
        return events + self._text.close(received_s)

    def _route(self, items: list[HdlcEvent], received_s: float) -> list[MeterEvent]:
        return self._dlms.events(items, received_s, self._text.feed)


class _PlainText:
    """The bytes outside HDLC and Smarty frames. P1 text goes to the P1 parser; from a flag
    (0x7E, never in P1 text) up to the next P1 header (``/`` + three letters + a digit) the bytes
    are an HDLC frame read at a wrong baud rate or parity, judged by the DLMS decoder."""

    def __init__(self, p1: P1Parser, dlms: DlmsDecoder) -> None:
        self._p1 = p1
        self._dlms = dlms
        self._binary = False
        self._held = bytearray()  # in binary mode: a possible P1 header still arriving

    @property
    def skipped_bytes(self) -> int:
        return self._p1.skipped_bytes + self._dlms.skipped_bytes

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]:
        events: list[MeterEvent] = []
        data = bytes(self._held) + chunk if self._held else chunk
        self._held.clear()
        at, size = 0, len(data)  # an index, not slices of the rest: each byte is copied once
        while at < size:
            if not self._binary:
                flag = data.find(FLAG, at)
                if flag < 0:
                    events += self._p1.feed(data[at:], received_s)
                    break
                events += self._p1.feed(data[at:flag], received_s)
                at = flag
                self._binary = True
                continue
            header = P1_HEADER.search(data, at)
            if header is None:
                slash = data.rfind(b"/", max(at, size - P1_HEADER_BYTES + 1))
                cut = slash if slash >= 0 else size
                self._held += data[cut:]
                events += self._dlms.noise(data[at:cut], received_s)
                break
            events += self._dlms.noise(data[at : header.start()], received_s)
            at = header.start()
            self._binary = False
        return events

    def close(self, received_s: float) -> list[MeterEvent]:
        events = self._dlms.noise(bytes(self._held), received_s)
        self._held.clear()
        self._binary = False
        return events + self._p1.close(received_s)


def make_meter_parser(protocol: str, options: ParserOptions | None = None) -> MeterParser:
    """The parser for ``protocol`` (``auto``, ``p1`` or ``dlms``)."""
    options = options or ParserOptions()
    if protocol == "p1":
        return SmartyParser(
            P1Parser(require_crc=options.require_crc), options.key, options.auth_key
        )
    if protocol == "dlms":
        return DlmsParser(options)
    if protocol == "auto":
        return AutoParser(options)
    raise UsageError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
