"""How to read a meter beyond its protocol: the options a source URL's query (or the site file)
can give every meter parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from loadbalancer.errors import UsageError
from loadbalancer.meter.gcm import SMARTY_AUTH_KEY, parse_key


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """How to read the meter beyond its protocol.

    ``require_crc``: refuse P1 telegrams without a CRC (DSMR 2.2/3 have none: ``crc=optional``).
    ``key``: the meter's AES-128 key (Luxembourg Smarty, encrypted HDLC meters).
    ``auth_key``: the authentication key (AK) of encrypted meters; Luxembourg's fixed one by
    default, other grid operators hand out their own with the key (Danish GPK61).
    ``kamstrup_energy_wh``: Wh per count of a Kamstrup HDLC energy register: 1 in Sweden, 10 in
    Norway (the lists are otherwise identical, so it cannot be told from the data).
    ``kamstrup_current_ma``: mA per count of a Kamstrup HDLC current register: 10 on meters
    connected directly (the default), 1 on meters behind current transformers, whose frames
    look the same (a 250 A CT site read 910 A per phase at the default).
    """

    require_crc: bool = True
    key: bytes | None = field(default=None, repr=False)  # a secret: never in logs
    kamstrup_energy_wh: int = 1
    auth_key: bytes = field(default=SMARTY_AUTH_KEY, repr=False)
    kamstrup_current_ma: int = 10

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
        current = query.get("kamstrup_current_ma", "10")
        if current not in ("10", "1"):
            raise UsageError(
                f"{where}: kamstrup_current_ma={current!r} must be 10 (direct) or 1 (behind "
                "current transformers)"
            )
        return cls(
            require_crc=crc == "strict",
            key=key,
            kamstrup_energy_wh=int(energy),
            auth_key=auth_key,
            kamstrup_current_ma=int(current),
        )
