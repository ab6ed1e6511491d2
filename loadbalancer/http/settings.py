"""The site file's ``http:`` section -> :class:`HttpConfig` (imports no HTTP library).

``listen`` is ``host:port``; a host other than loopback needs a bearer token (``token``, or
``token_file`` holding it), since anyone on the network could otherwise read the site's
state. The rule and the address are told in ``check``.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadbalancer.yamlcheck import YamlReader

HTTP_KEYS = {"listen", "token", "token_file"}
#: a shorter token is guessed too easily
MIN_TOKEN_CHARS = 16
#: the libraries the server needs (the ``http`` extra)
HTTP_LIBRARIES = ("h11", "prometheus_client")


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str
    port: int
    #: the bearer token every request must carry (None: no token, loopback only)
    token: str | None = None
    #: where the token came from, for ``check`` (never the token itself)
    token_source: str | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def summary(self) -> str:
        """One line for ``check``."""
        if self.token is None:
            access = "loopback only, no token"
        else:
            where = "loopback" if self.loopback else "NOT loopback: reachable from the network"
            access = f"{where}, every request needs the bearer token ({self.token_source})"
        return f"http: status page, health and metrics on {self.url} ({access}; read-only)"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_site_http(reader: YamlReader, top: Mapping[str, Any], base: Path) -> HttpConfig | None:
    """The site's ``http:`` section validated (None without one); a relative ``token_file``
    is found in ``base`` (the site file's folder)."""
    if "http" not in top:
        return None
    raw = reader.mapping(top["http"], "http", HTTP_KEYS, {"listen"})
    host, port = _listen(reader, raw["listen"])
    token, source = _token(reader, raw, base)
    if token is None and not is_loopback(host):
        raise reader.fail(
            "http.listen",
            f"{host} is not a loopback address: anyone on the network could read the status; "
            "set http.token or http.token_file (a bearer token), or listen on 127.0.0.1",
        )
    missing = [name for name in HTTP_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        raise reader.fail(
            "http",
            f"needs {', '.join(missing)}, which is not installed: pip install 'loadbalancer[http]'",
        )
    return HttpConfig(host, port, token, source)


def _listen(reader: YamlReader, value: object) -> tuple[str, int]:
    text = reader.text(value, "http.listen")
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit():
        raise reader.fail("http.listen", f"{text!r} is not host:port (e.g. 127.0.0.1:8080)")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise reader.fail(
                "http.listen", f"{host!r} is not an IP address (or localhost)"
            ) from None
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise reader.fail("http.listen", f"port {port} is out of range (1..65535)")
    return host, port


def _token(reader: YamlReader, raw: Mapping[str, Any], base: Path) -> tuple[str | None, str | None]:
    if "token" in raw and "token_file" in raw:
        raise reader.fail("http", "give token or token_file, not both")
    if "token" in raw:
        token, source = reader.text(raw["token"], "http.token"), "http.token"
    elif "token_file" in raw:
        path = base / reader.text(raw["token_file"], "http.token_file")
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise reader.fail("http.token_file", f"{path}: cannot read it ({exc})") from None
        source = f"from {path}"
    else:
        return None, None
    key = "http.token" if "token" in raw else "http.token_file"
    if len(token) < MIN_TOKEN_CHARS or not (token.isascii() and token.isprintable()):
        raise reader.fail(
            key, f"the token must be at least {MIN_TOKEN_CHARS} printable ASCII characters"
        )
    if any(c.isspace() for c in token):
        raise reader.fail(key, "the token must hold no spaces")
    return token, source
