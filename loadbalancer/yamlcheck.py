"""Reading YAML that people write: parse errors and every type or range problem become a
:class:`ConfigError` naming the file and the key path (``site.yaml: chargers[0].phases[1]:
unknown phase 'L4'``). Used by the site file, fuse profiles and charger profiles alike.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import yaml

from loadbalancer.errors import ConfigError


def parse_yaml(text: str, file: str) -> object:
    """``yaml.safe_load`` with a one-line error naming the file and line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(file, "", f"not valid YAML: {where}{problem}") from exc


def read_yaml_file(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    return parse_yaml(text, str(path))


def join(path: str, key: str) -> str:
    """``join("chargers[0]", "phases")`` -> ``"chargers[0].phases"``."""
    return f"{path}.{key}" if path else key


def kind_of(value: object) -> str:
    """How a value is named in an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class YamlReader:
    """Typed accessors over a YAML tree; each takes the key path so errors say where."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, path: str, problem: str) -> ConfigError:
        return ConfigError(self.file, path, problem)

    def mapping(
        self, value: object, path: str, allowed: Collection[str], required: Collection[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {kind_of(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise self.fail(
                    join(path, str(key)), f"unknown key (known: {', '.join(sorted(allowed))})"
                )
        for key in sorted(required):
            if key not in value:
                raise self.fail(join(path, key), "missing")
        return cast(dict[str, Any], value)

    def items(self, value: object, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {kind_of(value)}")
        return value

    def text(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected text, got {kind_of(value)}")
        return value

    def texts(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of text, got {kind_of(value)}")
        return tuple(self.text(item, f"{path}[{i}]") for i, item in enumerate(value))

    def integer(self, value: object, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected a whole number, got {kind_of(value)}")
        if not low <= value <= high:
            raise self.fail(path, f"{value} is out of range ({low}..{high})")
        return value

    def number(
        self, value: object, path: str, low: float | None = None, high: float | None = None
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {kind_of(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"
            raise self.fail(path, f"{value:g} is out of range ({span})")
        return float(value)

    def flag(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {kind_of(value)}")
        return value

    def choice(self, value: object, path: str, options: tuple[str, ...], what: str) -> str:
        if not isinstance(value, str) or value not in options:
            raise self.fail(path, f"unknown {what} {value!r} (one of: {', '.join(options)})")
        return value
