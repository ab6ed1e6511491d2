"""Text from outside (meter data, file names and keys from site files) made safe to print.

A terminal obeys the control characters in what it prints: an escape sequence in a meter's
header or a site file's key could clear the screen, move the cursor or hide a line. Each such
character is shown as a Python-style escape instead, and long text is cut.
"""

from __future__ import annotations

import unicodedata


def printable(text: str, limit: int | None = None) -> str:
    """``text`` with control and format characters escaped (``\\x1b``, ``\\u202e``), cut to
    ``limit`` characters with ``…`` if longer."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    if text.isprintable():
        return text
    return "".join(_escape(char) if _is_control(char) else char for char in text)


def _is_control(char: str) -> bool:
    return unicodedata.category(char).startswith("C")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
