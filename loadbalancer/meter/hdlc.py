"""HDLC frames as HAN meters send them (IEC 62056-46 "type 3"): bytes in, frames out. No I/O.

A frame is ``7E | A? LL | dst | src | ctrl | HCS | information | FCS | 7E``. The 11-bit length in
the two format bytes counts everything between the flags. HAN meters do not byte-stuff, so
0x7E and 0x7D appear raw inside frames: frames are cut by their length, never by searching for
the next flag (docs/meters.md §HDLC / DLMS meters). HCS (over format..control) and FCS (over
format..information) are CRC-16/X-25, sent least significant byte first. Two frames may share
one flag (``7E frame 7E frame 7E``).

Resynchronisation: a start (``7E A?``) with a bad length, header or HCS, and a frame whose FCS
does not match, are rejected once, and scanning resumes one byte after the flag, so a truncated
frame never swallows the next good one (its rejection then says it was cut short). Starts found
inside a frame already rejected are not reported again. Bytes outside frames are handed out as
:class:`Noise`: P1 text in a mixed stream, or garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import crcmod.predefined

#: CRC-16/X-25: poly 0x1021 reflected, init 0xFFFF, xorout 0xFFFF (check "123456789" -> 0x906E).
#: (crcmod's ``initCrc`` is the register value already XORed with ``xorOut``, so a hand-made
#: ``mkCrcFun(0x11021, initCrc=0xFFFF, rev=True, xorOut=0xFFFF)`` would be a different CRC.)
crc16_x25 = crcmod.predefined.mkPredefinedCrcFun("x-25")

FLAG = 0x7E
_START = re.compile(rb"\x7e[\xa0-\xaf]")  # a flag and a type-3 format byte
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

    A frame still arriving is given up as soon as a whole frame (good HCS and FCS) lies inside
    it: it was cut short, and the frame inside is not kept waiting for bytes its length field
    claims. Each start's FCS is computed at most once (``_fcs``), so nested starts cost one
    CRC pass each, however often they are looked at.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream position of buf[0]
        self._after_frame = False  # buf[0] may be the closing flag of the frame just read
        self._quiet = 0  # bytes at the front of buf that lie inside an already rejected frame
        self._fcs: dict[int, int] = {}  # stream position of a start -> its computed FCS
        self._fcs_limit = 64
        self._probed = 0  # stream position up to which starts inside the frame were probed
        self._waiting: list[int] = []  # inner starts with a good HCS, their frame not complete

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
            whole = f"a {_length(buf, 0)}-byte frame" if len(buf) >= 3 else "a frame"
            events.append(
                HdlcRejection(f"truncated: the stream ended {size} bytes into {whole}", size)
            )
        elif buf:
            self._noise(len(buf), events)
        self._cut(len(buf))
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
                    self._cut(1)  # the closing flag
                    self._after_frame = False
                    continue
            self._after_frame = False
            start = _find_start(buf, 0)
            if start < 0:
                keep = 1 if buf[-1] == FLAG and not at_eof else 0  # may start a frame
                self._noise(len(buf) - keep, events)
                return
            if start:
                self._noise(start, events)
            # buf[0] is a flag, buf[1] a type-3 format byte
            if len(buf) < 3:
                return
            length = _length(buf, 0)
            verdict = _header(buf, 0, length)
            if verdict is None:
                return  # the addresses or the HCS are still arriving
            if verdict:
                self._reject(verdict, 0, events)
                continue
            if len(buf) < 1 + length:
                if at_eof:
                    size = len(buf) - 1
                    reason = f"truncated: the stream ended {size} bytes into a {length}-byte frame"
                    self._reject(reason, length, events, size)
                    continue
                if self._whole_frame_inside(length) is None:
                    return  # the rest is still arriving
                self._reject(self._bad_fcs(length, None, None), length, events)
                continue
            sent = buf[length - 1] | buf[length] << 8
            computed = self._fcs_at(0, length)
            if computed != sent:
                self._reject(self._bad_fcs(length, sent, computed), length, events)
                continue
            events.append(_frame(bytes(buf[1 : 1 + length])))
            self._cut(1 + length)
            self._quiet = 0
            self._after_frame = True

    def _fcs_at(self, at: int, length: int) -> int:
        """The FCS computed over the frame starting at buf[at] (once per start)."""
        key = self._base + at
        computed = self._fcs.get(key)
        if computed is None:
            computed = crc16_x25(bytes(self._buf[at + 1 : at + length - 1]))
            self._fcs[key] = computed
        return computed

    def _whole_frame_inside(self, length: int) -> int | None:
        """Where (offset in buf) a frame with good HCS and FCS lies whole inside the frame at
        buf[0] that is still arriving, or None. Each inner start is probed once; those whose
        own frame is still arriving are looked at again when it is complete."""
        buf = self._buf
        base = self._base
        waiting = [p for p in self._waiting if p > base]
        at = max(1, self._probed - base)
        while (at := buf.find(FLAG, at, length)) > 0:
            if at + 3 > len(buf):
                break
            inner = _length(buf, at)
            verdict = _header(buf, at, inner) if is_frame_start(buf, at) else "no start"
            if verdict is None:
                break  # its header is still arriving
            if not verdict:
                waiting.append(base + at)
            at += 1
        self._probed = base + (at if at > 0 else min(len(buf), length))
        found = None
        still = []
        for position in waiting:
            at = position - base
            inner = _length(buf, at)
            if at + 1 + inner > len(buf):
                still.append(position)
            elif self._fcs_at(at, inner) == buf[at + inner - 1] | buf[at + inner] << 8:
                still.append(position)  # kept: it is whole inside the next start too
                found = at if found is None else found
        self._waiting = still
        return found

    def _bad_fcs(self, length: int, sent: int | None, computed: int | None) -> str:
        """Why the frame at buf[0] failed its FCS (or is given up): cut short by the next
        frame, or corrupted."""
        buf = self._buf
        at = 1
        while (at := buf.find(FLAG, at, length)) > 0:
            started = at + 3 <= len(buf) and is_frame_start(buf, at)
            if started and _header(buf, at, _length(buf, at)) == "":
                return _cut_short(at, length)
            at += 1
        return f"bad FCS: sent {sent or 0:04X}, computed {computed or 0:04X}"

    def _cut(self, count: int) -> None:
        """Drop the first ``count`` bytes of the buffer."""
        del self._buf[:count]
        self._base += count
        if len(self._fcs) > self._fcs_limit:  # forget starts already behind (amortised)
            self._fcs = {k: v for k, v in self._fcs.items() if k >= self._base}
            self._fcs_limit = max(64, 2 * len(self._fcs))

    def _noise(self, count: int, events: list[HdlcEvent]) -> None:
        """The first ``count`` bytes are outside every frame: hand them out, less those inside
        a frame already rejected."""
        if count <= 0:
            return
        swallowed = min(self._quiet, count)
        self._quiet -= swallowed
        if count > swallowed:
            events.append(Noise(bytes(self._buf[swallowed:count])))
        self._cut(count)

    def _reject(
        self, reason: str, length: int, events: list[HdlcEvent], size: int | None = None
    ) -> None:
        """The start at buf[0] is no frame: report it (unless it lies inside a frame already
        rejected) and go on scanning from the byte after its flag."""
        if self._quiet == 0:
            events.append(HdlcRejection(reason, length if size is None else size))
            self._quiet = 1 + length
        self._noise(1, events)


def _cut_short(at: int, length: int) -> str:
    return f"truncated: a new frame began {at - 1} bytes into a {length}-byte frame"


def _find_start(buf: bytearray, at: int) -> int:
    """Index of the first ``7E A?`` in ``buf`` from ``at``, or -1 (one C-level scan: a run of
    flags costs no Python loop)."""
    found = _START.search(buf, at)
    return -1 if found is None else found.start()


def _length(buf: bytes | bytearray, at: int) -> int:
    """The length field of the frame whose opening flag is buf[at]."""
    return (buf[at + 1] & 0x07) << 8 | buf[at + 2]


def _header(buf: bytes | bytearray, at: int, length: int) -> str | None:
    """Judge the header of the frame at buf[at] (a flag and a type-3 format byte, length
    known): "" if length, addresses and HCS are good, else why not; None while it is still
    arriving."""
    if length < MIN_FRAME_BYTES:
        return f"bad length: {length} bytes is shorter than any frame"
    header_end = _header_end(buf, at, length)
    if header_end is None:
        if len(buf) - at >= 3 + 2 * _MAX_ADDRESS_BYTES or len(buf) - at > length:
            return "bad header: an address runs past 4 bytes"
        return None
    if len(buf) < header_end + 2:
        return None
    return "" if _crc_ok(buf, at + 1, header_end) else "bad HCS"


def _header_end(buf: bytes | bytearray, flag: int, length: int) -> int | None:
    """Index of the HCS of the frame at buf[flag]: after format, two addresses and control."""
    at = flag + 3
    end = flag + 1 + length
    for _ in range(2):
        for size in range(1, _MAX_ADDRESS_BYTES + 1):
            if at + size > len(buf) or at + size > end:
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
