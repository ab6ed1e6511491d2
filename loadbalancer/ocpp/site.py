"""The site file's OCPP keys: ``protocol: ocpp`` chargers and the site-level ``ocpp:`` section.

A charger ``{name, protocol: ocpp, charge_point_id, phases, max_current_a, priority, profile}``
is one OCPP 1.6J charge point; ``ocpp: {listen, auth, password_file, tls}`` is the central
system it connects to. Nothing here imports the ``ocpp`` or ``websockets`` libraries.

Security: ``auth: basic`` is HTTP Basic with the charge point id as user and the password from
``password_file`` (security profile 1 over ``ws://``; 2 with ``tls``). A central system on an
address other than loopback without authentication is refused: any device on the network could
claim to be a charger. Basic auth without TLS on such an address is a warning (the password
crosses the network in clear: profile 1 is for trusted networks only).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from loadbalancer.control.config import ChargerSpec
from loadbalancer.errors import ConfigError
from loadbalancer.granularity import multiple_of
from loadbalancer.ocpp.profile import OcppProfile, load_ocpp_profile
from loadbalancer.phase_site import PHASE_SWITCH_KEYS

if TYPE_CHECKING:
    from loadbalancer.config import ChargerConfig
    from loadbalancer.control.fuse import FuseProfile

T = TypeVar("T")

OCPP_CHARGER_KEYS = {
    "name", "protocol", "charge_point_id", "phases", "max_current_a", "min_current_a",
    "priority", "profile", "connector_id", *PHASE_SWITCH_KEYS,
}  # fmt: skip
_OCPP = {"listen", "auth", "password_file", "tls"}
_TLS = {"cert_file", "key_file"}
AUTH_MODES = ("basic", "none")
#: what a CALL to a charge point may take before it counts as not answering (boxes on Wi-Fi
#: answer slowly; the library's own default is 30 s)
OCPP_REQUEST_TIMEOUT_S = 10.0
#: what a charge point id may be: it is a path segment of the URL and the Basic auth user
_CP_ID = re.compile(r"[A-Za-z0-9._\-:]{1,48}")
#: the OCPP whitepaper's AuthorizationKey is 16 to 20 bytes (up to 40 hex digits)
MIN_PASSWORD_BYTES = 16
MAX_PASSWORD_BYTES = 40


class SiteReader(Protocol):
    """What the site file's reader (:mod:`loadbalancer.config`) lends this module."""

    warnings: list[str]
    base: Path

    def fail(self, path: str, problem: str) -> ConfigError: ...
    def mapping(
        self, value: object, path: str, allowed: Any, required: Any = ()
    ) -> dict[str, Any]: ...
    def text(self, value: object, path: str) -> str: ...
    def label(self, value: object, path: str) -> str: ...
    def integer(self, value: object, path: str, low: int, high: int) -> int: ...
    def number(
        self, value: object, path: str, low: float | None = None, high: float | None = None
    ) -> float: ...
    def choice(self, value: object, path: str, options: tuple[str, ...], what: str) -> str: ...
    def phases(self, value: object, path: str, fuse: FuseProfile) -> tuple[str, ...]: ...
    def referenced(self, load: Callable[[str], T], ref: str, path: str) -> T: ...


@dataclass(frozen=True, slots=True)
class OcppChargerConfig:
    """One OCPP charge point of the site."""

    name: str
    profile: OcppProfile
    profile_ref: str
    charge_point_id: str
    spec: ChargerSpec
    #: the box's outlet (0: the whole box); two outlets of one box are two chargers
    connector_id: int = 1
    protocol: str = "ocpp"

    @property
    def endpoint(self) -> str:
        return f"OCPP {self.charge_point_id} connector {self.connector_id}"

    @property
    def key(self) -> str:
        """The charger among the central system's: ``CP001/1``."""
        return f"{self.charge_point_id}/{self.connector_id}"


