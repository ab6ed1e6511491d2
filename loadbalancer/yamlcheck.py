"""Reading YAML that people write: parse errors and every type or range problem become a
:class:`ConfigError` naming the file and the key path (``site.yaml: chargers[0].phases[1]:
unknown phase 'L4'``). Used by the site file, fuse profiles and charger profiles alike.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from loadbalancer.errors import ConfigError
from loadbalancer.printable import printable

#: site files and profiles are a few KB (the largest bundled one 5 KB); anything larger is
#: refused before it is parsed (PyYAML takes half a second for the slowest 32 KB)
MAX_FILE_BYTES = 32 * 1024
#: the deepest nesting a site file or profile may have (they need 5)
MAX_DEPTH = 32
#: the most values a document may stand for once its aliases are expanded
MAX_NODES = 100_000
#: integers with more digits than this are left as text (and then refused where a number goes)
MAX_INTEGER_DIGITS = 18
#: numbers beyond this size are refused: no setting is anywhere near it
MAX_MAGNITUDE = 1e15


_MERGE = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader made strict for hand-written files: a bounded depth (no
    RecursionError), no duplicate keys, and no YAML 1.1 base-60 numbers (``1:30`` stays the text
    it looks like instead of becoming 90). :func:`parse_yaml` bounds what aliases expand to."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                mark = event.start_mark
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # a date like 2024-13-45, !!float abc
            raise ConstructorError(None, None, str(exc), node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                continue  # a complex key (refused unless hashable) or a << merge
            key = self.construct_object(key_node)
            if key in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {_shown(key)} (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return cast(dict[Any, Any], super().construct_mapping(node, deep))

    def int_or_text(self, node: ScalarNode) -> int | str:
        text = str(node.value)
        if ":" in text or len(text.replace("_", "")) > MAX_INTEGER_DIGITS:
            return text  # base 60 or absurdly long: text, refused where a number is expected
        return self.construct_yaml_int(node)

    def float_or_text(self, node: ScalarNode) -> float | str:
        text = str(node.value)
        if ":" in text:
            return text
        return self.construct_yaml_float(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.int_or_text)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.float_or_text)


def parse_yaml(text: str, file: str) -> object:
    """Parse one hand-written YAML document with a one-line error naming the file and line."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(file, "", f"not valid YAML: {where}{problem}") from None
    finally:
        loader.dispose()


def _check_expansion(root: Node) -> None:
    """Refuse a document whose aliases (``*name``) expand it beyond :data:`MAX_NODES` nodes or
    :data:`MAX_DEPTH` levels, or into a loop: an alias bomb is a few lines that stand for
    billions of nodes, harmless until something prints or walks them. Linear: each node is
    measured once."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if not children_done:
            if id(node) in size:
                continue
            if id(node) in visiting:
                raise ComposerError(None, None, "an alias refers to itself", node.start_mark)
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
            continue
        visiting.discard(id(node))
        size[id(node)] = 1 + sum(size[id(child)] for child in children)
        depth[id(node)] = 1 + max((depth[id(child)] for child in children), default=0)
        if size[id(node)] > MAX_NODES:
            problem = f"its aliases expand to more than {MAX_NODES} values"
            raise ComposerError(None, None, problem, node.start_mark)
        if depth[id(node)] > MAX_DEPTH:
            problem = f"its aliases nest it more than {MAX_DEPTH} deep"
            raise ComposerError(None, None, problem, node.start_mark)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_text_file(path: Path, what: str = "file") -> str:
    """A small UTF-8 regular file's text. Devices, FIFOs, directories and files over
    :data:`MAX_FILE_BYTES` are refused before anything is read (``/dev/zero`` would never end,
    a FIFO would block); errors never quote the file's content."""
    file = str(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(file, "", f"not a regular file: a {what} must be a plain file")
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(file, "", _too_large(what))
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(MAX_FILE_BYTES + 1)  # the size may change or lie (/proc)
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(file, "", _too_large(what))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text (byte {exc.start} is not)") from None


def _too_large(what: str) -> str:
    return f"larger than {MAX_FILE_BYTES // 1024} KB: not a {what}"


def read_yaml_file(path: Path, what: str = "file") -> object:
    return parse_yaml(read_text_file(path, what), str(path))


def _shown(value: object, limit: int = 40) -> str:
    """``repr`` for a message, cut to ``limit`` characters (control characters escaped)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def join(path: str, key: str) -> str:
    """``join("chargers[0]", "phases")`` -> ``"chargers[0].phases"``."""
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    """What a value is, without its content."""
    if value is None:
        return "nothing"
    names = {str: "text", list: "a list", dict: "a mapping", bool: "true or false"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


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
    if isinstance(value, str) and ":" in value and value.replace(":", "").isdigit():
        return f"{value!r} (a base-60 number in YAML 1.1: write it in plain digits)"
    return _shown(value)


_KEY_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")


def unknown_key(file: str, path: str, key: object, known: Collection[str]) -> ConfigError:
    """The error for a key not in ``known``. Only a key that looks like one is repeated: a file
    of another kind (``/etc/shadow`` read as a profile) reads as one long key, never shown."""
    listing = ", ".join(known)
    if isinstance(key, str) and _KEY_LIKE.fullmatch(key):
        return ConfigError(file, join(path, key), f"unknown key (known: {listing})")
    return ConfigError(file, path, f"a key that is none of the known ones ({listing})")


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
            # the whole document may be some other file: say what it is, never quote it
            got = kind_of(value) if path else _type_name(value)
            raise self.fail(path, f"expected a mapping, got {got}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise unknown_key(self.file, path, key, sorted(allowed))
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

    def label(self, value: object, path: str) -> str:
        """A name shown to people (a charger's): text without control or format characters,
        which could move a terminal's cursor or reorder what it shows."""
        text = self.text(value, path)
        if printable(text) != text:
            raise self.fail(path, f"{_shown(text)} holds a control character")
        return text

    def texts(self, value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of text, got {kind_of(value)}")
        return tuple(self.text(item, f"{path}[{i}]") for i, item in enumerate(value))

    def integer(self, value: object, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected a whole number, got {kind_of(value)}")
        if not low <= value <= high:
            raise self.fail(path, f"{_shown(value)} is out of range ({low}..{high})")
        return value

    def number(
        self, value: object, path: str, low: float | None = None, high: float | None = None
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {kind_of(value)}")
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_MAGNITUDE:
            raise self.fail(path, f"expected a finite number of sensible size, got {_shown(value)}")
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
