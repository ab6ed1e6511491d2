"""Encrypted P1 (Luxembourg Smarty): AES-128-GCM frames around ordinary P1 telegrams. No I/O.

Each frame is a general-glo-ciphering APDU (``DB 08 <system title> 82 LL LL 30 <frame counter>
<ciphertext> <12-byte tag>``, see :mod:`loadbalancer.meter.gcm`) whose plaintext is a complete P1
telegram with its CRC. :class:`SmartyParser` takes them out of the byte stream, decrypts them with
the meter's key and hands the plaintext to a P1 parser; bytes outside such frames (a meter that
sends plain P1) go to the P1 parser unchanged. 0xDB never occurs in P1 text, so nothing a plain
meter sends is mistaken for a frame.
"""

from __future__ import annotations

from loadbalancer.errors import DecodeError
from loadbalancer.meter.gcm import (
    GLO_CIPHERING,
    SMARTY_AUTH_KEY,
    SYSTEM_TITLE_BYTES,
    TAG_BYTES,
    decrypt_glo_ciphering,
    glo_ciphering_size,
)
from loadbalancer.meter.reading import MeterEvent, MeterParser, Rejection

#: Smarty frames are ~650 bytes; a length field above this is no frame.
MAX_FRAME_BYTES = 8192
_START = bytes([GLO_CIPHERING, SYSTEM_TITLE_BYTES])
_HEADER = "encrypted P1 (system title {})"


class SmartyParser:
    """A P1 parser behind a GCM decryptor, with the same ``feed``/``close`` interface."""

    def __init__(
        self, inner: MeterParser, key: bytes | None = None, auth_key: bytes = SMARTY_AUTH_KEY
    ) -> None:
        self.inner = inner
        self.key = key
        self.auth_key = auth_key
        self._buf = bytearray()

    @property
    def skipped_bytes(self) -> int:
        return self.inner.skipped_bytes

    def feed(self, chunk: bytes, received_s: float) -> list[MeterEvent]:
        self._buf += chunk
        return self._drain(received_s, at_eof=False)

    def close(self, received_s: float) -> list[MeterEvent]:
        events = self._drain(received_s, at_eof=True)
        if self._buf:
            size = len(self._buf)
            title = bytes(self._buf[2 : 2 + SYSTEM_TITLE_BYTES])
            self._buf.clear()
            events.append(
                Rejection(
                    received_s,
                    f"truncated: the stream ended {size} bytes into an encrypted frame",
                    size,
                    _HEADER.format(_title(title)),
                )
            )
        return events + self.inner.close(received_s)

    def _drain(self, received_s: float, *, at_eof: bool) -> list[MeterEvent]:
        events: list[MeterEvent] = []
        buf = self._buf
        while buf:
            start = buf.find(_START)
            if start < 0:
                # keep a trailing 0xDB: it may start a frame once the next byte is here
                keep = 1 if buf[-1] == GLO_CIPHERING and not at_eof else 0
                events += self._plain(len(buf) - keep, received_s)
                break
            if start:
                events += self._plain(start, received_s)
            size = glo_ciphering_size(buf)
            if size is None:
                break  # the header is still arriving (at the end: close() reports it)
            if not _plausible(size):
                # not a frame after all: 0xDB is noise, and so is every start after it up to
                # one that may be a frame; handed on in one piece (a run of them is linear)
                after = buf.find(_START, 1)
                while after > 0 and (following := glo_ciphering_size(buf, after)) is not None:
                    if _plausible(following):
                        break
                    after = buf.find(_START, after + 1)
                if after < 0:
                    after = len(buf) - (1 if buf[-1] == GLO_CIPHERING and not at_eof else 0)
                events += self._plain(after, received_s)
                continue
            if len(buf) < size:
                break
            apdu = bytes(buf[:size])
            del buf[:size]
            events += self._frame(apdu, received_s)
        return events

    def _plain(self, count: int, received_s: float) -> list[MeterEvent]:
        if count <= 0:
            return []
        data = bytes(self._buf[:count])
        del self._buf[:count]
        return self.inner.feed(data, received_s)

    def _frame(self, apdu: bytes, received_s: float) -> list[MeterEvent]:
        header = _HEADER.format(_title(apdu[2 : 2 + SYSTEM_TITLE_BYTES]))
        if self.key is None:
            reason = (
                "encrypted P1 (Luxembourg Smarty): the meter's key is needed "
                "(meter.key in the site file, key= in the source URL, --key)"
            )
            return [Rejection(received_s, reason, len(apdu), header)]
        try:
            plaintext = decrypt_glo_ciphering(apdu, self.key, self.auth_key)
        except DecodeError as exc:
            return [Rejection(received_s, str(exc), len(apdu), header)]
        # the plaintext is one whole telegram: no bytes of it may wait for the next chunk
        return self.inner.feed(plaintext, received_s)


def _plausible(size: int) -> bool:
    """A glo-ciphering APDU of this total size may be a Smarty frame."""
    return 2 + SYSTEM_TITLE_BYTES + 5 + TAG_BYTES < size <= MAX_FRAME_BYTES


def _title(raw: bytes) -> str:
    """A system title for people: its printable maker code and the serial in hex."""
    maker = raw[:3].decode("latin-1") if raw[:3].isascii() and raw[:3].isalpha() else raw[:3].hex()
    return maker + raw[3:].hex().upper()
