"""HDLC frames as HAN meters send them (IEC 62056-46 "type 3"): bytes in, frames out. No I/O.

A frame is ``7E | A? LL | dst | src | ctrl | HCS | information | FCS | 7E``. The 11-bit length in
the two format bytes counts everything between the flags. HAN meters do not byte-stuff, so
0x7E and 0x7D appear raw inside frames: frames are cut by their length, never by searching for
the next flag (``reference/han-p1.md`` §3). HCS (over format..control) and FCS (over
format..information) are CRC-16/X-25, sent least significant byte first. Two frames may share
one flag (``7E frame 7E frame 7E``).

Resynchronisation: a start (``7E A?``) with a bad length, header or HCS, and a frame whose FCS
does not match, are rejected once, and scanning resumes one byte after the flag, so a truncated
frame never swallows the next good one (its rejection then says it was cut short). Starts found
inside a frame already rejected are not reported again. Bytes outside frames are handed out as
:class:`Noise`: P1 text in a mixed stream, or garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

import crcmod.predefined

#: CRC-16/X-25: poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF (check "123456789" -> 0x906E).
#: (crcmod's ``initCrc`` is the register value already XORed with ``xorOut``, so a hand-made
#: ``mkCrcFun(0x11021, initCrc=0xFFFF, rev=True, xorOut=0xFFFF)`` would be a different CRC.)
crc16_x25 = crcmod.predefined.mkPredefinedCrcFun("x-25")

FLAG = 0x7E
#: Frame format type 3 (high nibble 0xA); bit 0x08 of the first format byte is the segmentation
#: bit, the low three bits and the second byte hold the length.
_FORMAT_TYPE = 0xA0
_SEGMENTED = 0x08
#: format (2) + shortest addresses (1 + 1) + control (1) + HCS (2) + FCS (2)
MIN_FRAME_BYTES = 9
#: HDLC addresses are 1, 2 or 4 bytes, each address ends at a byte with its lowest bit set
_MAX_ADDRESS_BYTES = 4


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One frame whose HCS and FCS matched."""

    information: bytes
    segmented: bool
    destination: bytes
    source: bytes
    control: int
    size_bytes: int  # between the flags


@dataclass(frozen=True, slots=True)
class HdlcRejection:
    """Something that started like a frame and was dropped, with the reason."""

    reason: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Noise:
    """Bytes outside every frame, in stream order (P1 text when the stream is mixed)."""

    data: bytes


HdlcEvent = HdlcFrame | HdlcRejection | Noise


def is_frame_start(data: bytes | bytearray, at: int) -> bool:
    """``7E A?`` at ``at``: a flag followed by a type-3 format byte."""
    return data[at] == FLAG and at + 1 < len(data) and data[at + 1] & 0xF0 == _FORMAT_TYPE