@dataclass(frozen=True, slots=True)
class OcppSite:
    """The central system: where it listens and how charge points prove who they are."""

    host: str
    port: int
    auth: str  # "basic" or "none"
    password: bytes | None = field(default=None, repr=False)
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    @property
    def security_profile(self) -> int:
        """OCPP security profile: 0 none, 1 Basic over ws, 2 Basic over TLS."""
        if self.auth == "none":
            return 0
        return 2 if self.tls_cert_file else 1

    def summary(self) -> str:
        scheme = "wss" if self.tls_cert_file else "ws"
        auth = "Basic auth" if self.auth == "basic" else "no authentication"
        return (
            f"ocpp: central system at {scheme}://{self.host}:{self.port}/<charge point id>, "
            f"{auth}, security profile {self.security_profile}"
        )


def is_ocpp(item: object) -> bool:
    """Whether a ``chargers[]`` entry is an OCPP charge point."""
    return isinstance(item, dict) and item.get("protocol") == "ocpp"


def read_ocpp_charger(
    reader: SiteReader, value: object, path: str, fuse: FuseProfile
) -> OcppChargerConfig:
    raw = reader.mapping(
        value, path, OCPP_CHARGER_KEYS, {"name", "charge_point_id", "profile", "phases"}
    )
    name = reader.label(raw["name"], f"{path}.name")
    cp_id = reader.text(raw["charge_point_id"], f"{path}.charge_point_id")
    if not _CP_ID.fullmatch(cp_id):
        raise reader.fail(
            f"{path}.charge_point_id",
            f"{cp_id[:60]!r}: 1 to 48 letters, digits and . _ - : (it is the URL's last part)",
        )
    ref = reader.text(raw["profile"], f"{path}.profile")
    profile = reader.referenced(load_ocpp_profile, ref, f"{path}.profile")
    connector = reader.integer(
        raw.get("connector_id", profile.charging.connector_id), f"{path}.connector_id", 0, 16
    )
    if (profile.charging.purpose == "ChargePointMaxProfile") != (connector == 0):
        raise reader.fail(
            f"{path}.connector_id", "connector 0 (the whole box) goes with a ChargePointMaxProfile"
        )
    phases = reader.phases(raw["phases"], f"{path}.phases", fuse)
    charging = profile.charging
    max_a = reader.number(
        raw.get("max_current_a", charging.max_current_a), f"{path}.max_current_a", 0, None
    )
    if max_a > min(fuse.rating_a, charging.max_current_a):
        raise reader.fail(
            f"{path}.max_current_a",
            f"{max_a:g} A is above the main fuse's rating ({fuse.rating_a:g} A) or what the "
            f"{profile.name} profile takes ({charging.max_current_a:g} A)",
        )
    min_a = reader.number(
        raw.get("min_current_a", charging.min_current_a), f"{path}.min_current_a", 6, max_a
    )
    if not multiple_of(min_a, charging.step_a):
        raise reader.fail(f"{path}.min_current_a", f"not a multiple of {charging.step_a:g} A")
    try:
        spec = ChargerSpec(
            name=name,
            phases=phases,
            max_current_a=max_a,
            min_current_a=min_a,
            priority=reader.integer(raw.get("priority", 1), f"{path}.priority", -1000, 1000),
            granularity_a=charging.step_a,
            box_max_current_a=charging.max_current_a,
        )
    except ValueError as exc:
        raise reader.fail(path, str(exc)) from None
    if profile.failsafe.mechanism == "none" or not profile.failsafe.semantics_verified:
        reader.warnings.append(
            f"charger {name} ({profile.name}, OCPP): failsafe unverified: {profile.failsafe.note}"
            "; if loadbalancer dies, the box keeps the last limit it was sent (a pause stays a "
            "pause, a high limit stays high) and with no profile it charges unlimited"
        )
    return OcppChargerConfig(name, profile, ref, cp_id, spec, connector)


def endpoint_key(charger: ChargerConfig) -> tuple[str, int, int]:
    """What two chargers of a site may not share: a Modbus box's host, port and unit, an OCPP
    charge point's id."""
    if isinstance(charger, OcppChargerConfig):
        return (f"ocpp {charger.charge_point_id.lower()}", charger.connector_id, 0)
    return (charger.host.lower(), charger.port, charger.unit_id)


