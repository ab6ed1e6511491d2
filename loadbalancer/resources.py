"""Files shipped with the package: bundled profiles (fuses, chargers, tariffs), example site and
captures, and the one lookup of a profile by bundled name or by path.

They live at the top of the repository (``profiles/``, ``examples/``) and are installed inside
the package as ``loadbalancer.profiles`` and ``loadbalancer.examples`` (see pyproject.toml), so
they are found the same way from a checkout, an editable install and a plain ``pip install .``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from loadbalancer.errors import ConfigError
from loadbalancer.yamlcheck import read_text_file

#: the folders under ``profiles/``, one per kind of profile
ProfileKind = Literal["fuses", "chargers", "tariffs", "ocpp"]
#: how errors name one profile of each kind
PROFILE_NOUNS: dict[ProfileKind, str] = {
    "fuses": "fuse",
    "chargers": "charger",
    "tariffs": "tariff",
    "ocpp": "OCPP charger",
}

#: what a bundled name looks like: a file stem, never a path (``../x`` is a path)
_BUNDLED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def profiles_dir(kind: ProfileKind) -> Traversable:
    """The folder of bundled profiles of one kind."""
    return resources.files("loadbalancer.profiles").joinpath(kind)


def bundled_profile_names(kind: ProfileKind) -> list[str]:
    """Names (file stems) of the bundled profiles of one kind, sorted (none if the kind's folder
    is not there yet)."""
    folder = profiles_dir(kind)
    if not folder.is_dir():
        return []
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".yaml")
    )


def bundled_profile(kind: ProfileKind, name: str) -> Traversable | None:
    """The bundled profile called ``name``, or None."""
    if not _BUNDLED_NAME.fullmatch(name):
        return None
    candidate = profiles_dir(kind).joinpath(f"{name}.yaml")
    return candidate if candidate.is_file() else None


def unknown_profile(kind: ProfileKind, name: str, what: str) -> str:
    """The problem for a profile ``name`` that is neither bundled nor a file: the name as
    written, the nearest bundled names and the bundled list."""
    known = bundled_profile_names(kind)
    shown = repr(name) if len(name) <= 80 else f"{name[:79]!r}…"
    near = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    listing = ", ".join(known)
    return f"{shown} is neither a bundled {what} profile nor a file ({hint}bundled: {listing})"


@dataclass(frozen=True, slots=True)
class ProfileText:
    """A profile's text as found, before it is parsed."""

    text: str
    #: how errors name it: ``NAME.yaml`` for a bundled one, else the path as given
    file: str
    #: the file's stem, the profile's name when the file gives none
    stem: str


def find_profile(kind: ProfileKind, name_or_path: str | Path) -> ProfileText:
    """A profile of ``kind``: the bundled one called ``name_or_path``, else the file at that path
    (anything ending in ``.yaml``/``.yml`` or existing is a path). A reference that is neither is
    a ``ConfigError`` naming it, with the nearest bundled names."""
    ref = str(name_or_path)
    noun = PROFILE_NOUNS[kind]
    bundled = bundled_profile(kind, ref)
    if bundled is not None:
        return ProfileText(bundled.read_text(encoding="utf-8"), f"{ref}.yaml", ref)
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return ProfileText(read_text_file(path, f"{noun} profile"), str(path), path.stem)
    raise ConfigError(ref, "", unknown_profile(kind, ref, noun))


def example_file(relative: str) -> Traversable:
    """A file under ``examples/`` (e.g. ``"site.yaml"``, ``"captures/se_evening.p1"``)."""
    return resources.files("loadbalancer.examples").joinpath(relative)
