"""DLMS general-glo-ciphering (AES-128-GCM), as the Luxembourg Smarty P1 port and encrypted HDLC
meters send it. Pure functions over bytes.

An APDU is ``DB 08 <system title> <A-XDR length> <security control> <frame counter 4B>
<ciphertext> <tag 12B>``; IV = system title ‖ frame counter, AAD = security control ‖ AK. The
authentication key AK is fixed in the Luxembourg specification; the encryption key is per meter.
"""

from __future__ import annotations

from loadbalancer.errors import DecodeError
from loadbalancer.meter.cosem import read_length

GLO_CIPHERING = 0xDB
#: The authentication key of the Luxembourg Smarty specification (the same for every meter).
SMARTY_AUTH_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
SYSTEM_TITLE_BYTES = 8
TAG_BYTES = 12
#: security control: authenticated and encrypted, suite 0
_AUTH_ENCRYPTED = 0x30


def parse_key(text: str, what: str = "key") -> bytes:
    """32 hex digits -> 16 bytes; ``ValueError`` saying what is wrong otherwise."""
    cleaned = text.strip().replace(" ", "").replace(":", "")
    if len(cleaned) != 32 or any(c not in "0123456789abcdefABCDEF" for c in cleaned):
        raise ValueError(f"{what} must be 32 hex digits (AES-128), got {len(cleaned)} characters")
    return bytes.fromhex(cleaned)


def glo_ciphering_size(data: bytes | bytearray, at: int = 0) -> int | None:
    """Total size of the APDU starting at ``at`` once its header has arrived, else None;
    0 when its length field is no A-XDR length (then it is no such APDU)."""
    header = at + 2 + SYSTEM_TITLE_BYTES
    if len(data) < header + 1:
        return None
    first = data[header]
    size_bytes = 1 if first < 0x80 else 1 + (first & 0x7F)
    if not 1 <= size_bytes <= 5 or first == 0x80:
        return 0
    if len(data) < header + size_bytes:
        return None
    length, body = read_length(bytes(data[header : header + size_bytes]), 0)
    return header - at + body + length


def decrypt_glo_ciphering(apdu: bytes, key: bytes, auth_key: bytes = SMARTY_AUTH_KEY) -> bytes:
    """The plaintext of a general-glo-ciphering APDU; :class:`DecodeError` if it does not
    authenticate (wrong key or corrupted) or is not one."""
    if len(apdu) < 2 + SYSTEM_TITLE_BYTES + 1 or apdu[0] != GLO_CIPHERING:
        raise DecodeError("undecodable: not a general-glo-ciphering APDU")
    if apdu[1] != SYSTEM_TITLE_BYTES:
        raise DecodeError(f"undecodable: system title of {apdu[1]} bytes, expected 8")
    title = apdu[2 : 2 + SYSTEM_TITLE_BYTES]
    length, at = read_length(apdu, 2 + SYSTEM_TITLE_BYTES)
    body = apdu[at : at + length]
    if len(body) != length or length < 5 + TAG_BYTES:
        raise DecodeError(f"truncated: {len(body)} of {length} encrypted bytes")
    control, counter = body[0], body[1:5]
    if control != _AUTH_ENCRYPTED:
        raise DecodeError(f"undecodable: security control 0x{control:02X} is not supported")
    # imported here: only encrypted meters pay for loading the cryptography library
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    ciphertext, tag = body[5:-TAG_BYTES], body[-TAG_BYTES:]
    # DLMS tags are 12 bytes: the one-shot AESGCM API only takes 16, so the streaming one.
    decryptor = Cipher(
        algorithms.AES(key), modes.GCM(title + counter, tag, min_tag_length=TAG_BYTES)
    ).decryptor()
    decryptor.authenticate_additional_data(bytes([control]) + auth_key)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag as exc:
        raise DecodeError("authentication failed: wrong key, or the frame was corrupted") from exc
