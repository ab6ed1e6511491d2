"""The binary captures in tests/fixtures/telegrams (``*.hex``: hex text, one frame each)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TELEGRAMS

HEX_FILES = sorted(p.name for p in TELEGRAMS.glob("*.hex"))
#: captures that must not give a reading, with the reason each must give (protocol dlms)
HDLC_REJECTED = {
    "at_lg_e450_encrypted_01.hex": "encrypted",
    "dk_kamstrup_encrypted_01.hex": "encrypted",
    "no_kamstrup_hdlc_badcrc_01.hex": "bad FCS: sent 3451, computed 3551",
    "se_aidon_hdlc_04_truncated.hex": "truncated: the stream ended 511 bytes into a 579-byte",
    "se_kaifa_hdlc_badcrc_01.hex": "bad FCS: sent 54BB, computed 54BC",
    "se_kamstrup_hdlc_03_wrongparity.hex": "unreadable: 157 bytes between flags",
}
#: the Smarty frame is no HDLC frame: a raw GCM APDU around a P1 telegram
SMARTY_FILE = "lu_smarty_encrypted_01.gcm.hex"
SMARTY_KEY = "D491470F47126332B07D1923B3504188"
HDLC_VALID = [n for n in HEX_FILES if n not in HDLC_REJECTED and n != SMARTY_FILE]


def hex_fixture(name: str) -> bytes:
    return bytes.fromhex("".join((TELEGRAMS / name).read_text().split()))


def binary_capture(directory: Path, names: list[str], file_name: str = "capture.bin") -> Path:
    """The captures as one binary file, back to back, as a serial capture would hold them."""
    path = directory / file_name
    path.write_bytes(b"".join(hex_fixture(n) for n in names))
    return path
