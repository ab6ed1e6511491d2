"""One entry point for every meter format: ``make_meter_parser(protocol, options)``.

``p1`` reads P1 text (Swedish HAN-P1, Dutch DSMR, Belgian e-MUCS, and Luxembourg Smarty frames
when a key is given); ``dlms`` reads DLMS/COSEM push messages in HDLC frames (Aidon, Kaifa,
Kamstrup); ``auto`` reads both from the same stream: HDLC frames are cut out by their length
(``7E A?``), every byte outside them goes to the P1 reader (``/`` + letters). P1 text never holds
``7E A?`` (both bytes are not text), so the two cannot be confused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loadbalancer.errors import UsageError
from loadbalancer.meter.dlms import DlmsDecoder, DlmsParser
from loadbalancer.meter.gcm import SMARTY_AUTH_KEY, parse_key
from loadbalancer.meter.hdlc import FLAG, HdlcEvent, HdlcFramer
from loadbalancer.meter.p1 import P1_HEADER, P1_HEADER_BYTES, P1Parser
from loadbalancer.meter.reading import MeterEvent, MeterParser
from loadbalancer.meter.smarty import SmartyParser

PROTOCOLS = ("auto", "p1", "dlms")


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """How to read the meter beyond its protocol.

    ``require_crc``: refuse P1 telegrams without a CRC (DSMR 2.2/3 have none: ``crc=optional``).
    ``key``: the meter's AES-128 key (Luxembourg Smarty, encrypted HDLC meters).
    ``auth_key``: the authentication key (AK) of encrypted meters; Luxembourg's fixed one by
    default, other grid operators hand out their own with the key (Danish GPK61).
    ``kamstrup_energy_wh``: Wh per count of a Kamstrup HDLC energy register: 1 in Sweden, 10 in
    Norway (the lists are otherwise identical, so it cannot be told from the data).
    """

    require_crc: bool = True
    key: bytes | None = field(default=None, repr=False)  # a secret: never in logs
    kamstrup_energy_wh: int = 1
    auth_key: bytes = field(default=SMARTY_AUTH_KEY, repr=False)

    @classmethod
    def from_query(cls, query: Mapping[str, str], where: str) -> ParserOptions:
        """Options from a source URL's query; :class:`UsageError` naming ``where`` if invalid."""
        crc = query.get("crc", "strict").lower()
        if crc not in ("strict", "optional"):
            raise UsageError(f"{where}: crc={crc!r} must be strict or optional")
        key, auth_key = None, SMARTY_AUTH_KEY
        try:
            if "key" in query:
                key = parse_key(query["key"])
            if "auth_key" in query:
                auth_key = parse_key(query["auth_key"], "auth_key")
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from None
        energy = query.get("kamstrup_energy_wh", "1")
        if energy not in ("1", "10"):
            raise UsageError(f"{where}: kamstrup_energy_wh={energy!r} must be 1 (SE) or 10 (NO)")
        return cls(
            require_crc=crc == "strict",
            key=key,
            kamstrup_energy_wh=int(energy),
            auth_key=auth_key,
        )


class AutoParser:
    """P1 text and HDLC frames from one stream, told apart byte by byte (module docstring)."""

    def __init__(self, options: ParserOptions | None = None) -> None:
        options = options or ParserOptions()
        self._framer = HdlcFramer()
        self._dlms = DlmsDecoder(
            key=options.key,
            auth_key=options.auth_key,
            kamstrup_energy_wh=options.kamstrup_energy_wh,
        )
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
        data = bytes(self._held) + chunk
        self._held.clear()
        while data:
            if not self._binary:
                flag = data.find(FLAG)
                if flag < 0:
                    events += self._p1.feed(data, received_s)
                    break
                events += self._p1.feed(data[:flag], received_s)
                data = data[flag:]
                self._binary = True
                continue
            header = P1_HEADER.search(data)
            if header is None:
                slash = data.rfind(b"/", max(0, len(data) - P1_HEADER_BYTES + 1))
                cut = slash if slash >= 0 else len(data)
                self._held += data[cut:]
                events += self._dlms.noise(data[:cut], received_s)
                break
            events += self._dlms.noise(data[: header.start()], received_s)
            data = data[header.start() :]
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
        return DlmsParser(
            key=options.key,
            auth_key=options.auth_key,
            kamstrup_energy_wh=options.kamstrup_energy_wh,
        )
    if protocol == "auto":
        return AutoParser(options)
    raise UsageError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