class HdlcFramer:
    """Sans-I/O HDLC frame reader: feed chunks split anywhere, get frames, rejections and noise.

    The result is the same however the stream is chunked: a decision is only taken once every
    byte it depends on has arrived. Bytes inside a rejected frame are not handed out as noise
    (they were reported with the frame), except where a good frame turns up among them.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._after_frame = False  # buf[0] may be the closing flag of the frame just read
        self._quiet = 0  # bytes at the front of buf that lie inside an already rejected frame

    def feed(self, chunk: bytes) -> list[HdlcEvent]:
        self._buf += chunk
        events: list[HdlcEvent] = []
        self._drain(events, at_eof=False)
        return events

    def close(self) -> list[HdlcEvent]:
        """The stream ended: a partial frame is rejected as truncated."""
        events: list[HdlcEvent] = []
        self._drain(events, at_eof=True)
        buf = self._buf
        if buf and self._quiet == 0 and is_frame_start(buf, 0):
            size = len(buf) - 1
            whole = f"a {_length(buf)}-byte frame" if len(buf) >= 3 else "a frame"
            events.append(
                HdlcRejection(f"truncated: the stream ended {size} bytes into {whole}", size)
            )
        elif buf:
            self._noise(len(buf), events)
        buf.clear()
        self._quiet = 0
        self._after_frame = False
        return events

    def _drain(self, events: list[HdlcEvent], *, at_eof: bool) -> None:
        buf = self._buf
        while buf:
            if self._after_frame and buf[0] == FLAG:
                if len(buf) < 2 and not at_eof:
                    return  # a closing flag, or the opening flag of the next frame?
                if len(buf) < 2 or buf[1] & 0xF0 != _FORMAT_TYPE:
                    del buf[:1]  # the closing flag
                    self._after_frame = False
                    continue
            self._after_frame = False
            start = _find_start(buf)
            if start < 0:
                keep = 1 if buf[-1] == FLAG and not at_eof else 0  # may start a frame
                self._noise(len(buf) - keep, events)
                return
            if start:
                self._noise(start, events)
            # buf[0] is a flag, buf[1] a type-3 format byte
            if len(buf) < 3:
                return
            length = _length(buf)
            if length < MIN_FRAME_BYTES:
                self._reject(f"bad length: {length} bytes is shorter than any frame", 0, events)
                continue
            header_end = _header_end(buf, length)
            if header_end is None:
                if len(buf) >= 3 + 2 * _MAX_ADDRESS_BYTES or len(buf) > length:
                    self._reject("bad header: an address runs past 4 bytes", 0, events)
                    continue
                return  # the addresses are still arriving
            if len(buf) < header_end + 2:
                return
            if not _crc_ok(buf, 1, header_end):
                self._reject("bad HCS", 0, events)
                continue
            if len(buf) < 1 + length:
                return  # the rest is still arriving (at the end of the stream: truncated)
            if not _crc_ok(buf, 1, length - 1):
                self._reject(self._bad_fcs(length), length, events)
                continue
            events.append(_frame(bytes(buf[1 : 1 + length])))
            del buf[: 1 + length]
            self._quiet = 0
            self._after_frame = True

    def _bad_fcs(self, length: int) -> str:
        """Why the frame at buf[0] failed its FCS: cut short by the next frame, or corrupted."""
        buf = self._buf
        at = 1
        while (at := buf.find(FLAG, at, length)) > 0:
            header_end = _header_end(buf[at:], _length(buf[at:])) if at + 3 <= len(buf) else None
            if (
                is_frame_start(buf, at)
                and header_end is not None
                and at + header_end + 2 <= len(buf)
                and _crc_ok(buf, at + 1, at + header_end)
            ):
                return f"truncated: a new frame began {at - 1} bytes into a {length}-byte frame"
            at += 1
        sent = buf[length - 1] | buf[length] << 8
        computed = crc16_x25(bytes(buf[1 : length - 1]))
        return f"bad FCS: sent {sent:04X}, computed {computed:04X}"

    def _noise(self, count: int, events: list[HdlcEvent]) -> None:
        """The first ``count`` bytes are outside every frame: hand them out, less those inside
        a frame already rejected."""
        if count <= 0:
            return
        swallowed = min(self._quiet, count)
        self._quiet -= swallowed
        if count > swallowed:
            events.append(Noise(bytes(self._buf[swallowed:count])))
        del self._buf[:count]

    def _reject(self, reason: str, length: int, events: list[HdlcEvent]) -> None:
        """The start at buf[0] is no frame: report it (unless it lies inside a frame already
        rejected) and go on scanning from the byte after its flag."""
        if self._quiet == 0:
            events.append(HdlcRejection(reason, length))
            self._quiet = 1 + length
        self._noise(1, events)


def _find_start(buf: bytearray) -> int:
    """Index of the first ``7E A?`` in ``buf``, or -1."""
    at = 0
    while (flag := buf.find(FLAG, at)) >= 0:
        if flag + 1 < len(buf) and buf[flag + 1] & 0xF0 == _FORMAT_TYPE:
            return flag
        at = flag + 1
    return -1


def _length(buf: bytes | bytearray) -> int:
    return (buf[1] & 0x07) << 8 | buf[2]


def _header_end(buf: bytes | bytearray, length: int) -> int | None:
    """Index (in ``buf``, flag at 0) of the HCS: after format, two addresses and control."""
    at = 3
    for _ in range(2):
        for size in range(1, _MAX_ADDRESS_BYTES + 1):
            if at + size > len(buf) or at + size > 1 + length:
                return None
            if buf[at + size - 1] & 0x01:
                at += size
                break
        else:
            return None
    return at + 1  # control byte


def _crc_ok(buf: bytes | bytearray, start: int, end: int) -> bool:
    """The CRC over ``buf[start:end]`` matches the two bytes after it (least significant first)."""
    sent = buf[end] | buf[end + 1] << 8
    return bool(crc16_x25(bytes(buf[start:end])) == sent)


def _frame(body: bytes) -> HdlcFrame:
    """``body`` runs from the format bytes through the FCS."""
    at = 2
    addresses = []
    for _ in range(2):
        end = at
        while not body[end] & 0x01:
            end += 1
        addresses.append(body[at : end + 1])
        at = end + 1
    control = body[at]
    return HdlcFrame(
        information=body[at + 3 : -2],
        segmented=bool(body[0] & _SEGMENTED),
        destination=addresses[0],
        source=addresses[1],
        control=control,
        size_bytes=len(body),
    )


def build_frame(
    information: bytes,
    *,
    destination: bytes = b"\x41",
    source: bytes = b"\x08\x83",
    control: int = 0x13,
    segmented: bool = False,
) -> bytes:
    """A frame with valid HCS and FCS, flags included (for emulators and tests)."""
    length = 2 + len(destination) + len(source) + 1 + 2 + len(information) + 2
    if length > 0x7FF:
        raise ValueError(f"{length} bytes do not fit the 11-bit length field")
    fmt = bytes([_FORMAT_TYPE | (_SEGMENTED if segmented else 0) | length >> 8, length & 0xFF])
    header = fmt + destination + source + bytes([control])
    hcs = crc16_x25(header)
    body = header + hcs.to_bytes(2, "little") + information
    fcs = crc16_x25(body)
    return bytes([FLAG]) + body + fcs.to_bytes(2, "little") + bytes([FLAG])
