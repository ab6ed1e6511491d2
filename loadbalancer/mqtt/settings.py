"""The site file's ``mqtt:`` section -> :class:`MqttConfig` (imports no MQTT library).

``url`` is ``mqtt://host[:port]`` (plain, 1883) or ``mqtts://host[:port]`` (TLS, 8883, the
broker's certificate verified against the system's CAs or ``tls.ca_file``). The password is
read from ``password_file`` and never shown: ``check`` names the file. ``commands`` lists the
settings Home Assistant may change (none by default), each within the site file's own bounds.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loadbalancer.yamlcheck import YamlReader

if TYPE_CHECKING:
    from loadbalancer.config import ChargerConfig

MQTT_KEYS = {
    "url",
    "base_topic",
    "username",
    "password_file",
    "tls",
    "client_id",
    "discovery_prefix",
    "commands",
    "persist",
    "state_dir",
    "keepalive_s",
    "password",  # refused with a pointer to password_file
}
#: the settings a command may change (``mqtt.commands``)
COMMANDS: tuple[str, ...] = ("budget_kw", "max_current_a", "pause")
#: the library the client needs (the ``mqtt`` extra)
MQTT_LIBRARY = "aiomqtt"
#: where persisted commands are kept (systemd: StateDirectory=loadbalancer), as the tariff's
DEFAULT_STATE_DIR = "/var/lib/loadbalancer"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
#: a name in a topic: what is left is replaced by ``_`` (``+``, ``#`` and ``/`` mean things)
_TOPIC_SAFE = re.compile(r"[^a-z0-9_-]+")
_TOPIC_TEXT = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int
    tls: bool
    base_topic: str
    client_id: str
    username: str | None = None
    #: read from ``password_file`` (never logged, never shown by ``check``)
    password: str | None = field(default=None, repr=False)
    password_file: str | None = None
    #: a CA bundle for the broker's certificate (None: the system's)
    ca_file: str | None = None
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    commands: tuple[str, ...] = ()
    persist: bool = False
    state_dir: str = DEFAULT_STATE_DIR
    keepalive_s: int = 30
    #: per charger (site order) the name used in its topics
    charger_ids: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def summary(self) -> str:
        """One line for ``check`` (the password's file, never the password)."""
        login = "no login"
        if self.username is not None:
            login = f"user {self.username}"
            login += f", password from {self.password_file}" if self.password_file else ""
        tls = "TLS, certificate verified" if self.tls else "no TLS"
        commands = ", ".join(self.commands) if self.commands else "none (read-only)"
        kept = " (kept across restarts)" if self.persist and self.commands else ""
        return (
            f"mqtt: {self.url} ({tls}; {login}), state under {self.base_topic}/, Home Assistant "
            f"discovery under {self.discovery_prefix}/; commands: {commands}{kept}"
        )


def topic_id(name: str) -> str:
    """``name`` as one level of a topic (and a Home Assistant object id)."""
    return _TOPIC_SAFE.sub("_", name.lower()).strip("_") or "_"


def read_site_mqtt(
    reader: YamlReader,
    top: Mapping[str, Any],
    base: Path,
    chargers: Sequence[ChargerConfig],
    has_tariff: bool,
    warnings: list[str],
) -> MqttConfig | None:
    """The site's ``mqtt:`` section validated (None without one); a relative
    ``password_file`` or ``tls.ca_file`` is found in ``base`` (the site file's folder)."""
    if "mqtt" not in top:
        return None
    raw = reader.mapping(top["mqtt"], "mqtt", MQTT_KEYS, {"url"})
    host, port, tls = _url(reader, raw["url"])
    site_id = topic_id(Path(reader.file).stem)
    base_topic = _topic(reader, raw.get("base_topic", f"loadbalancer/{site_id}"), "base_topic")
    prefix = raw.get("discovery_prefix", DEFAULT_DISCOVERY_PREFIX)
    username = None if "username" not in raw else reader.text(raw["username"], "mqtt.username")
    password, password_file = _password(reader, raw, base, username)
    ca_file = _ca_file(reader, raw.get("tls"), base, tls)
    if password is not None and not tls and host not in {"127.0.0.1", "::1", "localhost"}:
        warnings.append(f"mqtt: the password goes to {host} without TLS (in clear): use mqtts://")
    commands = _commands(reader, raw.get("commands", []), has_tariff)
    if importlib.util.find_spec(MQTT_LIBRARY) is None:
        raise reader.fail(
            "mqtt",
            f"needs {MQTT_LIBRARY}, which is not installed: pip install 'loadbalancer[mqtt]'",
        )
    return MqttConfig(
        host=host,
        port=port,
        tls=tls,
        base_topic=base_topic,
        client_id=reader.text(raw.get("client_id", f"loadbalancer-{site_id}"), "mqtt.client_id"),
        username=username,
        password=password,
        password_file=password_file,
        ca_file=ca_file,
        discovery_prefix=_topic(reader, prefix, "discovery_prefix"),
        commands=commands,
        persist=reader.flag(raw.get("persist", False), "mqtt.persist"),
        state_dir=reader.text(raw.get("state_dir", DEFAULT_STATE_DIR), "mqtt.state_dir"),
        keepalive_s=reader.integer(raw.get("keepalive_s", 30), "mqtt.keepalive_s", 5, 3600),
        charger_ids=_charger_ids(reader, chargers),
    )


def _url(reader: YamlReader, value: object) -> tuple[str, int, bool]:
    text = reader.text(value, "mqtt.url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise reader.fail("mqtt.url", f"{text!r}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise reader.fail("mqtt.url", f"{text!r} is not mqtt://host[:port] or mqtts://host[:port]")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise reader.fail(
            "mqtt.url",
            "only the scheme, host and port go here: mqtt.username and mqtt.password_file "
            "for the login, mqtt.base_topic for the topics",
        )
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


def _topic(reader: YamlReader, value: object, key: str) -> str:
    text = reader.text(value, f"mqtt.{key}")
    if not _TOPIC_TEXT.match(text):
        raise reader.fail(
            f"mqtt.{key}",
            f"{text!r}: levels of letters, digits, _ and - separated by / (no wildcards, no "
            "leading or trailing /)",
        )
    return text


def _password(
    reader: YamlReader, raw: Mapping[str, Any], base: Path, username: str | None
) -> tuple[str | None, str | None]:
    if "password" in raw:
        raise reader.fail("mqtt.password", "put the password in a file: mqtt.password_file")
    if "password_file" not in raw:
        return None, None
    if username is None:
        raise reader.fail("mqtt.password_file", "a password needs mqtt.username")
    path = base / reader.text(raw["password_file"], "mqtt.password_file")
    try:
        password = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise reader.fail("mqtt.password_file", f"{path}: cannot read it ({why})") from None
    if not password or "\n" in password:
        raise reader.fail("mqtt.password_file", f"{path}: expected the password on one line")
    return password, str(path)


def _ca_file(reader: YamlReader, value: object, base: Path, tls: bool) -> str | None:
    if value is None:
        return None
    raw = reader.mapping(value, "mqtt.tls", {"ca_file"})
    if not tls:
        raise reader.fail("mqtt.tls", "TLS settings need an mqtts:// url")
    if "ca_file" not in raw:
        return None
    path = base / reader.text(raw["ca_file"], "mqtt.tls.ca_file")
    if not path.is_file():
        raise reader.fail("mqtt.tls.ca_file", f"{path}: no such file")
    return str(path)


def _commands(reader: YamlReader, value: object, has_tariff: bool) -> tuple[str, ...]:
    names = reader.texts(value, "mqtt.commands")
    for i, name in enumerate(names):
        reader.choice(name, f"mqtt.commands[{i}]", COMMANDS, "command")
        if name == "budget_kw" and not has_tariff:
            raise reader.fail(
                f"mqtt.commands[{i}]", "budget_kw needs a capacity tariff (the tariff: section)"
            )
    if len(set(names)) != len(names):
        raise reader.fail("mqtt.commands", "a command is named twice")
    return names


def _charger_ids(reader: YamlReader, chargers: Sequence[ChargerConfig]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for i, charger in enumerate(chargers):
        slug = topic_id(charger.name)
        if slug in ids.values():
            raise reader.fail(
                f"chargers[{i}].name",
                f"{charger.name!r} gives the same MQTT topic ({slug}) as another charger",
            )
        ids[charger.name] = slug
    return ids