def read_site_ocpp(
    reader: SiteReader, top: Mapping[str, Any], chargers: Sequence[ChargerConfig]
) -> OcppSite | None:
    """The ``ocpp:`` section (needed when a charger speaks OCPP), None without one."""
    has_ocpp = any(isinstance(c, OcppChargerConfig) for c in chargers)
    if "ocpp" not in top:
        if has_ocpp:
            raise reader.fail("ocpp", "missing: an OCPP charger needs the central system's keys")
        return None
    if not has_ocpp:
        reader.warnings.append("ocpp: no charger has protocol: ocpp; the section is not used")
    elif not libraries_installed():
        reader.warnings.append(f"ocpp: {MISSING_EXTRA}; run will refuse to start")
    raw = reader.mapping(top["ocpp"], "ocpp", _OCPP, {"listen", "auth"})
    host, port = _listen(reader, raw["listen"])
    auth = reader.choice(raw["auth"], "ocpp.auth", AUTH_MODES, "auth")
    loopback = _is_loopback(host)
    if auth == "none" and not loopback:
        raise reader.fail(
            "ocpp.auth",
            f"none on {host}: any device on the network could pose as a charger; use basic "
            "(with password_file) or listen on 127.0.0.1",
        )
    password = None
    if auth == "basic":
        if "password_file" not in raw:
            raise reader.fail("ocpp.password_file", "missing: auth basic reads its password there")
        password = _password(reader, reader.text(raw["password_file"], "ocpp.password_file"))
    cert = key = None
    if "tls" in raw:
        tls = reader.mapping(raw["tls"], "ocpp.tls", _TLS, _TLS)
        cert = _existing(reader, tls["cert_file"], "ocpp.tls.cert_file")
        key = _existing(reader, tls["key_file"], "ocpp.tls.key_file")
    elif auth == "basic" and not loopback:
        reader.warnings.append(
            f"ocpp: Basic auth over plain ws on {host}: the password crosses the network in "
            "clear (security profile 1: trusted networks only; add tls for profile 2)"
        )
    return OcppSite(host, port, auth, password, cert, key)


#: what is said when the ``ocpp`` extra is missing
MISSING_EXTRA = "the ocpp extra is not installed (pip install 'loadbalancer[ocpp]')"


def libraries_installed() -> bool:
    """Whether the ``ocpp`` and ``websockets`` libraries are there (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("ocpp", "websockets"))


def _listen(reader: SiteReader, value: object) -> tuple[str, int]:
    text = reader.text(value, "ocpp.listen")
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise reader.fail("ocpp.listen", f"{text[:60]!r}: expected HOST:PORT, e.g. 0.0.0.0:8887")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise reader.fail("ocpp.listen", f"{host[:60]!r} is not an IP address") from None
    return host, reader.integer(int(port_text), "ocpp.listen", 0, 65535)


def _is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def _existing(reader: SiteReader, value: object, path: str) -> str:
    text = reader.text(value, path)
    file = reader.base / text
    if not file.is_file():
        raise reader.fail(path, f"{text}: no such file")
    return str(file)


def _password(reader: SiteReader, name: str) -> bytes:
    """The first line of the password file: 16 to 40 bytes; a file others can read warns."""
    path = reader.base / name
    try:
        info = path.stat()
        with path.open("rb") as file:
            line = file.read(4096).splitlines()[0].strip() if info.st_size else b""
    except (OSError, IndexError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else "empty"
        raise reader.fail("ocpp.password_file", f"{name}: {problem}") from None
    if not MIN_PASSWORD_BYTES <= len(line) <= MAX_PASSWORD_BYTES:
        raise reader.fail(
            "ocpp.password_file",
            f"{name}: the password has {len(line)} bytes; OCPP's AuthorizationKey has "
            f"{MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES}",
        )
    if stat.S_ISREG(info.st_mode) and info.st_mode & stat.S_IROTH and os.name == "posix":
        reader.warnings.append(f"ocpp.password_file: {name} can be read by every user (chmod 600)")
    return line
